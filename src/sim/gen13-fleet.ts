/**
 * Runs simulated generation 1.3 devices (gen13-device.ts) against a server over real HTTP, as the
 * 1.3 firmware behaves (PROTOCOL-1.3.md): the boot sequence (`GET /ota/status`, `POST /devices`,
 * `POST /config/<id>/current`), uploads to `POST /aggregated/<id>` with one retry, and on their
 * own timers `GET /config/<id>` (+ `/acknowledge`), `GET /commands/<id>/poll` (+ `/result`), the
 * firmware check and update of §8, `POST /power/energy/<id>` and `POST /fault/recovery`. Every
 * control request is bare, as the firmware sends it: the server accepts those only from the
 * address of the device's latest authenticated upload, so the timers start after the first upload
 * the server accepted (as the e84f720 devices' do), and a first boot's registration and
 * `/config/<id>/current` wait for it too (the boot probe, which needs no device, goes first).
 *
 * One device is one loop making one request at a time. Its timers are its own settings (device
 * seconds, changed by the server), run at the simulation's speed: `timeScale` wall ms per ms.
 */
import { setMaxListeners } from 'node:events';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';
import { outcomeOf, TRANSPORT_ERROR } from './answers.js';
import type { ControlKind } from './control-link.js';
import type { ControlSummary } from './device-control.js';
import { applyCommand13, commandResult13, planCommand13, readCommandPoll13 } from './gen13-commands.js';
import type { Config13Key, Nvs13 } from './gen13-config.js';
import { type FaultEvent13, type FaultType13, Gen13Device, type Timers13 } from './gen13-device.js';
import type { Packet13 } from './gen13-uploader.js';
import type { InverterProfile } from './inverter.js';
import type { FirmwareFault } from './misbehaviour.js';
import { attemptUpdate, type OtaFault, type OtaResult, OtaServerError } from './ota-update.js';
import { sleep } from './sleep.js';
import type { Requester } from './transport.js';

/** Control requests of 1.3 devices, by kind (`commands` and `firmware` as the e84f720 devices'). */
export const GEN13_KINDS = [
  'boot',
  'registration',
  'config',
  'config_ack',
  'config_current',
  'commands',
  'firmware',
  'energy',
  'fault',
] as const satisfies readonly ControlKind[];
export type Gen13Kind = (typeof GEN13_KINDS)[number];

/** What each kind must be answered, as the firmware counts success. */
const EXPECTED: Record<Gen13Kind, (status: number) => boolean> = {
  // Anything but 200 fails the diagnostics (OTAManager.cpp:885-915).
  boot: (s) => s === 200,
  // 201, 200 and 409 all mean registered (main.cpp:57-130).
  registration: (s) => s === 200 || s === 201 || s === 409,
  config: (s) => s === 200,
  config_ack: (s) => s >= 200 && s < 300,
  config_current: (s) => s >= 200 && s < 300,
  commands: (s) => s >= 200 && s < 300,
  firmware: (s) => s >= 200 && s < 300,
  energy: (s) => s === 200 || s === 201,
  fault: (s) => s === 200 || s === 201,
};

/** What 1.3 devices did, beyond the counts every generation shares. */
export interface Gen13Summary {
  devices: number;
  /** Upload cycles that sent a document (each one or two POSTs). */
  uploadCycles: number;
  /** Second attempts (the retry after 300 ms with the next nonce). */
  retries: number;
  /** Cycles whose both attempts failed: the packets went back into the ring. */
  failedCycles: number;
  /** Cycles whose document was 4095 bytes or more: no request (a firmware limit, §3). */
  oversizedCycles: number;
  /** Samples lost on the device (discarded while a change was pending, skipped after a fault). */
  discardedSamples: number;
  /** Boots into an installed image. */
  reboots: number;
  energyReports: number;
  faultReports: number;
}

export function emptyGen13Summary(devices: number): Gen13Summary {
  return {
    devices,
    uploadCycles: 0,
    retries: 0,
    failedCycles: 0,
    oversizedCycles: 0,
    discardedSamples: 0,
    reboots: 0,
    energyReports: 0,
    faultReports: 0,
  };
}

/** An upload the server acknowledged, with what the device read and sent. */
export interface Acknowledged13 {
  deviceId: string;
  nonce: number;
  uploadId: string;
  packets: Packet13[];
}

export interface Gen13DeviceSpec {
  id: string;
  profile: InverterProfile;
  /** Start of the inverter's simulated day (ms). */
  dayStart: number;
  requester: Requester;
  fault?: FirmwareFault;
  random: () => number;
}

