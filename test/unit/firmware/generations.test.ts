/**
 * Firmware generations: one key set per generation (1.3 has no chunk key), images catalogued once
 * per generation and served to each device by the protocol it speaks, 1.3 chunks that decrypt as
 * one CBC stream without any MAC, and the rules for outcomes reported by bare requests and for the
 * 1.3 boot report.
 */
import { createDecipheriv, createHash, generateKeyPairSync, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqlFirmwareStore } from '../../../src/adapters/sql/firmware-store.js';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { FirmwareCatalogue, offeredManifest } from '../../../src/firmware/firmware-catalogue.js';
import {
  type FirmwareKeys,
  generateKeys,
  generationKeyDir,
  importKeys,
  KEY_FILES,
  KeyError,
  keyIdOf,
  loadFirmwareKeys,
  loadKeySets,
} from '../../../src/firmware/firmware-keys.js';
import { OtaService } from '../../../src/firmware/ota-service.js';
import {
  bootOutcome,
  haltReason,
  nextStepDue,
  outcomeWrite,
  unauthenticatedHold,
} from '../../../src/firmware/rollout-rules.js';
import { RolloutService } from '../../../src/firmware/rollout-service.js';
import { ApiError } from '../../../src/model/errors.js';
import {
  EMPTY_ROLLOUT_COUNTS,
  type OtaSession,
  type Rollout,
  type RolloutCounts,
} from '../../../src/model/firmware.js';
import { FirmwareReceiver } from '../../../src/protocol/firmware/device-update.js';
import { deviceKeysFromDir } from '../../../src/sim/ota-device-keys.js';

const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

let root: string;
let sets: FirmwareKeys[];
const open: SqliteStorage[] = [];

