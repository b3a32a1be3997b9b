/**
 * Fire-and-forget writes (counters, security events): a request is never held up, nor failed, by
 * them. A store hands each one to its `Background`, which may keep it until the store closes.
 */
export type Background = (write: Promise<unknown>) => void;

/** Nothing waits for them (SQLite: closing the writer drains its queue anyway). */
export const dropFailures: Background = (write) => void write.catch(() => undefined);
