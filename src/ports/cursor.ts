/** Opaque paging cursor for readings: the position of the next reading to return. */

export interface ReadingCursor {
  time: number;
  id: number;
  pos: number;
}

export function encodeCursor(c: ReadingCursor): string {
  return Buffer.from(`${c.time}.${c.id}.${c.pos}`).toString('base64url');
}

export function decodeCursor(cursor: string): ReadingCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  const m = /^(-?\d{1,16})\.(\d{1,16})\.(\d{1,4})$/.exec(Buffer.from(cursor, 'base64url').toString());
  return m ? { time: Number(m[1]), id: Number(m[2]), pos: Number(m[3]) } : undefined;
}