beforeAll(() => {
  root = path.join(tmp('ecowatt-gen-keys-'), 'keys');
  generateKeys(root);
  generateKeys({ root, generation: '1.3' });
  sets = loadKeySets(root);
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function image(size: number, seed = 7): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  b[0] = 0xe9;
  return b;
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
  return 'no error';
};

async function setup(keys: FirmwareKeys[] = sets) {
  const dataDir = tmp('ecowatt-gen-');
  const storage = await SqliteStorage.open({
    dataDir,
    synchronous: 'NORMAL',
    maxBatch: 64,
    writer: 'inline',
  });
  open.push(storage);
  const store = new SqlFirmwareStore(storage.sql, storage.writer.writes.firmware);
  const now = () => 1_000_000;
  const catalogue = new FirmwareCatalogue(
    store,
    keys,
    { dataDir, maxBytes: 1 << 20, chunkSize: 1024, keyDir: root },
    now,
  );
  const add = (version: string, generation: 'e84f720' | '1.3', img: Buffer) =>
    catalogue.add({ version, generation, notes: null, force: false, source: once(img), actor: 'test' });
  return {
    dataDir,
    store,
    catalogue,
    add,
    rollouts: new RolloutService(store, catalogue, now),
    ota: new OtaService(store, catalogue, undefined, now),
  };
}

describe('key sets per generation', () => {
  it('keeps e84f720 at the top of the directory and 1.3 in its own, without a chunk key', () => {
    const e = sets.find((k) => k.generation === 'e84f720') as FirmwareKeys;
    const g13 = sets.find((k) => k.generation === '1.3') as FirmwareKeys;
    expect(e.dir).toBe(root);
    expect(g13.dir).toBe(generationKeyDir(root, '1.3'));
    expect(g13.dir).toBe(path.join(root, '1.3'));
    expect(g13.chunkKey).toBeNull();
    expect(existsSync(path.join(g13.dir, KEY_FILES.chunk))).toBe(false);
    expect(existsSync(path.join(g13.dir, KEY_FILES.fleet))).toBe(false);
    expect(g13.aesKey.equals(e.aesKey)).toBe(false);
    expect(g13.publicKeyPem).not.toBe(e.publicKeyPem);
    expect(g13.keyId).not.toBe(e.keyId);
    // The e84f720 fingerprint is what it was before generations: catalogued images stay servable.
    expect(e.keyId).toBe(keyIdOf(e.aesKey, e.chunkKey, e.publicKey));
    const header = readFileSync(path.join(g13.dir, KEY_FILES.header), 'utf8');
    expect(header).not.toContain('HMAC_FOTA_KEY');
    expect(header).not.toMatch(/PRIVATE/);
    expect(header).toContain('generation 1.3');
    expect(header).toContain('ECOWATT_FLEET_HMAC_KEY'); // the fleet key is shared
    // What a 1.3 build compiles in.
    const device = deviceKeysFromDir(root, '1.3');
    expect(device.chunkKey).toBeNull();
    expect(Buffer.from(device.aesKey).equals(g13.aesKey)).toBe(true);
  });

  it('generates and imports each generation independently, refusing what 1.3 cannot use', () => {
    const dir = path.join(tmp('ecowatt-gen-imp-'), 'keys');
    generateKeys(dir);
    expect(() => generateKeys({ root: dir })).toThrow(KeyError);
    // A 1.3 set is not "existing keys" for e84f720, nor the reverse.
    expect(generateKeys({ root: dir, generation: '1.3' }).dir).toBe(path.join(dir, '1.3'));
    expect(() => generateKeys({ root: dir, generation: '1.3' })).toThrow(/1\.3 firmware keys/);

    const other = path.join(tmp('ecowatt-gen-imp-'), 'keys');
    expect(() =>
      importKeys(
        { root: other, generation: '1.3' },
        { aesKeyHex: 'ab'.repeat(32), chunkKeyText: 'x'.repeat(40) },
      ),
    ).toThrow(/checks no chunk HMAC/);
    expect(() => importKeys({ root: other }, { aesKeyHex: 'ab'.repeat(32) })).toThrow(/--chunk-hmac-key/);
    const small = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    // The 1.3 firmware decodes exactly 256 signature bytes.
    expect(() =>
      importKeys({ root: other, generation: '1.3' }, { aesKeyHex: 'ab'.repeat(32), signingKeyPem: small }),
    ).toThrow(/RSA-2048/);
    const r = importKeys({ root: other, generation: '1.3' }, { aesKeyHex: 'cd'.repeat(32) });
    expect(loadFirmwareKeys(r.dir, '1.3')?.aesKey.toString('hex')).toBe('cd'.repeat(32));
    expect(loadFirmwareKeys(other)).toBeUndefined();
    expect(loadKeySets(other).map((k) => k.generation)).toEqual(['1.3']);
  });
});

describe('catalogue per generation', () => {
  it('takes a version once per generation, each under its own keys and files', async () => {
    const { add, catalogue, dataDir } = await setup();
    const e = await add('1.4.0', 'e84f720', image(3000));
    const g = await add('1.4.0', '1.3', image(2600, 9));
    expect(e.keyId).toBe(sets[0].keyId);
    expect(g.keyId).toBe(sets[1].keyId);
    expect(g.generation).toBe('1.3');
    expect(readdirSync(path.join(dataDir, 'firmware')).sort()).toEqual([
      'firmware_1.4.0_encrypted.bin',
      'firmware_1.4.0_gen1.3_encrypted.bin',
      'firmware_1.4.0_gen1.3_manifest.json',
      'firmware_1.4.0_manifest.json',
    ]);
    expect(await code(add('1.4.0', '1.3', image(100)))).toBe('conflict');
    // Same precedence, other text: a device could not tell them apart, whatever the generation.
    expect(await code(add('1.4.0+b2', '1.3', image(100)))).toBe('conflict');
    expect((await catalogue.imagesOf('1.4.0')).map((i) => i.generation)).toEqual(['e84f720', '1.3']);
    expect((await catalogue.require('1.4.0', '1.3')).originalSize).toBe(2600);
    // Without the generation's keys: refused, naming the command.
    const only = await setup([sets[0]]);
    const err = await only.add('1.0.0', '1.3', image(100)).catch((x) => x as ApiError);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/keys generate --generation 1\.3/);
  });

  it('serves each device its generation image; a 1.3 chunk stream decrypts as one CBC stream', async () => {
    const { add, rollouts, ota, catalogue } = await setup();
    const plain13 = image(2600, 9);
    await add('1.4.0', 'e84f720', image(3000));
    const g = await add('1.4.0', '1.3', plain13);
    const { generations } = await rollouts.create({ version: '1.4.0', target: { kind: 'all' } }, 't');
    expect(generations).toEqual(['e84f720', '1.3']);

    const look = await ota.check('d13', '1.3.4', 'later', { openSession: false });
    expect(look).toMatchObject({ kind: 'offer', image: { generation: '1.3', originalSize: 2600 } });
    await ota.initiate('d13', '1.4.0', undefined);
    const keys13 = sets[1];
    const iv = Buffer.from(g.iv, 'base64');
    const decipher = createDecipheriv('aes-256-cbc', keys13.aesKey, iv);
    const parts: Buffer[] = [];
    for (let k = 0; k < g.totalChunks; k++) {
      const served = await ota.chunk('d13', '1.4.0', k, 'later');
      expect(served.mac).toBeNull();
      parts.push(decipher.update(served.data));
    }
    parts.push(decipher.final());
    const out = Buffer.concat(parts);
    expect(out.equals(plain13)).toBe(true);
    expect(createHash('sha256').update(out).digest('hex')).toBe(g.sha256);
    const sig = Buffer.from(g.signature, 'base64');
    expect(sig).toHaveLength(256);
    expect(verify('sha256', out, keys13.publicKey, sig)).toBe(true);
    // The device-side receiver without a chunk key follows the same procedure.
    const r = FirmwareReceiver.start(offeredManifest(g), { ...keys13, chunkKey: null });
    if (!r.ok) throw new Error('manifest refused');
    for (let k = 0; k < g.totalChunks; k++) {
      const data = await catalogue.readChunk(g, k);
      expect(
        r.value.acceptChunk({ chunk_number: k, data: data.toString('base64'), size: data.length }).ok,
      ).toBe(true);
    }
    expect(r.value.verifyBeforeCommit().ok).toBe(true);

    // An e84f720 device in the same rollout gets its own image, MACed.
    const field = await ota.check('dfield', '1.0.0', 'field', { openSession: true });
    expect(field).toMatchObject({ kind: 'offer', image: { generation: 'e84f720', originalSize: 3000 } });
    expect((await ota.chunk('dfield', '1.4.0', 0, 'field')).mac).toMatch(/^[0-9a-f]{64}$/);
    // Neither can fetch through the other generation's protocol.
    expect(await code(ota.chunk('dfield', '1.4.0', 0, 'later'))).toBe('no_update_session');
    expect(await code(ota.chunk('d13', '1.4.0', 0, 'field'))).toBe('no_update_session');
  });

  it('skips (not fails) a device whose generation has no image of the version', async () => {
    const { add, rollouts, ota, store } = await setup();
    await add('2.0.0', 'e84f720', image(1500));
    const { generations } = await rollouts.create({ version: '2.0.0', target: { kind: 'all' } }, 't');
    expect(generations).toEqual(['e84f720']);
    const r = await ota.check('d13', '1.3.4', 'later', { openSession: false });
    expect(r).toMatchObject({ kind: 'none' });
    expect(r.kind === 'none' && r.reason).toMatch(/no image for firmware generation 1\.3/);
    expect(await code(ota.initiate('d13', '2.0.0', undefined))).toBe('no_update_session');
    expect(await store.listSessions({ deviceId: 'd13', limit: 5 })).toEqual([]);
  });
});

