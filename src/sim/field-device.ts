/**
 * One simulated field device: polls its inverter on its poll timer, batches 5 samples, compresses
 * with the device's own encoder, keeps up to 20 packets in a ring that overwrites the oldest, and
 * seals each upload — and each control request (`/changes`, commands, OTA) — with the next nonce
 * of one counter (incremented even when the request fails). Time is the device's own `millis()`:
 * the caller decides how fast it runs against the wall clock.
 */
import { DeviceCompressor } from '../protocol/codecs/device-compressor.js';
import { encodeE1 } from '../protocol/codecs/lossless-e1.js';
import { sealV1, type V1Keys } from '../protocol/envelope-v1.js';
import { sealV2 } from '../protocol/envelope-v2.js';
import { BATCH_LAYOUT, BATCH_SAMPLES } from '../protocol/registers.js';
import { buildUploadJson, type DevicePacket, type MethodUsage } from '../protocol/upload-json.js';
import type { SettingsChange } from './device-settings.js';
import { Inverter, type InverterProfile, seededRandom } from './inverter.js';
import { firmwareBufferBytes } from './misbehaviour.js';

export const RING_CAPACITY = 20;
export const FIELD_FIRST_NONCE_BASE = 10000;
/** millis() right after boot, when the loop starts (the firmware connects Wi-Fi first). */
const BOOT_MILLIS = 10_000;

/** A protocol v2 device (§11): its own key, v2 envelopes, the lossless 0xE1 codec. */
export interface V2Identity {
  kid: string;
  key: Uint8Array;
}

export interface FieldDeviceOptions {
  id: string;
  keys: V1Keys;
  v2?: V2Identity;
  encrypt: boolean;
  pollIntervalMs: number;
  uploadIntervalMs: number;
  profile: InverterProfile;
  /** Wall-clock start of the simulated day (ms). */
  startTime: number;
  /** Last nonce used (the device's NVS value); the first upload carries this + 1. */
  nonce?: number;
  /**
   * How fast the device's crystal runs against real time (1.01 = 1 % fast): its millis() and
   * its poll timer drift, so the server's derived sample times drift with them.
   */
  clockRate?: number;
  /** Emulate the field build's 2048-byte serialisation buffer (PROTOCOL.md §1.4). */
  firmwareBuffer?: boolean;
  /** The version it runs: shown in summaries, reported to OTA checks. */
  firmwareVersion?: string;
}

export interface PreparedUpload {
  deviceId: string;
  nonce: number;
  body: string;
  packets: DevicePacket[];
  /** Raw values as polled (sample-major, each packet's `registerLayout` wide), for checks. */
  values: number[][];
  /** The 2048-byte buffer defect garbled this upload (only with `firmwareBuffer`). */
  truncated?: boolean;
}

/** A control request sealed like an upload; `v2` is the identity that sealed it. */
export interface SealedRequest {
  body: string;
  nonce: number;
  v2?: V2Identity;
}

/** Settings the device runs with after a change took effect. */
export type AppliedSetting = 'sampling_interval' | 'upload_interval' | 'registers';

interface Pending {
  packet: DevicePacket;
  values: number[];
}

export class FieldDevice {
  readonly id: string;
  private nonce: number;
  private millis = BOOT_MILLIS;
  private pollMs: number;
  private uploadMs: number;
  private nextPollAt: number;
  /** Real time at `clockMark` (device millis): the two advance at the crystal's rate. */
  private clock: number;
  private clockMark = BOOT_MILLIS;
  private compressor = new DeviceCompressor();
  readonly inverter: Inverter;
  /** RegIDs read each poll. The field build always batches its fixed layout (§3.2). */
  private layout: readonly number[] = BATCH_LAYOUT;
  private sample: number[] = [];
  private ring: Pending[] = [];
  private inFlight: Pending[] = [];
  private readonly usage: MethodUsage = { dictionary: 0, temporal: 0, semantic: 0, bitpack: 0 };
  /** What NVS holds but the timers do not run yet: the firmware re-arms them after an upload. */
  private pendingSettings: SettingsChange = {};
  private identity: V2Identity | undefined;
  private version: string | undefined;
  /** Packets overwritten in the ring, or lost in RAM at a reboot, before they were uploaded. */
  lostPackets = 0;
  /** Stands in for the stack bytes the firmware sends after a truncated document. */
  private readonly junk: () => number;

