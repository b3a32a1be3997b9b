/**
 * A simulated generation 1.3 device's uploads against every whole-upload vector the 1.3 firmware
 * made (head/uploads.json): the packets it compresses, every request byte for byte (retries
 * re-sealed with the next nonce), the outcome and what stays queued; then the ring, the 8-packet
 * limit and the document size limit.
 */
import { describe, expect, it } from 'vitest';
import { FIELD_KEYS } from '../../../src/protocol/envelope-v1.js';
import { Temporal13State } from '../../../src/protocol/gen13/index.js';
import { Gen13Device } from '../../../src/sim/gen13-device.js';
import {
  compressBatch13,
  type Packet13,
  type PostResult13,
  RING_13,
  Uploader13,
} from '../../../src/sim/gen13-uploader.js';
import { fixture } from '../../helpers/uploads.js';

interface UploadVector {
  id: string;
  device_id: string;
  nvs_config: { sampling_interval_s: number; upload_interval_s: number; register_layout: number[] };
  wall_clock_unix_s: number;
  reads: { register_layout: number[]; register_values: number[][]; sample_timestamps_ms: number[] }[];
  packets_hex: string[];
  requests: { url: string; body: string; nonce: number; server_answer_code: number }[];
  upload_result: boolean;
  packets_left_in_queue: number;
}

const vectors = fixture<UploadVector[]>('head/uploads.json');

/** An uploader whose POSTs get scripted answers; it records what it sent and how long it waited. */
function scripted(codes: readonly (number | 'drop')[], opts: { nonce?: number; clockMs?: number } = {}) {
  const sent: { body: string; nonce: number }[] = [];
  const waits: number[] = [];
  const uploader = new Uploader13({
    deviceId: 'ESP32_001',
    psk: FIELD_KEYS.hmacKey,
    clock: () => opts.clockMs ?? 1_765_000_000_000,
    nonce: { value: opts.nonce ?? 20_000 },
    sleep: async (ms) => {
      waits.push(ms);
    },
    post: async (body, nonce): Promise<PostResult13> => {
      const code = codes[sent.length] ?? 200;
      sent.push({ body, nonce });
      if (code === 'drop') throw new Error('connection reset');
      return { status: code, text: '{}' };
    },
  });
  return { uploader, sent, waits };
}

const packet = (i: number, layout = [9]): Packet13 => ({
  bytes: Uint8Array.from([0x01, 0x0d, 0x01, i & 0xff, 0]),
  registerLayout: layout,
  samples: [layout.map(() => i)],
  sampleTimesMs: [1_764_999_990_000 + i],
});

describe('uploads as the 1.3 firmware makes them', () => {
  it.each(vectors.map((v) => [v.id, v] as const))('%s', async (_, v) => {
    // One compressor per device: its temporal state follows every batch in order.
    const state = new Temporal13State();
    const packets = v.reads.map((r) =>
      compressBatch13(r.register_layout, r.register_values, r.sample_timestamps_ms, state),
    );
    expect(packets.map((p) => Buffer.from(p.bytes).toString('hex'))).toEqual(v.packets_hex);

    const { uploader, sent, waits } = scripted(
      v.requests.map((r) => r.server_answer_code),
      { clockMs: v.wall_clock_unix_s * 1000 },
    );
    for (const p of packets) uploader.queue(p);
    const cycle = await uploader.upload(v.nvs_config.sampling_interval_s);
    expect(sent).toEqual(v.requests.map((r) => ({ body: r.body, nonce: r.nonce })));
    expect(cycle.kind === 'sent' && cycle.ok).toBe(v.upload_result);
    expect(uploader.pending).toBe(v.packets_left_in_queue);
    // One retry, 300 ms after a failed first attempt.
    expect(waits).toEqual(v.requests.length > 1 ? [300] : []);
  });

  it('retries once after no answer at all, then keeps the packets for the next cycle', async () => {
    const { uploader, sent } = scripted(['drop', 503, 200]);
    uploader.queue(packet(1));
    const first = await uploader.upload(5);
    expect(first).toMatchObject({ kind: 'sent', ok: false });
    expect(sent.map((s) => s.nonce)).toEqual([20_001, 20_002]);
    expect(uploader.pending).toBe(1);
    const second = await uploader.upload(5);
    expect(second).toMatchObject({ kind: 'sent', ok: true });
    expect(sent.map((s) => s.nonce)).toEqual([20_001, 20_002, 20_003]);
    expect(uploader.pending).toBe(0);
  });

  it('keeps 20 packets, dropping the oldest, and sends at most 8 per POST, oldest first', async () => {
    const { uploader, sent } = scripted([500, 500]);
    for (let i = 0; i < RING_13 + 3; i++) uploader.queue(packet(i));
    expect(uploader.pending).toBe(RING_13);
    expect(uploader.lostPackets).toBe(3);
    const failed = await uploader.upload(5);
    expect(failed.kind === 'sent' && failed.packets.map((p) => p.samples[0][0])).toEqual([
      3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    // Back in the ring in front of the newer ones; nothing lost.
    expect(uploader.pending).toBe(RING_13);
    const next = await uploader.upload(5);
    expect(next.kind === 'sent' && next.packets.map((p) => p.samples[0][0])).toEqual([
      3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(next).toMatchObject({ ok: true });
    expect(uploader.pending).toBe(12);
    const doc = JSON.parse(Buffer.from(JSON.parse(sent[2].body).payload, 'base64').toString());
    expect(doc.total_samples).toBe(8);
  });

  it('fails a cycle whose document would be 4095 bytes or more without sending it', async () => {
    const { uploader, sent } = scripted([]);
    const big = (i: number): Packet13 => ({
      bytes: Uint8Array.from({ length: 189 }, (_, k) => (k === 0 ? 0x01 : (k * 7 + i) & 0xff)),
      registerLayout: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      samples: [Array.from({ length: 10 }, () => i)],
      sampleTimesMs: [1_764_999_990_000],
    });
    for (let i = 0; i < 8; i++) uploader.queue(big(i));
    const cycle = await uploader.upload(5);
    expect(cycle.kind).toBe('too_large');
    expect(sent).toEqual([]);
    expect(uploader.pending).toBe(8);
  });
});

describe('a device through reboots', () => {
  it('starts its nonces at the boot floor and keeps the counter across a reboot (NVS)', async () => {
    const nonces: number[] = [];
    const device = new Gen13Device({
      id: 'sim-0001',
      psk: FIELD_KEYS.hmacKey,
      profile: { ratedPowerW: 5000, noise: 0.05, seed: 3 },
      dayStart: Date.UTC(2026, 5, 21, 11),
      unixStart: 1_765_000_000_000,
      post: async (_body, nonce) => {
        nonces.push(nonce);
        return { status: 200, text: '{}' };
      },
      sleep: async () => {},
    });
    device.advanceTo(15_000);
    const cycle = await device.uploadTick();
    expect(cycle.kind === 'sent' && cycle.packets[0].samples.length).toBe(3);
    device.advanceTo(30_000);
    device.reboot('1.3.5');
    // RAM lost: the samples read since the upload are gone; the counter is not.
    expect(device.discardedSamples).toBe(3);
    device.advanceTo(45_000);
    await device.uploadTick();
    expect(nonces).toEqual([11_001, 11_002]);
    expect(device.version).toBe('1.3.5');
  });
});