describe('unauthenticated outcomes', () => {
  it('are marked on the session and never halt; authenticated ones do', async () => {
    const { add, rollouts, ota } = await setup();
    await add('3.0.0', '1.3', image(1100));
    const { rollout } = await rollouts.create(
      { version: '3.0.0', target: { kind: 'all' }, failureThreshold: 0.3, minOutcomes: 2 },
      't',
    );
    const bare = { authenticated: false };
    for (const d of ['a', 'b', 'c']) {
      await ota.check(d, '1.3.4', 'later', { openSession: false, authenticated: false });
      await ota.initiate(d, '3.0.0', undefined, bare);
      await ota.report(d, undefined, { kind: 'failed', detail: 'verification_failed: forged' }, bare);
    }
    let view = await rollouts.get(rollout.id);
    expect(view.rollout.state).toBe('active');
    expect(view.counts).toMatchObject({ failed: 3, recentFailed: 0, recentUnauthenticatedFailed: 3 });
    expect(view.sessions.every((s) => s.state === 'failed' && s.outcomeAuthenticated === false)).toBe(true);

    // A bare success cannot overturn an authenticated failure; an authenticated one can.
    await ota.check('e', '1.3.4', 'later', { openSession: false });
    await ota.initiate('e', '3.0.0', undefined);
    await ota.report('e', undefined, { kind: 'failed', detail: 'verification_failed: real' });
    await ota.bootReport('e', '3.0.0', 'success', 'ok', bare);
    view = await rollouts.get(rollout.id);
    expect(view.sessions.find((s) => s.deviceId === 'e')).toMatchObject({
      state: 'failed',
      outcomeAuthenticated: true,
    });
    expect(view.rollout.state).toBe('active'); // one authenticated outcome: below min_outcomes

    await ota.check('f', '1.3.4', 'later', { openSession: false });
    await ota.initiate('f', '3.0.0', undefined);
    await ota.report('f', undefined, { kind: 'failed', detail: 'verification_failed: real' });
    view = await rollouts.get(rollout.id);
    expect(view.rollout.state).toBe('halted');
    expect(view.rollout.stateReason).toMatch(/\(2 of 2\)/);
  });

  it('the boot report settles a 1.3 session; pending_verify is not a failure', async () => {
    const { add, rollouts, ota, store } = await setup();
    await add('3.1.0', '1.3', image(1100));
    await rollouts.create({ version: '3.1.0', target: { kind: 'all' } }, 't');
    const session = async (d: string) => (await store.listSessions({ deviceId: d, limit: 1 }))[0];
    for (const d of ['p', 'q', 'r']) {
      await ota.check(d, '1.3.4', 'later', { openSession: false });
      await ota.initiate(d, '3.1.0', undefined);
    }
    // A boot in the middle of the download means nothing.
    expect(await ota.bootReport('p', '1.3.4', 'success', '')).toBeUndefined();
    for (let k = 0; k < 2; k++) await ota.chunk('p', '3.1.0', k, 'later');
    expect(await ota.bootReport('p', '3.1.0', 'pending_verify', '')).toMatchObject({
      state: 'downloaded',
      phase: 'pending_verify',
    });
    expect(await ota.bootReport('p', '3.1.0', 'success', '')).toMatchObject({ state: 'succeeded' });
    expect(await store.reportedVersion('p')).toMatchObject({ version: '3.1.0' });
    // Downloaded, then booted on the old version: the install failed.
    for (let k = 0; k < 2; k++) await ota.chunk('q', '3.1.0', k, 'later');
    expect(await ota.bootReport('q', '1.3.4', 'success', '')).toMatchObject({ state: 'failed' });
    expect((await session('q')).outcome).toMatch(/downloaded 3\.1\.0 but booted 1\.3\.4/);
    expect(await ota.bootReport('r', '1.3.4', 'rolled_back', 'validation failed')).toMatchObject({
      state: 'failed',
      outcome: 'rolled_back: validation failed',
    });
  });
});

