/**
 * Lease rules of command delivery (pure). A delivered command is in flight until its result
 * arrives or its lease runs out; then it is offered again, until it has been delivered
 * `maxAttempts` times, after which it is `expired` (the device may or may not have run it).
 */
import type { CommandStatus } from '../ports/command-store.js';

export interface LeaseSubject {
  status: CommandStatus;
  attempts: number;
  maxAttempts: number;
  leaseUntil: number | null;
}

/** The status a command has at `now`, once a lapsed lease is taken into account. */
export function settleLease(c: LeaseSubject, now: number): CommandStatus {
  if (c.status !== 'in_flight' || c.leaseUntil === null || c.leaseUntil > now) return c.status;
  return c.attempts >= c.maxAttempts ? 'expired' : 'pending';
}

export const isFinished = (s: CommandStatus): boolean =>
  s === 'succeeded' || s === 'failed' || s === 'cancelled' || s === 'expired';
