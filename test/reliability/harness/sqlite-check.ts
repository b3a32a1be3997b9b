/**
 * Reads the server's SQLite file the way another process would (read-only, while the server may
 * be running): what is stored, what was stored twice, what the outbox still holds.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AcknowledgedUpload } from '../../../src/sim/simulator.js';

export interface StoreCheck {
  /** Acknowledged uploads that are not stored as acknowledged (device and nonce). */
  missing: string[];
  /** (device, nonce) pairs stored more than once. */
  noncesTwice: number;
  outboxPending: number;
  /** Acknowledged uploads neither pending in the outbox nor seen by the subscriber. */
  unpublished: string[];
  uploads: number;
}

export function inspectStore(
  dataDir: string,
  acked: readonly AcknowledgedUpload[],
  published?: ReadonlySet<string>,
): StoreCheck {
  const db = new Database(path.join(dataDir, 'ecowatt.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = new Map<string, { device_id: string; nonce: number | null }>();
    const all = db.prepare('SELECT id, device_id, nonce FROM uploads').iterate() as Iterable<{
      id: number;
      device_id: string;
      nonce: number | null;
    }>;
    for (const r of all) rows.set(String(r.id), r);
    const missing = acked
      .filter((a) => {
        const row = rows.get(a.uploadId);
        return !row || row.device_id !== a.deviceId || row.nonce !== a.nonce;
      })
      .map((a) => `${a.deviceId}#${a.nonce} (upload ${a.uploadId})`);
    const { n: noncesTwice } = db
      .prepare(
        `SELECT count(*) AS n FROM (SELECT 1 FROM uploads WHERE nonce IS NOT NULL
         GROUP BY device_id, nonce HAVING count(*) > 1)`,
      )
      .get() as { n: number };
    const pendingRows = db.prepare("SELECT ref_id FROM outbox WHERE kind = 'upload'").all() as {
      ref_id: string;
    }[];
    const pending = new Set(pendingRows.map((r) => r.ref_id));
    let unpublished: string[] = [];
    if (published) {
      // An upload whose packets all repeat earlier ones (a re-send after a lost answer) stores no
      // samples: there is nothing to publish, and the relay marks its record without a message.
      const emptyRows = db
        .prepare(
          'SELECT id FROM uploads u WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.upload_id = u.id)',
        )
        .all() as { id: number }[];
      const empty = new Set(emptyRows.map((r) => String(r.id)));
      unpublished = acked
        .filter((a) => !pending.has(a.uploadId) && !published.has(a.uploadId) && !empty.has(a.uploadId))
        .map((a) => a.uploadId);
    }
    return { missing, noncesTwice, outboxPending: pending.size, unpublished, uploads: rows.size };
  } finally {
    db.close();
  }
}
