/**
 * The MQTT thread's entry with the SQLite file (started by `mqtt/mqtt-thread.ts`): the thread reads
 * the outbox from its own connection to the file and marks records published through the storage
 * writer thread, over the port it was handed, which also tells it when uploads were committed.
 */
import { runMqttWorker } from '../../mqtt/mqtt-worker.js';
import { SqliteStorage } from './sqlite-storage.js';
import { AttachedWriter } from './writer-client.js';

await runMqttWorker(({ runtime, sqliteSynchronous, writerPort }) => {
  const writer = new AttachedWriter(writerPort);
  return {
    store: SqliteStorage.attached(runtime.dataDir, sqliteSynchronous, writer),
    // The writer thread says when the request thread's writes landed (writer-worker.ts).
    onWritten: (listener) => writer.onWrote(listener),
  };
});
