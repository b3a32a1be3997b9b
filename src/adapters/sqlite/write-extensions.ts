/**
 * Capabilities other than ingestion and the registry (configuration, commands, firmware …) add
 * their own write operations here. Each extension adds its ops to `WriterOps` by declaration
 * merging (`declare module './writer-ops.js'`) and returns their handlers; the writer, inline or
 * on its thread, runs them in the same group-committed transactions as every other write.
 */
import type { Database } from 'better-sqlite3';
import { commandWrites } from './command-writes.js';
import { configWrites } from './config-writes.js';
import { firmwareWrites } from './firmware-writes.js';
import { reportWrites } from './report-writes.js';
import type { WriterOp, WriterOps } from './writer-ops.js';

export type WriteHandlers = {
  [K in WriterOp]?: (...args: WriterOps[K]['args']) => WriterOps[K]['result'];
};

export type WriteExtension = (db: Database) => WriteHandlers;

export const WRITE_EXTENSIONS: readonly WriteExtension[] = [
  configWrites,
  commandWrites,
  firmwareWrites,
  reportWrites,
];