export interface Gen13FleetOptions {
  devices: Gen13DeviceSpec[];
  psk: Uint8Array;
  /** Wall ms per ms of device time. */
  timeScale: number;
  nvs?: Nvs13;
  faults?: Partial<Record<FaultType13, number>>;
  firmwareKeys?: DeviceFirmwareKeys;
  uploadsPerDevice?: number;
  deadline: number;
  signal?: AbortSignal;
  stopped: () => boolean;
  /** Every upload answer: outcome `"200"`, `"<status> <code>"` or `"transport_error"`. */
  onUpload: (deviceId: string, nonce: number, outcome: string, latencyMs: number) => void;
  /** Every control answer, judged. */
  onControl: (deviceId: string, kind: Gen13Kind, what: string, outcome: string, expected: boolean) => void;
  onAcknowledged?: (a: Acknowledged13) => void;
  /** The shared counters of configuration, commands and firmware (summary.control). */
  control: ControlSummary;
  gen13: Gen13Summary;
  unexpected: (what: string) => void;
}

/** The fault as it happens to the download (one byte flipped on the wire). */
const FAULTS: Record<FirmwareFault, OtaFault> = {
  badchunk: { kind: 'corrupt-chunk', chunk: 0 },
  badsignature: { kind: 'bad-signature' },
};

/**
 * How the device must refuse it. A 1.3 device checks no chunk MAC: a flipped chunk byte garbles
 * what it decrypts, which the image checks catch before anything is committed.
 */
const REFUSALS: Record<FirmwareFault, readonly string[]> = {
  badchunk: ['sha256_mismatch', 'image_magic', 'bad_padding', 'length_mismatch'],
  badsignature: ['signature_invalid'],
};

/** The timer a configuration key sets (the poll timer is the device's own). */
const TIMER_OF: Partial<Record<Config13Key, Exclude<keyof Timers13, 'poll'>>> = {
  upload_interval: 'upload',
  config_poll_interval: 'config',
  command_poll_interval: 'commands',
  firmware_check_interval: 'firmware',
  energy_poll_interval: 'energy',
};

interface Answer {
  status: number;
  text: string;
  json: unknown;
}

/** One 1.3 device's loop: boot, then its timers until the run ends. */
class DeviceRun13 {
  readonly device: Gen13Device;
  /** The server accepted an upload: it knows the device and its address. */
  private known = false;
  /** The boot's registration and `/config/<id>/current` wait for an accepted upload. */
  private bootReports = false;
  private wallStart = 0;
  private uploads = 0;

  constructor(
    private readonly spec: Gen13DeviceSpec,
    private readonly opts: Gen13FleetOptions,
  ) {
    this.device = new Gen13Device({
      id: spec.id,
      psk: opts.psk,
      profile: spec.profile,
      dayStart: spec.dayStart,
      unixStart: Date.now(),
      ...(opts.nvs ? { nvs: { ...opts.nvs } } : {}),
      ...(opts.faults ? { faults: opts.faults } : {}),
      random: spec.random,
      post: (body, nonce) => this.postUpload(body, nonce),
      sleep: (ms) => sleep(ms * opts.timeScale, opts.signal),
    });
  }

  private get id(): string {
    return this.device.id;
  }

  /** Device time now, from the wall clock. */
  private deviceNow(): number {
    return (Date.now() - this.wallStart) / this.opts.timeScale;
  }

  private async postUpload(body: string, nonce: number) {
    const t0 = performance.now();
    try {
      const res = await this.spec.requester({
        method: 'POST',
        path: `/aggregated/${encodeURIComponent(this.id)}`,
        body,
      });
      const outcome = outcomeOf(res.status, res.text);
      this.opts.onUpload(this.id, nonce, outcome, performance.now() - t0);
      if (res.status === 200) this.known = true;
      return { status: res.status, text: res.text };
    } catch (err) {
      this.opts.onUpload(this.id, nonce, TRANSPORT_ERROR, performance.now() - t0);
      throw err;
    }
  }

