/** JSON shape of a command in the admin API (its schema: command-api-schemas.ts). */

import type { Static } from 'typebox';
import type { StoredCommand } from '../../ports/command-store.js';
import { firmwareCommand } from '../command-answer.js';
import type { CommandView } from './command-api-schemas.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

function deviceCommand(c: StoredCommand) {
  try {
    return firmwareCommand(c);
  } catch {
    return null;
  }
}

export function commandView(c: StoredCommand): Static<typeof CommandView> {
  return {
    id: c.id,
    device_id: c.deviceId,
    type: c.type,
    params: c.params,
    // What a polling device is handed (`commands[0].command`, PROTOCOL-1.3.md §7).
    device_command: deviceCommand(c),
    export_limit_percent: c.percent,
    status: c.status,
    attempts: c.attempts,
    max_attempts: c.maxAttempts,
    lease_seconds: c.leaseMs / 1000,
    lease_expires_at: isoOrNull(c.leaseUntil),
    created_at: iso(c.createdAt),
    created_by: c.createdBy,
    reason: c.reason,
    delivered_at: isoOrNull(c.deliveredAt),
    completed_at: isoOrNull(c.completedAt),
    detail: c.detail,
    cancelled_by: c.cancelledBy,
  };
}
