/**
 * The catalogue, rollouts and OTA sessions on a real SQLite store (no HTTP): uploads are sealed as
 * they stream, chunks come from disk and reassemble on the device side, progress and outcomes are
 * stored, and a rollout halts when the failure that crosses its threshold is recorded.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqlFirmwareStore } from '../../../src/adapters/sql/firmware-store.js';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { FirmwareCatalogue, offeredManifest } from '../../../src/firmware/firmware-catalogue.js';
import { type FirmwareKeys, generateKeys, loadFirmwareKeys } from '../../../src/firmware/firmware-keys.js';
import { OtaService } from '../../../src/firmware/ota-service.js';
import { RolloutService } from '../../../src/firmware/rollout-service.js';
import { ApiError } from '../../../src/model/errors.js';
import { chunkMac } from '../../../src/protocol/firmware/chunk-mac.js';
import { FirmwareReceiver } from '../../../src/protocol/firmware/device-update.js';
import { fieldChunkResponse } from '../../../src/protocol/firmware/field-responses.js';

let keys: FirmwareKeys;
const open: SqliteStorage[] = [];

beforeAll(() => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ecowatt-ota-keys-')), 'keys');
  generateKeys(dir);
  keys = loadFirmwareKeys(dir)!;
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function setup(opts: { maxBytes?: number; keys?: FirmwareKeys | undefined } = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-ota-'));
  const storage = await SqliteStorage.open({
    dataDir,
    synchronous: 'NORMAL',
    maxBatch: 64,
    writer: 'inline',
  });
  open.push(storage);
  const store = new SqlFirmwareStore(storage.sql, storage.writer.writes.firmware);
  let clock = 1_000_000;
  const now = () => clock;
  const catalogue = new FirmwareCatalogue(
    store,
    'keys' in opts ? opts.keys : keys,
    { dataDir, maxBytes: opts.maxBytes ?? 1 << 20, chunkSize: 1024, keyDir: '/keys' },
    now,
  );
  return {
    dataDir,
    store,
    catalogue,
    rollouts: new RolloutService(store, catalogue, now),
    ota: new OtaService(store, catalogue, undefined, now),
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

function image(size: number, first = 0xe9): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  b[0] = first;
  return b;
}

/** The upload as a body stream would deliver it: in uneven pieces. */
async function* pieces(b: Buffer): AsyncIterable<Uint8Array> {
  for (let i = 0, n = 1; i < b.length; i += n, n = ((n * 7) % 997) + 1) yield b.subarray(i, i + n);
}

const add = (c: FirmwareCatalogue, version: string, img: Buffer, force = false) =>
  c.add({ version, notes: null, force, source: pieces(img), actor: 'test' });

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
  return 'no error';
};

describe('firmware catalogue', () => {
  it('seals an upload as it streams and serves chunks the device reassembles', async () => {
    const { catalogue, dataDir } = await setup();
    const img = image(5000);
    const stored = await add(catalogue, '1.0.4', img);
    expect(stored).toMatchObject({
      originalSize: 5000,
      encryptedSize: 5008,
      totalChunks: 5,
      keyId: keys.keyId,
    });
    expect(readdirSync(path.join(dataDir, 'firmware')).sort()).toEqual([
      'firmware_1.0.4_encrypted.bin',
      'firmware_1.0.4_manifest.json',
    ]);
    const r = FirmwareReceiver.start(offeredManifest(stored), {
      aesKey: keys.aesKey,
      chunkKey: keys.chunkKey,
      publicKey: keys.publicKey,
    });
    if (!r.ok) throw new Error('manifest refused');
    for (let k = 0; k < stored.totalChunks; k++) {
      const data = await catalogue.readChunk(stored, k);
      expect(
        r.value.acceptChunk(fieldChunkResponse(k, data, chunkMac(keys.chunkKey as Buffer, data, k), 5).chunk)
          .ok,
      ).toBe(true);
    }
    const verdict = r.value.verifyBeforeCommit();
    expect(verdict.ok && verdict.value.image.equals(img)).toBe(true);
  });

  it('refuses non-ESP32 images unless forced, oversize and duplicate versions, and works only with keys', async () => {
    const { catalogue } = await setup({ maxBytes: 4096 });
    expect(await code(add(catalogue, '1.0.0', image(100, 0x00)))).toBe('invalid_firmware');
    expect((await add(catalogue, '1.0.0', image(100, 0x00), true)).forced).toBe(true);
    expect(await code(add(catalogue, '1.0.1', image(5000)))).toBe('payload_too_large');
    expect(await code(add(catalogue, '1.0.0+build', image(100)))).toBe('conflict');
    expect(await code(add(catalogue, '1.0', image(100)))).toBe('invalid_parameter');
    const none = await setup({ keys: undefined });
    expect(await code(add(none.catalogue, '1.0.0', image(100)))).toBe('firmware_keys_missing');
  });
});