  /** One bare control request, counted and judged by its kind. */
  private async call(kind: Gen13Kind, method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
    const what = `${method} ${path.split('?')[0]}`;
    let status = 0;
    let text = '';
    try {
      ({ status, text } = await this.spec.requester({
        method,
        path,
        ...(body !== undefined ? { body } : {}),
      }));
    } catch {
      this.opts.onControl(this.id, kind, what, TRANSPORT_ERROR, false);
      return { status, text, json: undefined };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    this.opts.onControl(this.id, kind, what, outcomeOf(status, text), EXPECTED[kind](status));
    return { status, text, json };
  }

  private get path(): string {
    return encodeURIComponent(this.id);
  }

  /**
   * Boot: the probe, then registration and the running config. The server takes those bare
   * requests only from the address of the device's latest authenticated upload, so until it has
   * accepted one (a first boot) they wait for it.
   */
  private async boot(probe = true): Promise<void> {
    if (probe) {
      const status = await this.call('boot', 'GET', '/ota/status');
      // Diagnostics failed: no registration, no report (main.cpp:191-214).
      if (status.status !== 200) return;
    }
    this.bootReports = true;
    await this.sendBootReports();
  }

  private async sendBootReports(): Promise<void> {
    if (!this.bootReports || !this.known) return;
    this.bootReports = false;
    await this.call('registration', 'POST', '/devices', JSON.stringify(this.device.registration()));
    await this.call(
      'config_current',
      'POST',
      `/config/${this.path}/current`,
      JSON.stringify(this.device.currentConfig()),
    );
  }

  private async uploadTick(): Promise<Config13Key[]> {
    const cycle = await this.device.uploadTick();
    const g = this.opts.gen13;
    let ok = cycle.kind === 'empty';
    if (cycle.kind === 'too_large') g.oversizedCycles++;
    if (cycle.kind === 'sent') {
      this.uploads++;
      g.uploadCycles++;
      g.retries += cycle.attempts.length - 1;
      ok = cycle.ok;
      if (!ok) g.failedCycles++;
      const last = cycle.attempts[cycle.attempts.length - 1];
      if (ok && this.opts.onAcknowledged) {
        const answer = JSON.parse(last.text) as { upload_id?: unknown };
        this.opts.onAcknowledged({
          deviceId: this.id,
          nonce: last.nonce,
          uploadId: String(answer.upload_id),
          packets: cycle.packets,
        });
      }
    }
    // A change the server made takes effect after an upload went through (§6).
    const applied = this.device.afterUpload(ok);
    this.opts.control.config.applied += applied.length;
    if (ok) await this.sendBootReports();
    return applied;
  }

  /** Timers whose period an upload just changed start again from now with it. */
  private rearm(applied: readonly Config13Key[]): void {
    const t = this.device.timers;
    const now = this.device.now;
    for (const key of applied) {
      const timer = TIMER_OF[key];
      if (timer) this.next[timer] = now + t[timer];
    }
  }

  private async pollConfig(): Promise<void> {
    const a = await this.call('config', 'GET', `/config/${this.path}`);
    // A 404 or 500 with a JSON body is read like any other (§6); no answer at all is code -1.
    const reaction = this.device.takeConfig(a.status > 0 ? a.status : -1, a.text);
    if (!reaction.changed || !reaction.ack) return;
    this.opts.control.config.changesReceived++;
    await this.call('config_ack', 'POST', `/config/${this.path}/acknowledge`, JSON.stringify(reaction.ack));
  }

  private async pollCommands(): Promise<void> {
    const a = await this.call('commands', 'GET', `/commands/${this.path}/poll`);
    const command = readCommandPoll13(a.status, a.text);
    if (!command) return;
    const ok = applyCommand13(planCommand13(command), this.device.inverter);
    this.opts.control.commands[ok ? 'succeeded' : 'failed']++;
    const result = commandResult13(command.id, ok, this.device.unixMs);
    await this.call('commands', 'POST', `/commands/${this.path}/result`, JSON.stringify(result));
  }

  private async checkFirmware(): Promise<void> {
    const keys = this.opts.firmwareKeys;
    if (!keys) return;
    let rebooted = false;
    const result = await attemptUpdate({
      deviceId: this.id,
      running: this.device.version,
      client: 'later',
      keys,
      ...(this.spec.fault ? { fault: FAULTS[this.spec.fault] } : {}),
      exchange: async (method, path, doc) => {
        if (this.opts.stopped()) throw new Error('the simulation is over');
        const a = await this.call(
          path === '/ota/status' ? 'boot' : 'firmware',
          method,
          path,
          doc === undefined ? undefined : JSON.stringify(doc),
        );
        if (a.status < 200 || a.status >= 300) throw new OtaServerError(a.status, a.json ?? a.text);
        return a.json;
      },
      // Booting the image is a reboot: RAM lost, NVS kept; the boot probe and the completion
      // report follow in the update procedure, the rest of the boot sequence below.
      commit: (version) => {
        this.opts.control.config.applied += this.device.reboot(version).length;
        this.opts.gen13.reboots++;
        rebooted = true;
      },
    });
    this.judge(result);
    if (rebooted) {
      await this.boot(false);
      this.arm();
    }
  }

  private judge(result: OtaResult): void {
    const f = this.opts.control.firmware;
    const fault = this.spec.fault;
    if (result.kind === 'updated') {
      f.updated++;
      if (fault)
        this.opts.unexpected(`${this.id}: installed ${result.to} although its download had a ${fault}`);
    } else if (result.kind === 'failed') {
      f.refused++;
      if (!fault || !REFUSALS[fault].includes(result.failure.reason)) {
        this.opts.unexpected(`${this.id}: refused ${result.version}: ${result.detail}`);
      }
    } else if (result.kind === 'error' && !this.opts.stopped()) {
      f.errors++;
    }
  }

  private async energy(): Promise<void> {
    const a = await this.call('energy', 'POST', `/power/energy/${this.path}`, this.device.energyReport());
    if (EXPECTED.energy(a.status)) this.opts.gen13.energyReports++;
  }

  private async reportFault(event: FaultEvent13): Promise<void> {
    const a = await this.call('fault', 'POST', '/fault/recovery', JSON.stringify(event));
    if (EXPECTED.fault(a.status)) this.opts.gen13.faultReports++;
  }

  /** Next due time (device ms) of each timer. */
  private next = { upload: 0, config: 0, commands: 0, firmware: 0, energy: 0 };

  /** The tasks start (at boot): each first fires one period later. */
  private arm(): void {
    const t = this.device.timers;
    const now = this.device.now;
    this.next = {
      upload: now + t.upload,
      config: now + t.config,
      commands: now + t.commands,
      firmware: now + t.firmware,
      energy: now + t.energy,
    };
  }

  async run(index: number): Promise<void> {
    const { opts } = this;
    // Spread the boots over one upload interval so devices do not all fire at once.
    await sleep(((index % 97) / 97) * this.device.timers.upload * opts.timeScale, opts.signal);
    this.wallStart = Date.now();
    this.device.setClock(this.wallStart);
    if (opts.stopped()) return;
    await this.boot();
    this.arm();
    const order = ['upload', 'config', 'commands', 'firmware', 'energy'] as const;
    while (!opts.stopped()) {
      if (opts.uploadsPerDevice !== undefined && this.uploads >= opts.uploadsPerDevice) break;
      const now = this.deviceNow();
      const faults = this.device.advanceTo(now);
      // Fault reports go out as the recovery finishes; a device the server does not know yet
      // would only be refused.
      for (const f of faults) if (this.known && !opts.stopped()) await this.reportFault(f);
      const due = order.find((k) => this.next[k] <= now && (k === 'upload' || this.known));
      if (due) {
        const at = this.next[due];
        if (due === 'upload') {
          const applied = await this.uploadTick();
          this.rearm(applied);
        } else if (due === 'config') await this.pollConfig();
        else if (due === 'commands') await this.pollCommands();
        else if (due === 'firmware') await this.checkFirmware();
        else await this.energy();
        // The timer's next period (re-read: an upload may have started new settings); a device
        // that fell behind does not fire a burst to catch up.
        if (this.next[due] === at) this.next[due] = Math.max(at + this.device.timers[due], this.deviceNow());
        continue;
      }
      const wake = Math.min(
        this.next.upload,
        ...(this.known ? [this.next.config, this.next.commands, this.next.firmware, this.next.energy] : []),
        this.device.now + this.device.timers.poll,
      );
      const wallWake = Math.min(this.wallStart + wake * opts.timeScale, opts.deadline);
      await sleep(wallWake - Date.now(), opts.signal);
    }
  }
}

export class Gen13Fleet {
  private readonly runs: DeviceRun13[];

  constructor(private readonly opts: Gen13FleetOptions) {
    if (opts.signal) setMaxListeners(opts.devices.length + 10, opts.signal);
    this.runs = opts.devices.map((spec) => new DeviceRun13(spec, opts));
  }

  get devices(): Gen13Device[] {
    return this.runs.map((r) => r.device);
  }

  async run(): Promise<void> {
    await Promise.all(this.runs.map((r, i) => r.run(i)));
  }

  /** Packets lost on the devices (ring overflow, reboots). */
  lostPackets(): number {
    return this.devices.reduce((n, d) => n + d.uploader.lostPackets, 0);
  }

  /** Refreshes the counters kept on the devices. */
  snapshot(): void {
    this.opts.gen13.discardedSamples = this.devices.reduce((n, d) => n + d.discardedSamples, 0);
  }
}
