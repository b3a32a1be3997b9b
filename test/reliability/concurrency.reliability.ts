/**
 * Concurrency: adversarial interleavings of duplicate, reordered, old, far-future and wrapped
 * nonces. At the storage port, a property test compares every decision with a naive model of
 * PROTOCOL.md §10.4 while requests of one batch are submitted together (they share a group
 * commit). Over HTTP, rounds of concurrent requests go to one server, and to two server
 * instances sharing a private PostgreSQL when that profile can run. Figures: replays accepted
 * and valid in-window nonces refused — both must be zero.
 */
import { rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevicePolicy } from '../../src/model/device.js';
import type { ReplayMode } from '../../src/model/replay.js';
import type { Storage, UploadCommit } from '../../src/ports/storage.js';
import { sealed } from '../helpers/uploads.js';
import { fromDist, NO_RATE_LIMITS } from './harness/dist.js';
import { CaseFigures } from './harness/figures.js';
import { PrivatePostgres, privatePostgresUnavailable } from './harness/postgres.js';
import { sized } from './harness/profile.js';
import { ReplayModel } from './harness/replay-model.js';
import { ServerProcess, tempDir } from './harness/server.js';
import { round } from './harness/stats.js';

const fig = new CaseFigures('concurrency');
beforeAll(() => fig.machineLoad('at start'));
afterAll(() => fig.machineLoad('at end'));

const P = sized({
  quick: { memorySequences: 10_000, fileSequences: 1_000, rounds: 15, windowDevices: 8, strictDevices: 8 },
  full: { memorySequences: 100_000, fileSequences: 10_000, rounds: 80, windowDevices: 16, strictDevices: 16 },
});
const SEED = 4_303;
const U32_MAX = 2 ** 32 - 1;

type OpKind = 'next' | 'dup' | 'old' | 'reorder' | 'far' | 'reset' | 'wrap';
interface Op {
  kind: OpKind;
  k: number;
  /** `/changes`-style nonce acceptance instead of an upload commit: same replay state. */
  viaAcceptNonce: boolean;
}
interface Sequence {
  mode: ReplayMode;
  start: number | null;
  threshold: number;
  batches: Op[][];
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<OpKind>('next', 'next', 'dup', 'old', 'reorder', 'reorder', 'far', 'reset', 'wrap'),
  k: fc.nat(3000),
  viaAcceptNonce: fc.boolean(),
});

const sequenceArb: fc.Arbitrary<Sequence> = fc.record({
  mode: fc.oneof(
    fc.constant<ReplayMode>({ kind: 'strict' }),
    fc.constantFrom(1, 2, 8, 64, 1024).map((size): ReplayMode => ({ kind: 'window', size })),
  ),
  start: fc.oneof(fc.constant(null), fc.constant(10_000), fc.nat(U32_MAX), fc.constant(U32_MAX - 3)),
  threshold: fc.constantFrom(1000, 1000, 50, 1),
  batches: fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
});

/** A concrete nonce for an op, relative to what has happened so far (not to what is in flight). */
function nonceFor(op: Op, high: number | null, used: readonly number[]): number {
  const h = high ?? 10_000;
  const clamp = (x: number) => Math.max(0, Math.min(U32_MAX, x));
  switch (op.kind) {
    case 'next':
      return clamp(h + 1 + (op.k % 3));
    case 'dup':
      return used.length > 0 ? used[op.k % used.length] : h;
    case 'old':
      return clamp(h - 1 - (op.k % 2100));
    case 'reorder':
      return clamp(h - (op.k % 8) + 4);
    case 'far':
      return clamp(h + 1_000_000 + op.k);
    case 'reset':
      return 10_001 + (op.k % 5);
    case 'wrap':
      return U32_MAX - (op.k % 3);
  }
}

interface Tally {
  sequences: number;
  decisions: number;
  accepted: number;
  replaysAccepted: number;
  validRefused: number;
  wrongReason: number;
  examples: string[];
}

const newTally = (): Tally => ({
  sequences: 0,
  decisions: 0,
  accepted: 0,
  replaysAccepted: 0,
  validRefused: 0,
  wrongReason: 0,
  examples: [],
});

