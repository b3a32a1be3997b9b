/**
 * What a fleet device does besides uploading, as firmware that implements the whole protocol:
 * asks `/changes` and takes what it is told (timers after its next upload, a register selection
 * where its generation can read one, a rotated v2 key at once), polls for commands and runs them
 * against its inverter, and checks for firmware, installing only an image it verified. The
 * counters it keeps are the simulation summary's `control` part.
 */
import type { ResultStatus } from '../ports/command-store.js';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';
import type { AnswerTally } from './answers.js';
import type { ControlKind, ControlLink } from './control-link.js';
import { readCommandPoll, runCommand } from './device-commands.js';
import { readChangesAnswer } from './device-settings.js';
import type { AppliedSetting, FieldDevice } from './field-device.js';
import type { FirmwareFault } from './misbehaviour.js';
import { attemptUpdate, type OtaFault, type OtaResult, OtaServerError } from './ota-update.js';
import { openKeyOffer } from './v2-answers.js';

export interface ControlSummary {
  /** Control requests by kind, with their answers (uploads are counted elsewhere). */
  requests: Partial<Record<ControlKind, AnswerTally>>;
  config: {
    /** `/changes` answers with `Changed: true`. */
    changesReceived: number;
    /** Settings a device started running (one per key and change). */
    applied: number;
    /** v2 keys rotated through a `/changes` answer. */
    keyRotations: number;
  };
  /** Commands run, by the outcome reported. */
  commands: Record<ResultStatus, number>;
  firmware: {
    /** Images verified, installed and booted. */
    updated: number;
    /** Images refused (chunk MAC, signature, …): nothing committed. */
    refused: number;
    /** Attempts cut short (a refused or lost request); the next check starts again. */
    errors: number;
  };
}

export function emptyControlSummary(): ControlSummary {
  return {
    requests: {},
    config: { changesReceived: 0, applied: 0, keyRotations: 0 },
    commands: { succeeded: 0, failed: 0 },
    firmware: { updated: 0, refused: 0, errors: 0 },
  };
}

/** The fault as it happens to the update, on the wire. */
const FAULTS: Record<FirmwareFault, OtaFault> = {
  badchunk: { kind: 'corrupt-chunk', chunk: 0 },
  badsignature: { kind: 'bad-signature' },
};

/** Which refusal each fault must cause (the stage and reason `FirmwareReceiver` reports). */
const REFUSAL: Record<FirmwareFault, string> = {
  badchunk: 'hmac_mismatch',
  badsignature: 'signature_invalid',
};

export interface DeviceControlOptions {
  summary: ControlSummary;
  /** The keys its build compiles in; without them the device does not update. */
  firmwareKeys?: DeviceFirmwareKeys;
  fault?: FirmwareFault;
  /** An outcome that is not what a correct server and device produce. */
  unexpected: (what: string) => void;
  /** The run is over: an attempt cut short by it is not an error. */
  stopped: () => boolean;
}

export class DeviceControl {
  constructor(
    private readonly device: FieldDevice,
    private readonly link: ControlLink,
    private readonly opts: DeviceControlOptions,
  ) {}

  private get summary(): ControlSummary {
    return this.opts.summary;
  }

  private count(applied: readonly AppliedSetting[]): void {
    this.summary.config.applied += applied.length;
  }

  /** After an upload tick the firmware re-arms its timers with what NVS holds (§1.2). */
  applySettings(): void {
    this.count(this.device.applyPendingSettings());
  }

  /** `POST /changes`: store what changed; take a rotated key at once. */
  async pollChanges(): Promise<void> {
    const a = await this.link.send('changes', '/changes', { timestamp: this.device.uptimeMs });
    if (!a.ok) return;
    const reading = readChangesAnswer(a.json);
    if (reading.changed) {
      this.summary.config.changesReceived++;
      this.device.storeSettings(reading.settings);
    }
    const offer = (a.json as { new_key?: unknown } | undefined)?.new_key;
    if (offer === undefined || !a.sealedWith) return;
    const next = openKeyOffer(offer, a.sealedWith);
    if (!next) {
      this.opts.unexpected(
        `${this.device.id}: /changes offered a key that does not open under ${a.sealedWith.kid}`,
      );
    } else if (next.kid !== a.sealedWith.kid) {
      this.device.rotateKey(next);
      this.summary.config.keyRotations++;
    }
  }

  /** `POST /commands/<id>/poll`, then each command run and its result reported. */
  async pollCommands(): Promise<void> {
    const path = `/commands/${encodeURIComponent(this.device.id)}`;
    const a = await this.link.send('commands', `${path}/poll`, { timestamp: this.device.uptimeMs });
    if (!a.ok) return;
    for (const command of readCommandPoll(a.json)) {
      const report = runCommand(command, this.device.inverter);
      this.summary.commands[report.status]++;
      // A result that does not arrive is no loss: the lease lapses and the command comes again.
      await this.link.send('commands', `${path}/result`, { ...report });
    }
  }

  /** One OTA tick with the field endpoints, sealed like everything else the device sends. */
  async checkFirmware(): Promise<OtaResult | undefined> {
    const keys = this.opts.firmwareKeys;
    const running = this.device.firmwareVersion;
    if (!keys || running === undefined) return undefined;
    const fault = this.opts.fault;
    const result = await attemptUpdate({
      deviceId: this.device.id,
      running,
      client: 'field',
      keys,
      ...(fault ? { fault: FAULTS[fault] } : {}),
      exchange: async (method, path, doc) => {
        if (this.opts.stopped()) throw new Error('the simulation is over');
        if (method !== 'POST') throw new Error(`${method} ${path}: a field device only POSTs`);
        const a = await this.link.send('firmware', path, doc ?? {});
        if (!a.ok) throw new OtaServerError(a.status, a.json ?? a.text);
        return a.json;
      },
      // Booting the new image is a reboot: RAM is lost, NVS (nonce, settings) is kept.
      commit: (version) => this.count(this.device.installFirmware(version)),
    });
    this.judge(result);
    return result;
  }

  private judge(result: OtaResult): void {
    const f = this.summary.firmware;
    const fault = this.opts.fault;
    const id = this.device.id;
    if (result.kind === 'updated') {
      f.updated++;
      if (fault) this.opts.unexpected(`${id}: installed ${result.to} although its download had a ${fault}`);
    } else if (result.kind === 'failed') {
      f.refused++;
      if (!fault || result.failure.reason !== REFUSAL[fault]) {
        this.opts.unexpected(`${id}: refused ${result.version}: ${result.detail}`);
      }
    } else if (result.kind === 'error' && !this.opts.stopped()) {
      // The request that failed was already counted (and judged) as a control request.
      f.errors++;
    }
  }
}