const rollout = (over: Partial<Rollout> = {}): Rollout => ({
  id: 1,
  version: '1.4.0',
  target: { kind: 'percentage', steps: [10, 100], stepWaitMs: 0 },
  stepIndex: 0,
  stepStartedAt: 0,
  pinned: false,
  failureThreshold: 0.2,
  minOutcomes: 5,
  outcomesSince: 0,
  state: 'active',
  stateReason: null,
  createdAt: 0,
  updatedAt: 0,
  ...over,
});

const counts = (over: Partial<RolloutCounts> = {}): RolloutCounts => ({ ...EMPTY_ROLLOUT_COUNTS, ...over });

const session = (over: Partial<OtaSession> = {}): OtaSession => ({
  id: 1,
  deviceId: 'd',
  rolloutId: 1,
  version: '1.4.0',
  fromVersion: '1.3.4',
  state: 'downloading',
  rolloutStep: 0,
  client: 'later',
  totalChunks: 4,
  nextChunk: 0,
  maxChunk: -1,
  chunksServed: 0,
  restarts: 0,
  phase: null,
  outcome: null,
  outcomeAuthenticated: null,
  startedAt: 0,
  lastChunkAt: null,
  updatedAt: 0,
  finishedAt: null,
  ...over,
});

describe('rules', () => {
  it('bare outcomes never halt, but hold a percentage step when they alone pass the threshold', () => {
    const r = rollout();
    const bad = counts({ recentUnauthenticatedFailed: 6, recentUnauthenticatedSucceeded: 1 });
    expect(haltReason(r, bad)).toBeNull();
    expect(unauthenticatedHold(r, bad)).toMatch(/6 of 7 failed/);
    expect(nextStepDue(r, bad, 1)).toBe(false);
    expect(
      nextStepDue(r, counts({ recentUnauthenticatedFailed: 1, recentUnauthenticatedSucceeded: 9 }), 1),
    ).toBe(true);
    expect(haltReason(r, counts({ recentFailed: 5, recentSucceeded: 1 }))).toMatch(/5 of 6/);
  });

  it('a report changes its session as the rules say', () => {
    expect(outcomeWrite(session(), { kind: 'failed', detail: 'x', unauthenticated: true })).toEqual({
      kind: 'finish',
      state: 'failed',
      detail: 'x',
      authenticated: false,
    });
    const failedAuth = session({ state: 'failed', outcomeAuthenticated: true });
    expect(outcomeWrite(failedAuth, { kind: 'succeeded', detail: 'y', unauthenticated: true })).toEqual({
      kind: 'none',
    });
    expect(outcomeWrite(failedAuth, { kind: 'succeeded', detail: 'y' })).toMatchObject({ kind: 'finish' });
    const failedBare = session({ state: 'failed', outcomeAuthenticated: false });
    expect(outcomeWrite(failedBare, { kind: 'succeeded', detail: 'y', unauthenticated: true })).toMatchObject(
      {
        kind: 'finish',
        state: 'succeeded',
      },
    );
    expect(outcomeWrite(session({ state: 'succeeded' }), { kind: 'failed', detail: 'z' })).toEqual({
      kind: 'none',
    });
  });

  it('reads the 1.3 boot report', () => {
    const s = session({ state: 'downloaded' });
    expect(bootOutcome(s, '1.4.0', 'success', '')).toMatchObject({ kind: 'succeeded' });
    expect(bootOutcome(s, '1.4.0', 'pending_verify', '')).toEqual({ kind: 'phase', phase: 'pending_verify' });
    expect(bootOutcome(s, '1.3.4', 'pending_verify', '')).toBeNull();
    expect(bootOutcome(s, '1.3.4', 'success', '')).toMatchObject({ kind: 'failed' });
    expect(bootOutcome(session(), '1.3.4', 'success', '')).toBeNull();
    expect(bootOutcome(session(), '1.3.4', 'rolled_back', 'bad')).toEqual({
      kind: 'failed',
      detail: 'rolled_back: bad',
    });
  });
});