  constructor(private readonly opts: FieldDeviceOptions) {
    this.id = opts.id;
    this.identity = opts.v2;
    this.nonce = opts.nonce ?? (opts.v2 ? 0 : FIELD_FIRST_NONCE_BASE);
    this.pollMs = opts.pollIntervalMs;
    this.uploadMs = opts.uploadIntervalMs;
    this.nextPollAt = this.millis + this.pollMs;
    this.clock = opts.startTime;
    this.inverter = new Inverter(opts.profile);
    this.version = opts.firmwareVersion;
    this.junk = seededRandom(opts.profile.seed ^ 0x5eed_0bad);
  }

  get firmwareVersion(): string | undefined {
    return this.version;
  }

  /** The device's v2 key (it changes when the server rotates it); undefined for field devices. */
  get v2(): V2Identity | undefined {
    return this.identity;
  }

  get uploadIntervalMs(): number {
    return this.uploadMs;
  }

  get pollIntervalMs(): number {
    return this.pollMs;
  }

  get registers(): readonly number[] {
    return this.layout;
  }

  get lastNonce(): number {
    return this.nonce;
  }

  get pendingPackets(): number {
    return this.ring.length;
  }

  /** The NVS was erased: the counter starts again where a new device's does (§2.2). */
  wipeCounter(): void {
    this.nonce = this.opts.v2 ? 0 : FIELD_FIRST_NONCE_BASE;
  }

  /**
   * Power cycle: RAM is gone (ring, the batch being filled, the compressor's learned state) and
   * millis() starts again; the nonce and the settings live in NVS and survive, and whatever NVS
   * held but the timers did not run yet is what they boot with.
   */
  reboot(): AppliedSetting[] {
    this.lostPackets += this.ring.length + this.inFlight.length;
    this.ring = [];
    this.inFlight = [];
    this.sample = [];
    this.millis = BOOT_MILLIS;
    this.clockMark = BOOT_MILLIS;
    this.compressor = new DeviceCompressor();
    const applied = this.applyPendingSettings();
    this.nextPollAt = this.millis + this.pollMs;
    return applied;
  }

  /** A verified image was committed: the device boots into it. */
  installFirmware(version: string): AppliedSetting[] {
    this.version = version;
    return this.reboot();
  }

  /** The key the server delivered in a `/changes` answer: used from the next request on. */
  rotateKey(next: V2Identity): void {
    if (!this.identity) throw new Error(`${this.id} is not a v2 device`);
    this.identity = next;
  }

  /**
   * A settings change from a `/changes` answer, written to NVS. The field firmware applies new
   * timers only after its next upload (§1.2); a v1 device stores a register selection but keeps
   * batching its fixed layout (§5.3), while a v2 device reads what it was told (0xE1 names them).
   */
  storeSettings(change: SettingsChange): void {
    this.pendingSettings = { ...this.pendingSettings, ...change };
  }

  /** Re-arms the timers with what NVS holds (called after every upload tick). */
  applyPendingSettings(): AppliedSetting[] {
    const p = this.pendingSettings;
    this.pendingSettings = {};
    const applied: AppliedSetting[] = [];
    // Re-arming a timer with the value it has changes nothing; the batch in progress goes on.
    if (p.pollMs !== undefined && p.pollMs !== this.pollMs) {
      this.pollMs = p.pollMs;
      this.nextPollAt = this.millis + this.pollMs;
      applied.push('sampling_interval');
    }
    if (p.uploadMs !== undefined && p.uploadMs !== this.uploadMs) {
      this.uploadMs = p.uploadMs;
      applied.push('upload_interval');
    }
    const regs = p.registers;
    if (this.identity && regs && !sameList(regs, this.layout)) {
      this.layout = [...regs];
      // Samples of the old selection cannot share a packet with the new one.
      this.sample = [];
      applied.push('registers');
    }
    return applied;
  }

