/**
 * The CommandStore, once for both databases: reads on a session of the request's thread, writes
 * through a `CommandWrites` wherever the write connection is (SQLite: the writer, maybe on its
 * own thread; PostgreSQL: the pool).
 */
import type {
  CancelOutcome,
  CommandStore,
  NewCommand,
  ResultOutcome,
  ResultStatus,
  StoredCommand,
} from '../../ports/command-store.js';
import { type CommandRow, commandFromRow, commandRowId, loadCommand } from './command-rows.js';
import type { CommandWrites } from './command-writes.js';
import type { SqlSession } from './sql-executor.js';

export class SqlCommandStore implements CommandStore {
  constructor(
    private readonly sql: SqlSession,
    private readonly writes: Pick<CommandWrites, keyof CommandWrites>,
  ) {}

  createCommand(command: NewCommand): Promise<StoredCommand> {
    return this.writes.createCommand(command);
  }

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

  cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): Promise<CancelOutcome> {
    return this.writes.cancelCommand(deviceId, id, actor, reason, time);
  }

  leaseNext(deviceId: string, time: number): Promise<StoredCommand[]> {
    return this.writes.leaseNext(deviceId, time);
  }

  recordResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): Promise<ResultOutcome> {
    return this.writes.recordResult(deviceId, id, status, detail, time);
  }
}
