/**
 * The CommandStore, once for both databases: reads on a session of the request's thread, writes
 * through a `CommandWrites` wherever the write connection is (SQLite: the writer, maybe on its
 * own thread; PostgreSQL: the pool).
 */
import type { CommandStore, StoredCommand } from '../../ports/command-store.js';
import { type CommandRow, commandFromRow, commandRowId, loadCommand } from './command-rows.js';
import type { CommandWrites } from './command-writes.js';
import type { SqlSession } from './sql-executor.js';

export class SqlCommandStore implements CommandStore {
  constructor(
    private readonly sql: SqlSession,
    private readonly writes: Pick<CommandWrites, keyof CommandWrites>,
  ) {}

  readonly createCommand: CommandStore['createCommand'] = (...a) => this.writes.createCommand(...a);

  async listCommands(deviceId: string, limit: number): Promise<StoredCommand[]> {
    const rows = await this.sql.all<CommandRow>(
      'SELECT * FROM commands WHERE device_id = ? ORDER BY id DESC LIMIT ?',
      [deviceId, limit],
    );
    return rows.map(commandFromRow);
  }

  async getCommand(deviceId: string, id: string): Promise<StoredCommand | undefined> {
    const rowId = commandRowId(id);
    return rowId === undefined ? undefined : loadCommand(this.sql, rowId, deviceId);
  }

  readonly cancelCommand: CommandStore['cancelCommand'] = (...a) => this.writes.cancelCommand(...a);

  readonly leaseNext: CommandStore['leaseNext'] = (...a) => this.writes.leaseNext(...a);

  readonly recordResult: CommandStore['recordResult'] = (...a) => this.writes.recordResult(...a);
}
