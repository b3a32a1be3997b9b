/**
 * The upload side of a generation 1.3 device (PROTOCOL-1.3.md §2, §3; data_uploader.cpp,
 * security.cpp): compressed packets wait in a 20-slot ring (a full ring drops its oldest); an
 * upload cycle takes up to 8 of them into one document, seals it with the next nonce and POSTs it
 * to `/aggregated/<id>`. Only HTTP 200 is success; anything else (201 included, or no answer) is
 * retried once after 300 ms, re-sealed with the next nonce, and if that fails too the packets go
 * back into the ring. A document the firmware cannot serialise (4095 bytes or more) fails the
 * cycle without a request. How the POST travels and how time passes are the caller's, so the
 * same code runs against head/uploads.json and against a server.
 */
import {
  buildUpload13,
  compressSmart13,
  encodeBitpack13,
  nextNonce13,
  seal13,
  type Temporal13State,
  UPLOAD13_JSON_MAX,
} from '../protocol/gen13/index.js';

export const RING_13 = 20;
export const PACKETS_PER_POST_13 = 8;
export const RETRY_DELAY_MS_13 = 300;

/**
 * One sealed upload of three bit-packed samples of the ten registers, the last read at `now`: it
 * authenticates a device and the address it calls from where what it read does not matter.
 */
export function sealedUpload13(deviceId: string, nonce: number, psk: Uint8Array, now = Date.now()): string {
  const values: number[] = [];
  for (let s = 0; s < 3; s++) values.push(2430 + s, 177, 5000, 3500, 3400, 73, 70, 605, 100, 4331 + s);
  const json = buildUpload13({
    deviceId,
    timestamp: Math.floor(now / 1000),
    samplingInterval: 5,
    packets: [
      {
        bytes: encodeBitpack13(values),
        registerLayout: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        sampleCount: 3,
        lastSampleMs: now,
      },
    ],
  });
  return seal13(json, nonce, psk);
}

/** One compressed batch: every sample read since the previous upload. */
export interface Packet13 {
  bytes: Uint8Array;
  registerLayout: readonly number[];
  /** Raw register values as read, one array per sample (`registerLayout` wide). */
  samples: number[][];
  /** Unix ms at which each sample was read. */
  sampleTimesMs: number[];
}

/**
 * Compresses a batch as the firmware's upload task does (one packet per upload, smart selection,
 * the temporal state advancing on every batch). Samples must share `layout`.
 */
export function compressBatch13(
  layout: readonly number[],
  samples: readonly number[][],
  sampleTimesMs: readonly number[],
  state: Temporal13State,
): Packet13 {
  const registers = samples.flatMap(() => layout);
  const bytes = compressSmart13(registers, samples.flat(), state);
  return {
    bytes,
    registerLayout: [...layout],
    samples: samples.map((s) => [...s]),
    sampleTimesMs: [...sampleTimesMs],
  };
}

/** What one POST came back with: the status (0 when no answer arrived) and the text. */
export interface PostResult13 {
  status: number;
  text: string;
}

export interface UploadAttempt13 {
  nonce: number;
  body: string;
  status: number;
  text: string;
}

export type UploadCycle13 =
  | { kind: 'empty' }
  /** The document was too large to serialise: no request, the packets wait in the ring. */
  | { kind: 'too_large'; bytes: number; packets: Packet13[] }
  | { kind: 'sent'; ok: boolean; attempts: UploadAttempt13[]; packets: Packet13[] };

export interface Uploader13Options {
  deviceId: string;
  psk: Uint8Array;
  /** Sends one sealed body to `POST /aggregated/<id>`; rejects when no answer arrived. */
  post: (body: string, nonce: number) => Promise<PostResult13>;
  /** The device clock, unix ms (the document's `timestamp` is its seconds). */
  clock: () => number;
  /** FreeRTOS-aware delay before the retry. */
  sleep: (ms: number) => Promise<void>;
  /** The nonce counter (NVS `security/nonce`): read and written on every seal. */
  nonce: { value: number };
}

export class Uploader13 {
  private ring: Packet13[] = [];
  /** Packets dropped from a full ring before they were uploaded. */
  lostPackets = 0;

  constructor(private readonly opts: Uploader13Options) {}

  get pending(): number {
    return this.ring.length;
  }

  /** A packet joins the ring; a full ring drops its oldest. */
  queue(packet: Packet13): void {
    this.ring.push(packet);
    this.trim();
  }

  /** RAM is lost at a reboot: the ring with it. */
  clear(): number {
    const n = this.ring.length;
    this.lostPackets += n;
    this.ring = [];
    return n;
  }

  private trim(): void {
    while (this.ring.length > RING_13) {
      this.ring.shift();
      this.lostPackets++;
    }
  }

  /** The next nonce, saved at once (security.cpp:71-75). */
  private nextNonce(): number {
    this.opts.nonce.value = nextNonce13(this.opts.nonce.value);
    return this.opts.nonce.value;
  }

  /** One upload cycle (DataUploader::uploadPendingData). `samplingIntervalS` is the running poll period. */
  async upload(samplingIntervalS: number): Promise<UploadCycle13> {
    if (this.ring.length === 0) return { kind: 'empty' };
    const packets = this.ring.splice(0, PACKETS_PER_POST_13);
    const document = () =>
      buildUpload13({
        deviceId: this.opts.deviceId,
        timestamp: Math.floor(this.opts.clock() / 1000),
        samplingInterval: samplingIntervalS,
        packets: packets.map((p) => ({
          bytes: p.bytes,
          registerLayout: p.registerLayout,
          sampleCount: p.samples.length,
          lastSampleMs: p.sampleTimesMs[p.sampleTimesMs.length - 1] ?? this.opts.clock(),
        })),
      });
    const attempts: UploadAttempt13[] = [];
    let ok = false;
    for (let attempt = 0; attempt < 2 && !ok; attempt++) {
      if (attempt > 0) await this.opts.sleep(RETRY_DELAY_MS_13);
      const json = document();
      const size = Buffer.byteLength(json);
      if (size > UPLOAD13_JSON_MAX) {
        this.putBack(packets);
        return { kind: 'too_large', bytes: size, packets };
      }
      const nonce = this.nextNonce();
      const body = seal13(json, nonce, this.opts.psk);
      let answer: PostResult13;
      try {
        answer = await this.opts.post(body, nonce);
      } catch {
        answer = { status: 0, text: '' };
      }
      attempts.push({ nonce, body, ...answer });
      ok = answer.status === 200;
    }
    if (!ok) this.putBack(packets);
    return { kind: 'sent', ok, attempts, packets };
  }

  /** Failed packets go back in front of anything newer; the ring keeps its newest 20. */
  private putBack(packets: Packet13[]): void {
    this.ring = [...packets, ...this.ring];
    this.trim();
  }
}
