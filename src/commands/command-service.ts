/**
 * Control commands: queued per device, handed to the device one at a time under a lease, offered
 * again when the lease lapses without a result (up to a bounded number of deliveries), results
 * recorded once per command id. Cancelled commands are never delivered.
 */
import { ApiError } from '../model/errors.js';
import type { FieldErrors } from '../model/field-errors.js';
import type { CommandStatus, CommandStore, ResultStatus, StoredCommand } from '../ports/command-store.js';
import type { DeviceRegistry } from '../ports/storage.js';
import { settleLease } from './command-lease.js';
import { parseCommand } from './command-schema.js';

export interface CommandDefaults {
  /** How long a delivered command waits for its result before it is offered again. */
  leaseSeconds: number;
  /** Deliveries before a command without a result is `expired`. */
  maxAttempts: number;
}

/** Until the settings carry them (`commandLeaseSeconds`, `commandMaxAttempts`). */
export const DEFAULT_COMMAND_LEASE_SECONDS = 60;
export const DEFAULT_COMMAND_MAX_ATTEMPTS = 3;

export const COMMAND_STATUSES: readonly CommandStatus[] = [
  'pending',
  'in_flight',
  'succeeded',
  'failed',
  'cancelled',
  'expired',
];

const SUCCEEDED = new Set(['succeeded', 'success', 'completed', 'ok']);
const FAILED = new Set(['failed', 'failure', 'error']);

function invalidCommand(fields: FieldErrors): never {
  const names = Object.keys(fields);
  throw new ApiError(
    'invalid_parameter',
    `Invalid command, nothing queued: ${names.map((n) => `${n}: ${fields[n]}`).join('; ')}`,
    { details: { field: names[0], fields } },
  );
}

export interface DeviceResult {
  commandId: string;
  status: ResultStatus;
  detail: string | null;
}

/** `executed_at` as the 1.3 firmware writes it (`strftime("%Y-%m-%dT%H:%M:%SZ")`, its own clock). */
const EXECUTED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/**
 * A result as generation 1.3 reports it, `{"command_result": {command_id, status: "success" |
 * "failed", executed_at}}` (PROTOCOL-1.3.md §7), or flat `{command_id, status, detail}`. The
 * device's `executed_at` is kept in the detail (its clock, 1970 when it never synchronised).
 */
export function parseDeviceResult(doc: Record<string, unknown>): DeviceResult {
  const inner = doc.command_result;
  const r =
    typeof inner === 'object' && inner !== null && !Array.isArray(inner)
      ? (inner as Record<string, unknown>)
      : doc;
  const fields: FieldErrors = {};
  const id = r.command_id;
  const commandId =
    typeof id === 'string' ? id : typeof id === 'number' && Number.isSafeInteger(id) ? String(id) : undefined;
  if (commandId === undefined) fields.command_id = 'required: the id the poll handed out';
  const raw = typeof r.status === 'string' ? r.status.trim().toLowerCase() : '';
  const status: ResultStatus | undefined = SUCCEEDED.has(raw)
    ? 'succeeded'
    : FAILED.has(raw)
      ? 'failed'
      : undefined;
  if (status === undefined) fields.status = 'expected "succeeded" or "failed"';
  const text = [r.detail, r.result, r.error].find((x) => typeof x === 'string') as string | undefined;
  if (Object.keys(fields).length > 0) invalidCommand(fields);
  // The outcome matters more than the clock: an odd `executed_at` is kept as text, never refused.
  const at = r.executed_at;
  const executed =
    typeof at !== 'string'
      ? undefined
      : EXECUTED_AT.test(at)
        ? `executed at ${at} (device clock)`
        : `executed at ${JSON.stringify(at.slice(0, 40))} (device clock, not ISO 8601)`;
  const detail = [text?.slice(0, 1000), executed].filter((x) => x !== undefined).join('; ');
  return {
    commandId: commandId as string,
    status: status as ResultStatus,
    detail: detail === '' ? null : detail,
  };
}

