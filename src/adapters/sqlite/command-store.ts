/** The SQLite CommandStore: reads on the request thread, writes through the shared writer. */
import type { Statement } from 'better-sqlite3';
import type {
  CancelOutcome,
  CommandStore,
  NewCommand,
  ResultOutcome,
  ResultStatus,
  StoredCommand,
} from '../../ports/command-store.js';
import { type CommandRow, commandFromRow, commandRowId } from './command-rows.js';
import type { SqliteStorage } from './sqlite-storage.js';

export class SqliteCommandStore implements CommandStore {
  private readonly st: Record<string, Statement>;

  constructor(private readonly storage: SqliteStorage) {
    const p = (sql: string) => storage.db.prepare(sql);
    this.st = {
      byId: p('SELECT * FROM commands WHERE id = ? AND device_id = ?'),
      all: p('SELECT * FROM commands WHERE device_id = ? ORDER BY id DESC LIMIT ?'),
    };
  }

  createCommand(command: NewCommand): Promise<StoredCommand> {
    return this.storage.writer.writes.commands.createCommand(command);
  }

  async listCommands(deviceId: string, limit: number): Promise<StoredCommand[]> {
    return (this.st.all.all(deviceId, limit) as CommandRow[]).map(commandFromRow);
  }

  async getCommand(deviceId: string, id: string): Promise<StoredCommand | undefined> {
    const rowId = commandRowId(id);
    const row =
      rowId === undefined ? undefined : (this.st.byId.get(rowId, deviceId) as CommandRow | undefined);
    return row ? commandFromRow(row) : undefined;
  }

  cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): Promise<CancelOutcome> {
    return this.storage.writer.writes.commands.cancelCommand(deviceId, id, actor, reason, time);
  }

  leaseNext(deviceId: string, time: number): Promise<StoredCommand[]> {
    return this.storage.writer.writes.commands.leaseNextCommand(deviceId, time);
  }

  recordResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): Promise<ResultOutcome> {
    return this.storage.writer.writes.commands.recordCommandResult(deviceId, id, status, detail, time);
  }
}
