/**
 * Everything that writes to the SQLite file, on the one write connection: the upload commit with
 * its replay advance (`core`) and each role's and capability's writes. Built where that connection lives — the writer
 * thread, or inline for an in-memory database — and reached from elsewhere only through
 * `writer-client.ts`, which carries calls to these targets and nothing else.
 */
import type { Database } from 'better-sqlite3';
import { CommandWrites } from '../sql/command-writes.js';
import { ConfigWrites } from '../sql/config-writes.js';
import { DeviceWrites } from '../sql/device-writes.js';
import { EventWrites } from '../sql/event-writes.js';
import { FirmwareWrites } from '../sql/firmware-writes.js';
import { OperatorWrites } from '../sql/operator-writes.js';
import { OutboxWrites } from '../sql/outbox-writes.js';
import { ReportWrites } from '../sql/report-writes.js';
import { GroupCommitter } from './group-commit.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { WriterPort } from './writer-ops.js';

/** `T`'s methods as they are called from another thread: every answer arrives later. */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/** Each method of `writes` run in its own savepoint of the group commit. */
function inGroupCommit<T extends object>(committer: GroupCommitter, writes: T): Remote<T> {
  const out: Record<string, unknown> = {};
  const names = new Set([
    ...Object.keys(writes),
    ...Object.getOwnPropertyNames(Object.getPrototypeOf(writes)),
  ]);
  for (const name of names) {
    const f = (writes as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof f !== 'function') continue;
    out[name] = (...args: unknown[]) => committer.run(() => f.apply(writes, args));
  }
  return out as Remote<T>;
}

export interface WriteSideOptions {
  maxBatch: number;
  /** Record what the MQTT relay must publish. */
  outbox: boolean;
}

export function openWriteSide(db: Database, opts: WriteSideOptions) {
  const committer = new GroupCommitter(db, opts.maxBatch);
  const sql = new SqliteExecutor(db, committer);
  const targets = {
    core: inGroupCommit(committer, new SqliteWriter(db, opts.outbox)),
    config: new ConfigWrites(sql),
    commands: new CommandWrites(sql),
    firmware: new FirmwareWrites(sql),
    devices: new DeviceWrites(sql),
    events: new EventWrites(sql, opts.outbox),
    reports: new ReportWrites(sql),
    outbox: new OutboxWrites(sql, 'id'),
    operators: new OperatorWrites(sql),
  };
  return { targets, committer };
}

/** The writes a store can call, wherever the write connection is. */
export type WriteTargets = ReturnType<typeof openWriteSide>['targets'];

/** The write side on the calling thread (an in-memory database, or the inline writer of a file). */
export function inlineWriter(db: Database, opts: WriteSideOptions): WriterPort {
  const side = openWriteSide(db, opts);
  return {
    writes: side.targets,
    drain: () => side.committer.drain(),
    close: () => side.committer.close(),
  };
}