const POLICY = (replay: ReplayMode): DevicePolicy => ({
  allowUnsecured: false,
  requireEncryption: false,
  replay,
});

/** The compiled replay rule, loaded once (the sequences run by the thousand). */
let replayWindow: typeof import('../../src/model/replay-window.js') | undefined;

/**
 * Runs one sequence on a device of its own and checks every answer against the model. `together`:
 * a batch's operations are submitted in one turn of the event loop (SQLite decides them inside one
 * group commit, in submission order, the order the model applies them in); otherwise one at a
 * time, each awaited (the device's order is then fixed whatever the store does concurrently).
 */
async function runSequence(
  storage: Storage,
  seq: Sequence,
  deviceId: string,
  tally: Tally,
  together: boolean,
): Promise<boolean> {
  replayWindow ??= await fromDist<typeof import('../../src/model/replay-window.js')>(
    'src/model/replay-window.js',
  );
  const { armedAt, UNARMED } = replayWindow;
  await storage.createDevice(
    {
      id: deviceId,
      status: 'active',
      policy: POLICY(seq.mode),
      keys: [],
      replay: seq.start === null ? UNARMED : armedAt(seq.start),
      createdAt: 0,
    },
    { time: 0, actor: 'reliability', action: 'device.create', deviceId, reason: null },
  );
  const model = new ReplayModel(seq.start);
  const used: number[] = [];
  let ok = true;
  const submit = (op: Op, nonce: number) =>
    op.viaAcceptNonce
      ? storage.acceptNonce(deviceId, nonce, seq.threshold)
      : storage.commitUpload(commit(deviceId, nonce, seq.threshold));
  for (const batch of seq.batches) {
    const nonces = batch.map((op) => nonceFor(op, model.high, used));
    const answers = together ? await Promise.all(batch.map((op, i) => submit(op, nonces[i]))) : [];
    for (let i = 0; i < batch.length; i++) {
      const got = together ? answers[i] : await submit(batch[i], nonces[i]);
      const want = model.decide(nonces[i], seq.mode, seq.threshold);
      tally.decisions++;
      if (got.ok) tally.accepted++;
      if (got.ok && !want.accept) tally.replaysAccepted++;
      if (!got.ok && want.accept) tally.validRefused++;
      const reason = got.ok ? undefined : 'reason' in got ? got.reason : undefined;
      if (!got.ok && !want.accept && want.reset !== (reason === 'counter_reset_suspected'))
        tally.wrongReason++;
      if (
        got.ok !== want.accept ||
        (!got.ok && !want.accept && want.reset !== (reason === 'counter_reset_suspected'))
      ) {
        ok = false;
        if (tally.examples.length < 5) {
          tally.examples.push(
            `${deviceId} ${JSON.stringify(seq.mode)} start ${seq.start} threshold ${seq.threshold}: nonce ${nonces[i]} ` +
              `${got.ok ? 'accepted' : `refused (${reason})`}, model ${want.accept ? 'accepts' : 'refuses'}`,
          );
        }
      }
      used.push(nonces[i]);
    }
  }
  tally.sequences++;
  return ok;
}

/** `count` sequences one after the other, each batch submitted together (shrinks a failure). */
async function runSequences(storage: Storage, count: number, seed: number, prefix: string): Promise<Tally> {
  const tally = newTally();
  let id = 0;
  await fc.assert(
    fc.asyncProperty(sequenceArb, (seq) => runSequence(storage, seq, `${prefix}-${id++}`, tally, true)),
    { numRuns: count, seed },
  );
  return tally;
}

/**
 * `count` sequences, `parallel` devices at a time, each device's operations one after the other:
 * the operations of different devices arrive together (a PostgreSQL instance commits them as one
 * group), while each device's order stays the model's.
 */
async function runSequencesConcurrently(
  storage: Storage,
  count: number,
  seed: number,
  prefix: string,
  parallel: number,
): Promise<Tally> {
  const tally = newTally();
  const sequences = fc.sample(sequenceArb, { numRuns: count, seed });
  for (let from = 0; from < sequences.length; from += parallel) {
    await Promise.all(
      sequences
        .slice(from, from + parallel)
        .map((seq, k) => runSequence(storage, seq, `${prefix}-${from + k}`, tally, false)),
    );
  }
  return tally;
}

