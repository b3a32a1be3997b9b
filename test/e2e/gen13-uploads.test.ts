/**
 * Generation 1.3 uploads against the real server: every whole-upload vector the 1.3 firmware made
 * (PROTOCOL-1.3.md §2-§4, test/fixtures/head/uploads.json) is stored with the values the device
 * read; replays, forged MACs, a path that names another device and truncated packets are refused
 * or quarantined with their codes; counter resets are named events an operator re-arms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_KEYS } from '../../src/protocol/envelope-v1.js';
import { buildUpload13, compressSmart13, seal13, Temporal13State } from '../../src/protocol/gen13/index.js';
import { type DeviceAnswer, deviceRequest } from '../helpers/device-request.js';
import { eventually } from '../helpers/eventually.js';
import { type RunningServer, startServer } from '../helpers/server-process.js';
import { fixture } from '../helpers/uploads.js';

interface UploadVector {
  id: string;
  device_id: string;
  wall_clock_unix_s: number;
  reads: { register_layout: number[]; register_values: number[][]; sample_timestamps_ms: number[] }[];
  packets_hex: string[];
  requests: { body: string; nonce: number }[];
}

const vectors = fixture<UploadVector[]>('head/uploads.json');
let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

/** Posts like the device: `POST /aggregated/<id>`, JSON, optionally from another loopback address. */
function aggregated(id: string, body: string, from?: string, base = server.url): Promise<DeviceAnswer> {
  return deviceRequest(base, 'POST', `/aggregated/${encodeURIComponent(id)}`, body, from ? { from } : {});
}

