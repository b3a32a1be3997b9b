/**
 * One simulated e84f720 field device: polls its inverter, batches 5 samples of the fixed layout,
 * compresses with the device's own encoder, keeps up to 20 packets in a ring that overwrites the
 * oldest, and seals each upload with the next nonce (incremented even when the upload fails).
 */
import { DeviceCompressor } from '../protocol/codecs/device-compressor.js';
import { encodeE1 } from '../protocol/codecs/lossless-e1.js';
import { sealV1, type V1Keys } from '../protocol/envelope-v1.js';
import { sealV2 } from '../protocol/envelope-v2.js';
import { BATCH_LAYOUT, BATCH_SAMPLES } from '../protocol/registers.js';
import { buildUploadJson, type DevicePacket, type MethodUsage } from '../protocol/upload-json.js';
import { Inverter, type InverterProfile, seededRandom } from './inverter.js';
import { firmwareBufferBytes } from './misbehaviour.js';

export const RING_CAPACITY = 20;
export const FIELD_FIRST_NONCE_BASE = 10000;

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
  /** Label only (summaries, OTA checks). */
  firmwareVersion?: string;
}

export interface PreparedUpload {
  deviceId: string;
  nonce: number;
  body: string;
  packets: DevicePacket[];
  /** Raw values (30 per packet, sample-major) as polled, for checking what the server stored. */
  values: number[][];
  /** The 2048-byte buffer defect garbled this upload (only with `firmwareBuffer`). */
  truncated?: boolean;
}

export class FieldDevice {
  readonly id: string;
  private nonce: number;
  private millis = 10_000;
  private clock: number;
  private compressor = new DeviceCompressor();
  private readonly inverter: Inverter;
  private sample: number[] = [];
  private ring: { packet: DevicePacket; values: number[] }[] = [];
  private readonly usage: MethodUsage = { dictionary: 0, temporal: 0, semantic: 0, bitpack: 0 };
  /** Packets overwritten in the ring before they could be uploaded. */
  lostPackets = 0;
  readonly firmwareVersion: string | undefined;
  /** Stands in for the stack bytes the firmware sends after a truncated document. */
  private readonly junk: () => number;

  constructor(private readonly opts: FieldDeviceOptions) {
    this.id = opts.id;
    this.nonce = opts.nonce ?? (opts.v2 ? 0 : FIELD_FIRST_NONCE_BASE);
    this.clock = opts.startTime;
    this.inverter = new Inverter(opts.profile);
    this.firmwareVersion = opts.firmwareVersion;
    this.junk = seededRandom(opts.profile.seed ^ 0x5eed_0bad);
  }

  /** The NVS was erased: the counter starts again where a new device's does (§2.2). */
  wipeCounter(): void {
    this.nonce = this.opts.v2 ? 0 : FIELD_FIRST_NONCE_BASE;
  }

  /**
   * Power cycle: RAM is gone (ring, the batch being filled, the compressor's learned state) and
   * millis() starts again; the nonce lives in NVS and survives.
   */
  reboot(): void {
    this.lostPackets += this.ring.length + this.inFlight.length;
    this.ring = [];
    this.inFlight = [];
    this.sample = [];
    this.millis = 10_000;
    this.compressor = new DeviceCompressor();
  }

  get lastNonce(): number {
    return this.nonce;
  }

  /** Runs the polls that fall into one upload interval. */
  advance(ms = this.opts.uploadIntervalMs): void {
    const polls = Math.max(1, Math.round(ms / this.opts.pollIntervalMs));
    for (let i = 0; i < polls; i++) this.poll();
  }

  private poll(): void {
    this.millis += this.opts.pollIntervalMs;
    this.clock += this.opts.pollIntervalMs / (this.opts.clockRate ?? 1);
    const regs = this.inverter.read(this.clock);
    for (const id of BATCH_LAYOUT) this.sample.push(regs[id]);
    if (this.sample.length < BATCH_LAYOUT.length * BATCH_SAMPLES) return;
    const values = this.sample;
    this.sample = [];
    const started = performance.now();
    const { bytes, label } = this.opts.v2
      ? { bytes: encodeE1(splitSamples(values), BATCH_LAYOUT), label: 'LOSSLESS_E1' }
      : this.compressor.compressBatch(values);
    const compressionTimeUs = Math.max(1, Math.round((performance.now() - started) * 1000));
    const key = label.slice('BATCH_'.length).toLowerCase() as keyof MethodUsage;
    if (key in this.usage) this.usage[key]++;
    const packet = { bytes, label, timestamp: this.millis, compressionTimeUs, registerLayout: BATCH_LAYOUT };
    if (this.ring.length === RING_CAPACITY) {
      this.ring.shift();
      this.lostPackets++;
    }
    this.ring.push({ packet, values });
  }

  get pendingPackets(): number {
    return this.ring.length;
  }

  /** Drains the ring into one sealed upload (or undefined when there is nothing to send). */
  prepareUpload(): PreparedUpload | undefined {
    if (this.ring.length === 0) return undefined;
    const drained = this.ring;
    this.ring = [];
    this.inFlight = drained;
    // The field counter is a u32 that wraps; a v2 counter is a plain increasing integer.
    this.nonce = this.opts.v2 ? this.nonce + 1 : (this.nonce + 1) >>> 0;
    const json = buildUploadJson({
      deviceId: this.id,
      timestamp: this.millis,
      packets: drained.map((d) => d.packet),
      usage: this.usage,
    });
    const v2 = this.opts.v2;
    const { bytes: plaintext, truncated } =
      this.opts.firmwareBuffer && !v2
        ? firmwareBufferBytes(json, this.junk)
        : { bytes: Buffer.from(json), truncated: false };
    const body = v2
      ? sealV2(plaintext, {
          deviceId: this.id,
          kid: v2.kid,
          key: v2.key,
          nonce: this.nonce,
          encrypt: this.opts.encrypt,
        })
      : sealV1(plaintext, { nonce: this.nonce, keys: this.opts.keys, encrypt: this.opts.encrypt });
    return {
      deviceId: this.id,
      nonce: this.nonce,
      body,
      packets: drained.map((d) => d.packet),
      values: drained.map((d) => d.values),
      ...(truncated ? { truncated } : {}),
    };
  }

  private inFlight: { packet: DevicePacket; values: number[] }[] = [];

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

function splitSamples(values: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += BATCH_LAYOUT.length)
    out.push(values.slice(i, i + BATCH_LAYOUT.length));
  return out;
}
