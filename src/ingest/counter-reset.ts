/**
 * Why an authentic nonce lies far below the highest accepted one (PROTOCOL-1.3.md §2, §10;
 * PROTOCOL.md §10.4). Each cause is a re-provisioning event an operator sees and re-arms with
 * `ecowatt device replay-reset`; none is ever accepted silently. Pure.
 */
import type { Generation } from '../model/device.js';

export type CounterResetCause = 'nonce_wrapped' | 'id_collision' | 'nvs_wiped' | 'unknown';

const U32_MAX = 0xffff_ffff;
/** A counter this close to 2^32−1 that is followed by a small one has wrapped. */
const WRAP_MARGIN = 1_000_000;
/** Where each generation's counter restarts after its NVS is erased (first nonce is one above). */
const BOOT_FLOOR: Record<Generation, number> = { e84f720: 10_000, '1.3': 11_000 };
/** How many requests after a restart still read as "just restarted". */
const RESTART_SPAN = 100_000;

export interface CounterResetFacts {
  generation: Generation;
  nonce: number;
  high: number | null;
  /** Address of this request, and of the device's latest authenticated upload. */
  source: string;
  lastSource: string | null;
}

export function classifyCounterReset(f: CounterResetFacts): CounterResetCause {
  if (f.high !== null && f.high > U32_MAX - WRAP_MARGIN && f.nonce < WRAP_MARGIN) return 'nonce_wrapped';
  // Another unit with the same id keeps its own counter, from its own address.
  if (f.lastSource !== null && f.lastSource !== f.source) return 'id_collision';
  const floor = BOOT_FLOOR[f.generation];
  if (f.nonce > floor && f.nonce <= floor + RESTART_SPAN) return 'nvs_wiped';
  return 'unknown';
}

export function counterResetAdvice(
  cause: CounterResetCause,
  deviceId: string,
  nonce: number,
  high: number | null,
): string {
  const rearm = `re-arm with \`ecowatt device replay-reset ${deviceId} --reason … --to ${Math.max(0, nonce - 1)}\``;
  switch (cause) {
    case 'nonce_wrapped':
      return `nonce counter wrapped from 2^32-1 to ${nonce} (last accepted ${high}); ${rearm}`;
    case 'id_collision':
      return `authentic nonce ${nonce} far below the last accepted ${high}, from another address: two units share this id`;
    case 'nvs_wiped':
      return `authentic nonce ${nonce} far below the last accepted ${high}: the device's stored counter was erased (re-flashed or NVS wiped); ${rearm}`;
    default:
      return `authentic nonce ${nonce} far below the last accepted ${high}; ${rearm}`;
  }
}
