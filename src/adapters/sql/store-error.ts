/**
 * Errors that cross a thread boundary (the SQLite writer's) keep what callers branch on: the
 * name, the message and the code (e.g. `SQLITE_BUSY`, `SQLITE_FULL`, or a store's own).
 */

export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
}

export function fromWireError(w: WireError): Error {
  const err = new Error(w.message);
  err.name = w.name;
  if (w.code !== undefined) Object.assign(err, { code: w.code });
  return err;
}