function commit(deviceId: string, nonce: number, threshold: number): UploadCommit {
  return {
    deviceId,
    registerWith: POLICY({ kind: 'strict' }),
    nonce,
    counterResetThreshold: threshold,
    initialHigh: 10_000,
    keyKid: null,
    protocol: 'v1',
    generation: 'e84f720',
    encrypted: false,
    receivedAt: 0,
    source: '127.0.0.1',
    requestId: 'reliability',
    deviceTimestamp: null,
    packets: [],
  };
}

function stateTally(name: string, t: Tally): void {
  fig.info(`${name}: sequences`, t.sequences);
  fig.info(`${name}: nonce decisions`, t.decisions);
  fig.info(`${name}: accepted`, t.accepted);
  fig.bounded(`${name}: replays accepted`, t.replaysAccepted, { max: 0 });
  fig.bounded(`${name}: valid nonces refused`, t.validRefused, { max: 0 });
  fig.bounded(`${name}: counter resets not reported as such`, t.wrongReason, { max: 0 });
}

let pg: PrivatePostgres | undefined;
afterAll(async () => {
  await pg?.dispose();
});

describe('concurrency', () => {
  it(`storage port, ${P.memorySequences + P.fileSequences} adversarial sequences: every decision as the model, no replay accepted, no valid nonce refused`, async () => {
    const { SqliteStorage } = await fromDist<typeof import('../../src/adapters/sqlite/sqlite-storage.js')>(
      'src/adapters/sqlite/sqlite-storage.js',
    );
    const memory = await SqliteStorage.open({
      dataDir: ':memory:',
      synchronous: 'FULL',
      maxBatch: 1024,
      outbox: false,
    });
    const t0 = performance.now();
    let inMemory: Tally;
    try {
      inMemory = await runSequences(memory, P.memorySequences, SEED, 'mem');
    } finally {
      await memory.close();
    }
    const memSeconds = (performance.now() - t0) / 1000;
    // The production path: a file, the writer thread, answers crossing threads.
    const dataDir = tempDir();
    const file = await SqliteStorage.open({ dataDir, synchronous: 'NORMAL', maxBatch: 1024, outbox: false });
    let onFile: Tally;
    try {
      onFile = await runSequences(file, P.fileSequences, SEED + 1, 'file');
    } finally {
      await file.close();
    }
    const db = new Database(path.join(dataDir, 'ecowatt.db'), { readonly: true });
    const twice = (
      db
        .prepare(
          'SELECT count(*) AS n FROM (SELECT 1 FROM uploads WHERE nonce IS NOT NULL GROUP BY device_id, nonce HAVING count(*) > 1)',
        )
        .get() as { n: number }
    ).n;
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
    stateTally('in-memory SQLite', inMemory);
    fig.info('in-memory SQLite: rate', round(inMemory.decisions / memSeconds), 'decisions/s');
    stateTally('SQLite file, writer thread', onFile);
    fig.bounded('SQLite file: (device, nonce) stored twice', twice, { max: 0 });
    fig.note(
      'Sequences: strict or window 1/2/8/64/1024, armed at 10000, a random nonce, near 2^32 or not at all; counter-reset ' +
        'thresholds 1000/50/1; batches of up to 6 uploads or /changes-style acceptances submitted together, drawn from ' +
        'next, duplicate, old, reordered (±window), far-future (+10^6), wiped (10001) and wrap-around (2^32−1) nonces.',
    );
    const examples = [...inMemory.examples, ...onFile.examples];
    expect(examples).toEqual([]);
    expect(inMemory.replaysAccepted + onFile.replaysAccepted).toBe(0);
    expect(inMemory.validRefused + onFile.validRefused).toBe(0);
    expect(twice).toBe(0);
  });

  it('over HTTP, one server (SQLite): concurrent duplicates, reorders, old and far-future nonces', async () => {
    const server = await ServerProcess.start({ env: { ...NO_RATE_LIMITS, ECOWATT_MQTT_EMBEDDED: 'false' } });
    try {
      const t = await httpRounds([server], 'sqlite');
      httpFigures('one server (SQLite)', t);
      expect(t.examples).toEqual([]);
      expect(t.replaysAccepted).toBe(0);
      expect(t.validRefused).toBe(0);
    } finally {
      await server.stop();
    }
  });

  const noPg = privatePostgresUnavailable();
  it.skipIf(noPg !== undefined)(
    'over HTTP, two server instances sharing a private PostgreSQL: the same rounds, spread over both',
    async () => {
      pg = await PrivatePostgres.start();
      const env = { ...NO_RATE_LIMITS, ECOWATT_MQTT_EMBEDDED: 'false', ECOWATT_DATABASE_URL: pg.url };
      const a = await ServerProcess.start({ env });
      const b = await ServerProcess.start({ env });
      try {
        const t = await httpRounds([a, b], 'pg');
        httpFigures('two instances (PostgreSQL)', t);
        expect(t.examples).toEqual([]);
        expect(t.replaysAccepted).toBe(0);
        expect(t.validRefused).toBe(0);
      } finally {
        await a.stop();
        await b.stop();
      }
    },
  );
  it.skipIf(noPg !== undefined)(
    `storage port on PostgreSQL, ${P.fileSequences} adversarial sequences, 32 devices at a time: their uploads are group-committed, every decision as the model`,
    async () => {
      pg ??= await PrivatePostgres.start();
      const { PostgresStorage } = await fromDist<
        typeof import('../../src/adapters/postgres/postgres-storage.js')
      >('src/adapters/postgres/postgres-storage.js');
      const storage = await PostgresStorage.open({ url: pg.url, poolSize: 8, outbox: false });
      let t: Tally;
      try {
        t = await runSequencesConcurrently(storage, P.fileSequences, SEED + 2, 'pgseq', 32);
      } finally {
        await storage.close();
      }
      stateTally('PostgreSQL', t);
      fig.info('PostgreSQL: uploads group-committed', storage.groups.stats.uploads);
      fig.info('PostgreSQL: groups', storage.groups.stats.groups);
      expect(t.examples).toEqual([]);
      expect(t.replaysAccepted).toBe(0);
      expect(t.validRefused).toBe(0);
      expect(storage.groups.stats.uploads).toBeGreaterThan(storage.groups.stats.groups);
    },
  );
  if (noPg) fig.note(`PostgreSQL runs skipped: ${noPg}.`);
});