export class CommandService {
  constructor(
    private readonly store: CommandStore,
    private readonly registry: Pick<DeviceRegistry, 'getDevice'>,
    private readonly defaults: CommandDefaults = {
      leaseSeconds: DEFAULT_COMMAND_LEASE_SECONDS,
      maxAttempts: DEFAULT_COMMAND_MAX_ATTEMPTS,
    },
    private readonly now: () => number = Date.now,
  ) {}

  private async requireDevice(id: string): Promise<void> {
    if (!(await this.registry.getDevice(id))) throw new ApiError('not_found', `No device "${id}".`);
  }

  async send(deviceId: string, body: Record<string, unknown>, actor: string): Promise<StoredCommand> {
    const parsed = parseCommand(body);
    if ('errors' in parsed) invalidCommand(parsed.errors);
    await this.requireDevice(deviceId);
    const { spec } = parsed;
    return this.store.createCommand({
      deviceId,
      type: spec.type,
      params: spec.params,
      percent: spec.percent,
      maxAttempts: spec.maxAttempts ?? this.defaults.maxAttempts,
      leaseMs: (spec.leaseSeconds ?? this.defaults.leaseSeconds) * 1000,
      createdAt: this.now(),
      createdBy: actor,
      reason: spec.reason,
    });
  }

  /** Newest first, each with the status it has now (a lapsed lease counts as lapsed). */
  async list(deviceId: string, query: { status?: CommandStatus; limit: number }): Promise<StoredCommand[]> {
    await this.requireDevice(deviceId);
    const now = this.now();
    const all = (await this.store.listCommands(deviceId, query.limit)).map((c) => this.current(c, now));
    return query.status === undefined ? all : all.filter((c) => c.status === query.status);
  }

  async get(deviceId: string, id: string): Promise<StoredCommand> {
    await this.requireDevice(deviceId);
    const c = await this.store.getCommand(deviceId, id);
    if (!c) throw new ApiError('not_found', `Device "${deviceId}" has no command "${id}".`);
    return this.current(c, this.now());
  }

  private current(c: StoredCommand, now: number): StoredCommand {
    const status = settleLease(c, now);
    return status === c.status ? c : { ...c, status, leaseUntil: null };
  }

  async cancel(deviceId: string, id: string, actor: string, reason: string | null): Promise<StoredCommand> {
    await this.requireDevice(deviceId);
    const outcome = await this.store.cancelCommand(deviceId, id, actor, reason, this.now());
    if (outcome.ok) return outcome.command;
    if (outcome.reason === 'not_found')
      throw new ApiError('not_found', `Device "${deviceId}" has no command "${id}".`);
    if (outcome.reason === 'in_flight') {
      throw new ApiError(
        'conflict',
        `Command ${id} is with the device until ${new Date(outcome.command.leaseUntil ?? 0).toISOString()}; wait for its result or for the lease to lapse.`,
      );
    }
    throw new ApiError('conflict', `Command ${id} is already ${outcome.command.status}.`);
  }

  /** The device's poll: at most one command, the oldest, under a fresh lease. */
  poll(deviceId: string): Promise<StoredCommand[]> {
    return this.store.leaseNext(deviceId, this.now());
  }

  async report(
    deviceId: string,
    doc: Record<string, unknown>,
  ): Promise<{ command: StoredCommand; duplicate: boolean }> {
    const r = parseDeviceResult(doc);
    const outcome = await this.store.recordResult(deviceId, r.commandId, r.status, r.detail, this.now());
    if (outcome.ok) return { command: outcome.command, duplicate: outcome.duplicate };
    if (outcome.reason === 'not_found') {
      throw new ApiError('not_found', `Device "${deviceId}" has no command "${r.commandId}".`);
    }
    throw new ApiError(
      'conflict',
      `Command ${r.commandId} was never delivered; a result for it cannot be true.`,
    );
  }
}
