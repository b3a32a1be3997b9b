/** Marking outbox records published: they are deleted, in one transaction. */
import type { SqlExecutor } from './sql-executor.js';

/**
 * The column that is a record's `OutboxRecord.id`: SQLite's `id` (one writer, so insertion order
 * is commit order); PostgreSQL's `seq`, stamped once committed (see postgres/outbox-leader.ts).
 */
export type OutboxOrder = 'id' | 'seq';

export class OutboxWrites {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly order: OutboxOrder,
  ) {}

  async markPublished(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    // Sent together, not one after another's answer: PostgreSQL pipelines them on the connection.
    await this.sql.transaction(null, (tx) =>
      Promise.all(ids.map((id) => tx.run(`DELETE FROM outbox WHERE ${this.order} = ?`, [id]))),
    );
  }
}