interface HttpTally {
  requests: number;
  accepted: number;
  replaysAccepted: number;
  validRefused: number;
  rounds: number;
  examples: string[];
}

function httpFigures(name: string, t: HttpTally): void {
  fig.info(`${name}: rounds of concurrent requests`, t.rounds);
  fig.info(`${name}: requests`, t.requests);
  fig.info(`${name}: accepted`, t.accepted);
  fig.bounded(`${name}: replays accepted`, t.replaysAccepted, { max: 0 });
  fig.bounded(`${name}: valid in-window nonces refused`, t.validRefused, { max: 0 });
}

/**
 * Rounds whose correct outcome does not depend on the order the server applies them in: for a
 * window-W device, fresh nonces all within (H, H+W] are each accepted exactly once however they
 * interleave; duplicates of them, nonces below H−W and earlier nonces are always refused. A
 * far-future nonce gets a round of its own. Strict devices get one fresh nonce per round, sent
 * several times at once. Requests of a round go out together over many connections.
 */
async function httpRounds(servers: readonly ServerProcess[], tag: string): Promise<HttpTally> {
  const W = 64;
  const admin = servers[0];
  const devices: { id: string; window: boolean; high: number; used: number[] }[] = [];
  for (let i = 0; i < P.windowDevices; i++) {
    const id = `${tag}-win-${i}`;
    const res = await admin.admin('POST', '/api/devices', {
      id,
      replay: `window:${W}`,
      initial_nonce: 10_000,
    });
    if (res.status !== 201) throw new Error(`cannot create ${id}: ${JSON.stringify(res.json)}`);
    devices.push({ id, window: true, high: 10_000, used: [] });
  }
  for (let i = 0; i < P.strictDevices; i++) {
    devices.push({ id: `${tag}-strict-${i}`, window: false, high: 10_000, used: [] });
  }
  const agents = servers.map(() => new http.Agent({ keepAlive: true, maxSockets: 32 }));
  const tally: HttpTally = {
    requests: 0,
    accepted: 0,
    replaysAccepted: 0,
    validRefused: 0,
    rounds: 0,
    examples: [],
  };
  let rng = SEED;
  const random = () => {
    rng = (rng * 1_103_515_245 + 12_345) >>> 0;
    return rng / 2 ** 32;
  };
  const cache = new Map<string, string>();
  const body = (id: string, n: number) => {
    const key = `${id}#${n}`;
    let b = cache.get(key);
    if (!b) {
      b = sealed(id, n);
      cache.set(key, b);
    }
    return b;
  };
  try {
    for (let r = 0; r < P.rounds; r++) {
      const far = r > 0 && r % 7 === 0;
      const requests: { device: (typeof devices)[number]; nonce: number; fresh: boolean }[] = [];
      for (const d of devices) {
        if (far) {
          const n = d.high + 100_000;
          for (let k = 0; k < 3; k++) requests.push({ device: d, nonce: n, fresh: k === 0 });
          continue;
        }
        const fresh = new Set<number>();
        const count = d.window ? 1 + Math.floor(random() * 8) : 1;
        while (fresh.size < count) fresh.add(d.high + 1 + Math.floor(random() * (d.window ? W : 1)));
        for (const n of fresh) {
          const copies = 1 + Math.floor(random() * 3);
          for (let k = 0; k < copies; k++) requests.push({ device: d, nonce: n, fresh: k === 0 });
        }
        // Always refused, whatever the order: below the window, or used in an earlier round.
        requests.push({
          device: d,
          nonce: Math.max(0, d.high - W - Math.floor(random() * 50)),
          fresh: false,
        });
        if (d.used.length > 0)
          requests.push({ device: d, nonce: d.used[Math.floor(random() * d.used.length)], fresh: false });
        // A wiped counter starting again: only once that is far enough below to be refused.
        if (d.high - 10_001 >= W) requests.push({ device: d, nonce: 10_001, fresh: false });
      }
      for (let i = requests.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [requests[i], requests[j]] = [requests[j], requests[i]];
      }
      const answers = await Promise.all(
        requests.map((q, i) =>
          postOnce(servers[i % servers.length], agents[i % servers.length], body(q.device.id, q.nonce)),
        ),
      );
      const okCount = new Map<string, number>();
      requests.forEach((q, i) => {
        tally.requests++;
        const key = `${q.device.id}#${q.nonce}`;
        if (answers[i] === 200) {
          tally.accepted++;
          okCount.set(key, (okCount.get(key) ?? 0) + 1);
        } else if (answers[i] !== 401 && tally.examples.length < 5) {
          tally.examples.push(`${key}: unexpected status ${answers[i]}`);
        }
      });
      for (const q of requests) {
        const key = `${q.device.id}#${q.nonce}`;
        const n = okCount.get(key) ?? 0;
        const previouslyUsed = q.device.used.includes(q.nonce);
        if (q.fresh && !previouslyUsed) {
          if (n === 0) {
            tally.validRefused++;
            if (tally.examples.length < 5)
              tally.examples.push(`${key}: valid in-window nonce refused (round ${r})`);
          }
          if (n > 1) {
            tally.replaysAccepted += n - 1;
            if (tally.examples.length < 5) tally.examples.push(`${key}: accepted ${n} times (round ${r})`);
          }
        } else if (
          !q.fresh &&
          !requests.some((o) => o.fresh && o.device === q.device && o.nonce === q.nonce) &&
          n > 0
        ) {
          tally.replaysAccepted += n;
          if (tally.examples.length < 5)
            tally.examples.push(`${key}: old or repeated nonce accepted (round ${r})`);
        }
      }
      for (const d of devices) {
        const mine = requests.filter((q) => q.device === d && q.fresh);
        for (const q of mine) {
          d.used.push(q.nonce);
          d.high = Math.max(d.high, q.nonce);
        }
      }
      tally.rounds++;
    }
  } finally {
    for (const a of agents) a.destroy();
  }
  return tally;
}

function postOnce(server: ServerProcess, agent: http.Agent, body: string): Promise<number> {
  return new Promise((resolve) => {
    const payload = Buffer.from(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/process',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(payload);
  });
}
