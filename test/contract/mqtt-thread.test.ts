/**
 * The MQTT thread with the real SQLite writer thread and embedded broker (compiled code, as in
 * production): publication survives the thread dying, because a new one starts and resumes at
 * the oldest unpublished outbox record.
 */
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { MqttThread } from '../../src/mqtt/mqtt-thread.js';
import type { Storage } from '../../src/ports/storage.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { uploadCommit } from '../helpers/upload-commit.js';

const fromDist = <T>(file: string): Promise<T> => import(`${ROOT}/dist/${file}`) as Promise<T>;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('MQTT thread', () => {
  it('is started again after it dies and publishes what was committed meanwhile', async () => {
    const { SqliteStorage } = await fromDist<typeof import('../../src/adapters/sqlite/sqlite-storage.js')>(
      'src/adapters/sqlite/sqlite-storage.js',
    );
    const { MqttThread: Thread } =
      await fromDist<typeof import('../../src/mqtt/mqtt-thread.js')>('src/mqtt/mqtt-thread.js');
    const { loadSettings } = await fromDist<typeof import('../../src/settings/load-settings.js')>(
      'src/settings/load-settings.js',
    );
    const dataDir = tempDataDir();
    const { mqtt, storage: stored } = loadSettings({
      env: {
        ECOWATT_DATA_DIR: dataDir,
        ECOWATT_MQTT_PORT: String(await freePort()),
        ECOWATT_LOG_LEVEL: 'silent',
      },
    });
    const storage = await SqliteStorage.open({ dataDir, synchronous: 'FULL', maxBatch: 64 });
    cleanups.push(() => storage.close());
    // What the SQLite profile starts the thread with (adapters/open-stores.ts).
    const settings = {
      runtime: { mqtt, dataDir: stored.dataDir, databaseUrl: stored.databaseUrl },
      sqliteSynchronous: stored.sqliteSynchronous,
    };
    const thread: MqttThread = await Thread.start(settings, {
      attachWriter: () => storage.attachWriter(),
      worker: pathToFileURL(`${ROOT}/dist/src/adapters/sqlite/mqtt-worker.js`),
      sink: { applyFieldSettings: async () => undefined },
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => thread.close());
    const commit = async (nonce: number) => {
      const outcome = await (storage as Storage).commitUpload(uploadCommit('thread-dev', nonce, Date.now()));
      if (!outcome.ok) throw new Error('commit refused');
      thread.committed();
      return outcome.uploadId;
    };
    const watch = async () => {
      const client: MqttClient = await connectAsync(thread.ready().url, { reconnectPeriod: 0 });
      cleanups.push(() => client.endAsync(true));
      const states: { last_upload: string }[] = [];
      client.on('message', (_topic, payload) => states.push(JSON.parse(payload.toString())));
      await client.subscribeAsync('ecowatt/thread-dev/state', { qos: 1 });
      return states;
    };

    const first = await commit(10001);
    const before = await watch();
    await eventually(async () => expect(before.at(-1)?.last_upload).toBe(first));

    // The thread dies (as an uncaught error in it would end it); the server keeps accepting.
    await (thread as unknown as { running: { worker: Worker } }).running.worker.terminate();
    expect(thread.ready().ok).toBe(false);
    const meanwhile = await commit(10002);

    await eventually(async () => expect(thread.ready().ok).toBe(true), 10_000);
    expect(thread.restartCount).toBe(1);
    // The state topic is retained: a subscriber of the new broker sees the newest upload.
    const after = await watch();
    await eventually(async () => expect(after.at(-1)?.last_upload).toBe(meanwhile), 10_000);
    const status = await thread.status();
    expect(status.link.connected).toBe(true);
    expect(status.outbox.depth).toBe(0);
  });
});
