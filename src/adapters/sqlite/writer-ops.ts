/** The writer's messages: a call of one write target's method, and its answer. */
import type { WireError } from '../sql/store-error.js';
import type { WriteTargets } from './write-side.js';

export interface WriterRequest {
  id: number;
  target: string;
  method: string;
  args: unknown[];
  /** The arguments as JSON instead of `args` (see writer-client.ts). */
  json?: string;
}

export type WriterResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** The write connection as a store sees it: on this thread, or a client of the writer thread. */
export interface WriterPort {
  readonly writes: WriteTargets;
  /** Resolves once every write made so far is committed. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