async function rearm(id: string, to: number) {
  const r = await server.admin('POST', `/api/devices/${id}/replay-reset`, { reason: 'test', to });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

interface Reading {
  upload: string;
  raw: number;
  reg_id: number;
  quality: string;
  time: string;
}

type Event = { code: string; reason: string; detail?: Record<string, unknown> };

/** The device's events of one code, once at least one was written (events are written behind the answer). */
function eventsOf(id: string, code: string): Promise<Event[]> {
  return eventually(async () => {
    const r = await server.admin('GET', `/api/security-events?device=${id}&code=${code}&limit=100`);
    expect(r.json.events.length).toBeGreaterThan(0);
    return r.json.events as Event[];
  });
}

/** One sealed 1.3 upload of `samples` samples of all ten registers, as the firmware builds it. */
function upload13(id: string, nonce: number, samples: number[][], state = new Temporal13State()): string {
  const layout = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const registers = samples.flatMap(() => layout);
  const bytes = compressSmart13(registers, samples.flat(), state);
  const now = Date.now();
  const plaintext = buildUpload13({
    deviceId: id,
    timestamp: Math.floor(now / 1000),
    samplingInterval: 5,
    packets: [{ bytes, registerLayout: layout, sampleCount: samples.length, lastSampleMs: now - 1000 }],
  });
  return seal13(plaintext, nonce, FIELD_KEYS.hmacKey);
}

const SAMPLE = [2429, 177, 5000, 3100, 3050, 73, 70, 605, 100, 4331];

describe('generation 1.3 uploads (POST /aggregated/<id>)', () => {
  // Every vector is its own scenario of the one device ESP32_001 (same clock, same nonces): each
  // runs against a server of its own, or its packets would rightly be stored once as re-sends.
  it.each(vectors.map((v) => [v.id, v] as const))(
    'stores vector %s with the values the device read',
    async (_, v) => {
      const own = await startServer();
      try {
        const answers = [];
        for (const req of v.requests)
          answers.push(await aggregated(v.device_id, req.body, undefined, own.url));
        // Every attempt the device made is authentic and fresh: all are acknowledged once stored,
        // and a retry's packets (already stored by the attempt before) are stored once.
        for (const a of answers) expect(a.status, JSON.stringify(a.json)).toBe(200);
        expect(answers[0].json.quarantined).toEqual([]);
        for (const a of answers.slice(1)) expect(a.json.duplicate_packets).toBe(v.packets_hex.length);

        const r = await own.admin('GET', `/api/devices/${v.device_id}/readings?limit=10000`);
        const stored = (r.json.readings as Reading[]).sort(
          (a, b) => Date.parse(a.time) - Date.parse(b.time) || a.reg_id - b.reg_id,
        );
        // Per sample, by time; within a sample by register id (the order the API sorts them in).
        const expected = v.reads.flatMap((batch) =>
          batch.register_values.flatMap((sample) =>
            batch.register_layout
              .map((reg, i) => ({ reg, raw: sample[i] }))
              .sort((a, b) => a.reg - b.reg)
              .map((x) => x.raw),
          ),
        );
        expect(stored.map((x) => x.raw)).toEqual(expected);
        expect(new Set(stored.map((x) => x.quality))).toEqual(new Set(['exact']));
        expect(new Set(stored.map((x) => x.upload))).toEqual(new Set([answers[0].json.upload_id]));
        // Samples are sampling_interval apart, as the device read them.
        const times = [...new Set(stored.map((x) => Date.parse(x.time)))];
        const read = v.reads.flatMap((batch) => batch.sample_timestamps_ms);
        expect(times.map((t) => t - times[0])).toEqual(read.map((t) => t - read[0]));
        const device = await own.admin('GET', `/api/devices/${v.device_id}`);
        expect(device.json.generation).toBe('1.3');
        expect(device.json.last_authenticated_source).toBe('127.0.0.1');
      } finally {
        await own.stop();
      }
    },
  );

  it('refuses a replay, a forged MAC and a path naming another device', async () => {
    const id = 'g13-sec';
    const body = upload13(id, 11_001, [SAMPLE]);
    expect((await aggregated(id, body)).status).toBe(200);
    const replay = await aggregated(id, body);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('replayed_nonce');

    const forged = JSON.parse(upload13(id, 11_002, [SAMPLE]));
    forged.mac = forged.mac.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    const bad = await aggregated(id, JSON.stringify(forged));
    expect(bad.status).toBe(401);
    expect(bad.json.error).toBe('authentication_failed');

    const other = await aggregated('g13-other', upload13(id, 11_003, [SAMPLE]));
    expect(other.status).toBe(401);
    expect(other.json.error).toBe('authentication_failed');
    // The refusal is the path's device's: that is whom the request claimed to be.
    expect((await eventsOf('g13-other', 'authentication_failed')).map((e) => e.reason)).toContain(
      'device_id_mismatch',
    );
    // The refused attempts used up nothing: the next nonce is still accepted.
    expect((await aggregated(id, upload13(id, 11_004, [SAMPLE]))).status).toBe(200);
  });

  it('starts a device first seen on this route at the 1.3 nonce floor (no gap for 11001)', async () => {
    const r = await aggregated('g13-floor', upload13('g13-floor', 11_001, [SAMPLE]));
    expect(r.status).toBe(200);
    expect(r.json.nonce_gap).toBe(0);
  });

  it('quarantines a truncated compressed_binary with its bytes instead of half-decoding it', async () => {
    const id = 'g13-cut';
    // 21 samples of 10 varied values: far above the 189 bytes the firmware keeps.
    const samples = Array.from({ length: 21 }, (_, s) =>
      SAMPLE.map((v, i) => (v + s * 37 * (i + 1)) % 65536),
    );
    const r = await aggregated(id, upload13(id, 11_001, samples));
    expect(r.status).toBe(200);
    expect(r.json.quarantined).toHaveLength(1);
    expect(r.json.quarantined[0].reason).toMatch(/^truncated/);
    expect(r.json.readings).toBe(0);
    const upload = await server.admin('GET', `/api/uploads/${r.json.upload_id}`);
    expect(upload.json.packets[0].status).toBe('quarantined');
  });

  it('names a wiped counter and a wrapped one, and accepts the device again once re-armed', async () => {
    const id = 'g13-reset';
    expect((await aggregated(id, upload13(id, 500_000, [SAMPLE]))).status).toBe(200);
    const wiped = await aggregated(id, upload13(id, 11_001, [SAMPLE]));
    expect(wiped.status).toBe(401);
    expect(wiped.json.error).toBe('replayed_nonce');
    const [reset] = await eventsOf(id, 'counter_reset_suspected');
    expect(reset.detail?.cause).toBe('nvs_wiped');
    expect(reset.reason).toContain(`replay-reset ${id} --reason … --to 11000`);
    await rearm(id, 11_001);
    expect((await aggregated(id, upload13(id, 11_002, [SAMPLE]))).status).toBe(200);

    await rearm(id, 2 ** 32 - 2);
    expect((await aggregated(id, upload13(id, 2 ** 32 - 1, [SAMPLE]))).status).toBe(200);
    const wrapped = await aggregated(id, upload13(id, 0, [SAMPLE]));
    expect(wrapped.status).toBe(401);
    await eventually(async () => {
      const causes = (await eventsOf(id, 'counter_reset_suspected')).map((e) => e.detail?.cause);
      expect(causes).toContain('nonce_wrapped');
    });
    await rearm(id, 0);
    expect((await aggregated(id, upload13(id, 1, [SAMPLE]))).status).toBe(200);
  });

  it('names two units that report one id from different addresses', async () => {
    const id = 'g13-twins';
    expect((await aggregated(id, upload13(id, 90_000, [SAMPLE]))).status).toBe(200);
    const twin = await aggregated(id, upload13(id, 11_001, [SAMPLE]), '127.0.0.2');
    expect(twin.status).toBe(401);
    const [collision] = await eventsOf(id, 'device_id_collision');
    expect(collision.reason).toMatch(/two units report the id g13-twins/);
  });
});
