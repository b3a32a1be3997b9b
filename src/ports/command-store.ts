/** Storage port of control commands: a per-device queue delivered under leases. */
import type { CommandType } from '../model/command.js';

export type CommandStatus = 'pending' | 'in_flight' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

export interface StoredCommand {
  id: string;
  deviceId: string;
  type: CommandType;
  params: Record<string, number>;
  /** Export power limit it writes, percent. */
  percent: number;
  status: CommandStatus;
  /** Deliveries so far. */
  attempts: number;
  maxAttempts: number;
  leaseMs: number;
  /** While in flight: when the device's time to report runs out. */
  leaseUntil: number | null;
  createdAt: number;
  createdBy: string;
  reason: string | null;
  deliveredAt: number | null;
  completedAt: number | null;
  detail: string | null;
  cancelledBy: string | null;
}

export type NewCommand = Pick<
  StoredCommand,
  | 'deviceId'
  | 'type'
  | 'params'
  | 'percent'
  | 'maxAttempts'
  | 'leaseMs'
  | 'createdAt'
  | 'createdBy'
  | 'reason'
>;

export type CancelOutcome =
  | { ok: true; command: StoredCommand }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'in_flight' | 'finished'; command: StoredCommand };

export type ResultStatus = 'succeeded' | 'failed';

export type ResultOutcome =
  /** `duplicate`: the command had its result already; the first one stands. */
  | { ok: true; command: StoredCommand; duplicate: boolean }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'not_delivered'; command: StoredCommand };

export interface CommandStore {
  createCommand(command: NewCommand): Promise<StoredCommand>;
  /** Newest first, as stored (a lapsed lease is settled by the next poll; see `settleLease`). */
  listCommands(deviceId: string, limit: number): Promise<StoredCommand[]>;
  getCommand(deviceId: string, id: string): Promise<StoredCommand | undefined>;
  cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): Promise<CancelOutcome>;
  /**
   * Settles expired leases, then hands out the oldest pending command under a new lease, unless
   * one is still in flight (commands reach the device one at a time, in order).
   */
  leaseNext(deviceId: string, time: number): Promise<StoredCommand[]>;
  recordResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): Promise<ResultOutcome>;
}