describe('rollouts and sessions', () => {
  it('persists progress, notices a field device starting over, and settles from what it runs', async () => {
    const { catalogue, rollouts, ota, store } = await setup();
    await add(catalogue, '1.0.10', image(3000));
    await rollouts.create({ version: '1.0.10', target: { kind: 'all' } }, 'test');

    const offer = await ota.check('d1', '1.0.9', 'field', { openSession: true });
    expect(offer.kind).toBe('offer');
    await ota.chunk('d1', '1.0.10', 0);
    await ota.chunk('d1', '1.0.10', 1);
    let [s] = await store.listSessions({ deviceId: 'd1', limit: 5 });
    expect(s).toMatchObject({
      state: 'downloading',
      nextChunk: 2,
      chunksServed: 2,
      restarts: 0,
      fromVersion: '1.0.9',
    });

    // The e84f720 firmware retries from chunk 0 after any failure.
    expect((await ota.check('d1', '1.0.9', 'field', { openSession: true })).kind).toBe('offer');
    await ota.chunk('d1', '1.0.10', 0);
    expect(await code(ota.chunk('d1', '1.0.10', 3))).toBe('not_found');
    expect(await code(ota.chunk('d1', '1.0.9', 0))).toBe('no_update_session');
    for (const k of [1, 2]) await ota.chunk('d1', '1.0.10', k);
    [s] = await store.listSessions({ deviceId: 'd1', limit: 5 });
    expect(s).toMatchObject({ state: 'downloaded', restarts: 1, chunksServed: 5 });

    // It comes back running the new version: that is the success a field device never reports.
    expect(await ota.check('d1', '1.0.10', 'field', { openSession: true })).toMatchObject({ kind: 'none' });
    [s] = await store.listSessions({ deviceId: 'd1', limit: 5 });
    expect(s.state).toBe('succeeded');
    expect(await store.reportedVersion('d1')).toMatchObject({ version: '1.0.10' });
  });

  it('halts at the failure threshold, lets downloads in progress finish, and resumes afresh', async () => {
    const { catalogue, rollouts, ota, tick } = await setup();
    await add(catalogue, '2.0.0', image(1500));
    const { rollout } = await rollouts.create(
      { version: '2.0.0', target: { kind: 'all' }, failureThreshold: 0.3, minOutcomes: 3 },
      'test',
    );
    for (const d of ['a', 'b', 'c', 'd']) await ota.check(d, '1.0.0', 'field', { openSession: true });
    await ota.report('a', '2.0.0', { kind: 'succeeded', detail: 'ok' });
    await ota.report('b', '2.0.0', { kind: 'failed', detail: 'chunk 1: hmac_mismatch' });
    expect((await rollouts.get(rollout.id)).rollout.state).toBe('active');
    await ota.report('c', '2.0.0', { kind: 'failed', detail: 'signature' });
    const halted = await rollouts.get(rollout.id);
    expect(halted.rollout.state).toBe('halted');
    expect(halted.rollout.stateReason).toMatch(/66\.7 %/);
    // New devices get nothing; the one mid-download may finish.
    expect(await ota.check('e', '1.0.0', 'field', { openSession: true })).toMatchObject({ kind: 'none' });
    expect((await ota.check('d', '1.0.0', 'field', { openSession: true })).kind).toBe('offer');

    tick(1000);
    await rollouts.change(rollout.id, 'resume', 'test', 'fixed the cause');
    tick(1000);
    await ota.report('d', '2.0.0', { kind: 'succeeded', detail: 'ok' });
    expect((await rollouts.get(rollout.id)).rollout.state).toBe('active');
    expect((await ota.check('e', '1.0.0', 'field', { openSession: true })).kind).toBe('offer');
  });

  it('grows a percentage rollout step by step once the step soaked and nothing is in flight', async () => {
    const { catalogue, rollouts, ota, tick } = await setup();
    await add(catalogue, '3.0.0', image(1100));
    const { rollout } = await rollouts.create(
      { version: '3.0.0', target: { kind: 'percentage', steps: [20, 100], stepWaitMs: 60_000 } },
      'test',
    );
    const ids = Array.from({ length: 50 }, (_, i) => `p${i}`);
    const first: string[] = [];
    for (const id of ids)
      if ((await ota.check(id, '2.0.0', 'field', { openSession: true })).kind === 'offer') first.push(id);
    expect(first.length).toBeGreaterThan(2);
    expect(first.length).toBeLessThan(25);
    for (const id of first) await ota.report(id, '3.0.0', { kind: 'succeeded', detail: 'ok' });
    const rest = ids.find((id) => !first.includes(id))!;
    expect((await ota.check(rest, '2.0.0', 'field', { openSession: true })).kind).toBe('none');
    tick(60_000);
    expect((await ota.check(rest, '2.0.0', 'field', { openSession: true })).kind).toBe('offer');
    const { rollout: grown, sessions } = await rollouts.get(rollout.id);
    expect(grown.stepIndex).toBe(1);
    expect(sessions.find((s) => s.deviceId === rest)?.rolloutStep).toBe(1);
  });

  it('aborting cancels sessions in progress', async () => {
    const { catalogue, rollouts, ota, store } = await setup();
    await add(catalogue, '1.1.0', image(1100));
    const { rollout } = await rollouts.create(
      { version: '1.1.0', target: { kind: 'devices', devices: ['x'] } },
      't',
    );
    await ota.check('x', '1.0.0', 'field', { openSession: true });
    await rollouts.change(rollout.id, 'abort', 't', null);
    expect(await code(ota.chunk('x', '1.1.0', 0))).toBe('no_update_session');
    expect((await store.listSessions({ deviceId: 'x', limit: 1 }))[0].state).toBe('cancelled');
    expect(await code(rollouts.change(rollout.id, 'resume', 't', null))).toBe('conflict');
  });
});
