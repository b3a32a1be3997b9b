/**
 * The MQTT thread's entry with the SQLite file (started by `mqtt/mqtt-thread.ts`): the thread reads
 * the outbox from its own connection to the file and marks records published through the storage
 * writer thread, over the port it was handed.
 */
import { runMqttWorker } from '../../mqtt/mqtt-worker.js';
import { SqliteStorage } from './sqlite-storage.js';
import { AttachedWriter } from './writer-client.js';

await runMqttWorker(({ runtime, sqliteSynchronous, writerPort }) =>
  SqliteStorage.attached(runtime.dataDir, sqliteSynchronous, new AttachedWriter(writerPort)),
);