  /** Runs the device's polls up to `ms` of its own time later (one upload interval by default). */
  advance(ms = this.uploadMs): void {
    const end = this.millis + ms;
    while (this.nextPollAt <= end) {
      this.poll(this.nextPollAt);
      this.nextPollAt += this.pollMs;
    }
    this.tick(end);
  }

  /** Moves millis() and the real time the crystal measures to `at`. */
  private tick(at: number): void {
    this.clock += (at - this.clockMark) / (this.opts.clockRate ?? 1);
    this.clockMark = at;
    this.millis = at;
  }

  private poll(at: number): void {
    this.tick(at);
    const regs = this.inverter.read(this.clock);
    for (const id of this.layout) this.sample.push(regs[id]);
    if (this.sample.length < this.layout.length * BATCH_SAMPLES) return;
    const values = this.sample;
    this.sample = [];
    const started = performance.now();
    const { bytes, label } = this.identity
      ? { bytes: encodeE1(splitSamples(values, this.layout.length), this.layout), label: 'LOSSLESS_E1' }
      : this.compressor.compressBatch(values);
    const compressionTimeUs = Math.max(1, Math.round((performance.now() - started) * 1000));
    const key = label.slice('BATCH_'.length).toLowerCase() as keyof MethodUsage;
    if (key in this.usage) this.usage[key]++;
    const packet = { bytes, label, timestamp: this.millis, compressionTimeUs, registerLayout: this.layout };
    if (this.ring.length === RING_CAPACITY) {
      this.ring.shift();
      this.lostPackets++;
    }
    this.ring.push({ packet, values });
  }

  /** The next nonce: the field counter is a u32 that wraps; a v2 counter just increases. */
  private nextNonce(): number {
    this.nonce = this.identity ? this.nonce + 1 : (this.nonce + 1) >>> 0;
    return this.nonce;
  }

  private seal(plaintext: Uint8Array, nonce: number): string {
    const v2 = this.identity;
    return v2
      ? sealV2(plaintext, { deviceId: this.id, kid: v2.kid, key: v2.key, nonce, encrypt: this.opts.encrypt })
      : sealV1(plaintext, { nonce, keys: this.opts.keys, encrypt: this.opts.encrypt });
  }

  /** Drains the ring into one sealed upload (or undefined when there is nothing to send). */
  prepareUpload(): PreparedUpload | undefined {
    if (this.ring.length === 0) return undefined;
    const drained = this.ring;
    this.ring = [];
    this.inFlight = drained;
    const nonce = this.nextNonce();
    const json = buildUploadJson({
      deviceId: this.id,
      timestamp: this.millis,
      packets: drained.map((d) => d.packet),
      usage: this.usage,
    });
    const { bytes: plaintext, truncated } =
      this.opts.firmwareBuffer && !this.identity
        ? firmwareBufferBytes(json, this.junk)
        : { bytes: Buffer.from(json), truncated: false };
    return {
      deviceId: this.id,
      nonce,
      body: this.seal(plaintext, nonce),
      packets: drained.map((d) => d.packet),
      values: drained.map((d) => d.values),
      ...(truncated ? { truncated } : {}),
    };
  }

  /** A control request's JSON document sealed with the next nonce of the upload sequence. */
  sealRequest(doc: Record<string, unknown>): SealedRequest {
    const nonce = this.nextNonce();
    const body = this.seal(Buffer.from(JSON.stringify({ device_id: this.id, ...doc })), nonce);
    return { body, nonce, ...(this.identity ? { v2: this.identity } : {}) };
  }

  /** millis() now: what the firmware puts in its `/changes` request. */
  get uptimeMs(): number {
    return this.millis;
  }

  /** Like the firmware: on any failure every drained packet goes back into the ring. */
  uploadFinished(ok: boolean): void {
    if (!ok) {
      const back = [...this.inFlight, ...this.ring];
      this.lostPackets += Math.max(0, back.length - RING_CAPACITY);
      this.ring = back.slice(-RING_CAPACITY);
    }
    this.inFlight = [];
  }
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function splitSamples(values: readonly number[], width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += width) out.push(values.slice(i, i + width));
  return out;
}
