/**
 * Crash: the server is killed with SIGKILL at random moments while a fleet uploads (and replays
 * old envelopes), then started again on the same data. After every restart the SQLite file is
 * read directly: every acknowledged upload is there, no (device, nonce) was accepted twice, and
 * every acknowledged upload is either still in the MQTT outbox or was delivered to a subscriber.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/sim/inverter.js';
import { runSimulation, type SimulationSummary } from '../../src/sim/simulator.js';
import { eventually } from '../helpers/eventually.js';
import { mosquittoInstalled, PrivateMosquitto } from '../helpers/mosquitto.js';
import { NO_RATE_LIMITS } from './harness/dist.js';
import { CaseFigures } from './harness/figures.js';
import { ReadingsSubscriber } from './harness/mqtt.js';
import { sized } from './harness/profile.js';
import { ServerProcess, tempDir } from './harness/server.js';
import { inspectStore as inspect } from './harness/sqlite-check.js';
import { round } from './harness/stats.js';

const fig = new CaseFigures('crash');
beforeAll(() => fig.machineLoad('at start'));
afterAll(() => fig.machineLoad('at end'));

const P = sized({
  quick: { kills: 3, devices: 40, minDelayMs: 400, maxDelayMs: 2500 },
  full: { kills: 10, devices: 80, minDelayMs: 500, maxDelayMs: 4000 },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: ServerProcess | undefined;
let broker: PrivateMosquitto | undefined;
let subscriber: ReadingsSubscriber | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  const code = await server?.stop();
  await subscriber?.close();
  await broker?.dispose();
  // Kept after a failure (or with RELIABILITY_KEEP_LOGS), to look at what was stored.
  if (dataDir && code === 0 && !process.env.RELIABILITY_KEEP_LOGS)
    rmSync(dataDir, { recursive: true, force: true });
});

describe('crash', () => {
  it(`kill -9 at random points under load, ${P.kills} times: nothing acknowledged is lost, no nonce accepted twice, outbox complete`, async () => {
    if (mosquittoInstalled()) {
      broker = await PrivateMosquitto.start();
      subscriber = await ReadingsSubscriber.connect(broker.url, `rel-crash-${process.pid}`);
    } else {
      fig.note(
        'Mosquitto is not installed: the outbox is checked for pending records only, not for delivery.',
      );
    }
    const dir = tempDir();
    dataDir = dir;
    // Devices here upload every 50 ms, far beyond the field cadence the rate limits are made for.
    server = await ServerProcess.start({
      dataDir: dir,
      env: { ...NO_RATE_LIMITS, ...(broker ? { ECOWATT_MQTT_URL: broker.url } : {}) },
    });
    const url = server.url;
    const controller = new AbortController();
    let live: SimulationSummary | undefined;
    const simulation = runSimulation({
      url,
      devices: P.devices,
      intervalSeconds: 0.05,
      durationSeconds: 3600,
      encrypt: false,
      varied: true,
      keepAcknowledged: true,
      // Replays of recently accepted envelopes land right before and after each kill.
      misbehave: { replay: 0.05 },
      signal: controller.signal,
      onProgress: (s) => {
        live = s;
      },
    });
    const random = seededRandom(20_260_621);
    const delays: number[] = [];
    const restarts: number[] = [];
    let missing: string[] = [];
    let noncesTwice = 0;
    let unpublished: string[] = [];
    let maxPending = 0;
    try {
      for (let k = 0; k < P.kills; k++) {
        const delay = Math.round(P.minDelayMs + random() * (P.maxDelayMs - P.minDelayMs));
        delays.push(delay);
        await sleep(delay);
        await server.kill9();
        // Devices see refused connections and keep their data, as they would in the field.
        await sleep(200 + Math.round(random() * 300));
        const t = performance.now();
        server = await server.restart();
        restarts.push(performance.now() - t);
        const acked = [...(live?.acknowledged ?? [])];
        const published = subscriber?.uploads;
        const first = inspect(dir, acked, published);
        missing.push(...first.missing);
        noncesTwice = Math.max(noncesTwice, first.noncesTwice);
        maxPending = Math.max(maxPending, first.outboxPending);
        // A record the relay has just removed may still be on its way to the subscriber.
        const settled = await eventually(async () => {
          const c = inspect(dir, acked, published);
          if (c.unpublished.length > 0)
            throw new Error(`unpublished: ${c.unpublished.slice(0, 5).join(', ')}`);
          return c;
        }, 10_000).catch(() => inspect(dir, acked, published));
        unpublished.push(...settled.unpublished);
      }
    } finally {
      controller.abort();
    }
    const summary = await simulation;
    const acked = summary.acknowledged;
    const final = inspect(dir, acked, subscriber?.uploads);
    missing = [...new Set([...missing, ...final.missing])];
    noncesTwice = Math.max(noncesTwice, final.noncesTwice);
    const drainStart = performance.now();
    const drained = await eventually(async () => {
      const c = inspect(dir, acked, subscriber?.uploads);
      if (c.outboxPending > 0 || c.unpublished.length > 0) throw new Error(`${c.outboxPending} pending`);
      return c;
    }, 30_000).catch(() => inspect(dir, acked, subscriber?.uploads));
    const drainSeconds = (performance.now() - drainStart) / 1000;
    unpublished = [...new Set([...unpublished, ...drained.unpublished])];

    const valid = summary.byIntent.valid ?? { sent: 0, outcomes: {}, unexpected: 0 };
    const replay = summary.byIntent.replay ?? { sent: 0, outcomes: {}, unexpected: 0 };
    const validRefused = Object.entries(valid.outcomes)
      .filter(([k]) => k !== '200' && k !== 'transport_error')
      .reduce((n, [, v]) => n + v, 0);
    fig.info('kills (SIGKILL)', P.kills);
    fig.info('delay before each kill', delays.join(', '), 'ms');
    fig.info('restart to listening, max', round(Math.max(...restarts)), 'ms');
    fig.info('uploads sent', summary.sent);
    fig.info('uploads acknowledged (200)', acked.length);
    fig.info('uploads lost in transport while the server was down', valid.outcomes.transport_error ?? 0);
    fig.bounded('acknowledged uploads missing after restarts', missing.length, { max: 0 });
    fig.bounded('(device, nonce) pairs stored twice', noncesTwice, { max: 0 });
    fig.info('replayed envelopes sent', replay.sent);
    fig.bounded('replayed envelopes accepted', replay.outcomes['200'] ?? 0, { max: 0 });
    fig.bounded('valid uploads refused (other than while down)', validRefused, { max: 0 });
    if (subscriber) {
      fig.info('outbox records pending right after a restart, max', maxPending);
      fig.bounded('acknowledged uploads neither pending nor delivered', unpublished.length, { max: 0 });
      fig.bounded('outbox drained after the last restart', drained.outboxPending, {
        max: 0,
        unit: 'records',
      });
      fig.info('time to drain the outbox after the run', round(drainSeconds, 1), 's');
    }
    fig.note(
      `${P.devices} devices uploading every 50 ms (about ${Math.round(P.devices / 0.05)} uploads/s offered), 5 % replays of recently accepted envelopes; ` +
        'SIGKILL at seeded random delays, restart on the same port and data directory; the SQLite file is read with better-sqlite3 after every restart' +
        (subscriber
          ? '; the server publishes to a private Mosquitto where a persistent QoS 1 subscriber records every upload it sees.'
          : '.'),
    );

    expect(missing, missing.slice(0, 10).join('\n')).toEqual([]);
    expect(noncesTwice).toBe(0);
    expect(replay.outcomes['200'] ?? 0).toBe(0);
    expect(validRefused).toBe(0);
    expect(unpublished, unpublished.slice(0, 10).join(', ')).toEqual([]);
    expect(drained.outboxPending).toBe(0);
    expect(acked.length).toBeGreaterThan(100);
  });
});
