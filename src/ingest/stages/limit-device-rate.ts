/**
 * Stage 3: the per-device rate limit, taken only once the device is authenticated so a stranger
 * cannot spend a device's tokens by naming it. 429 with Retry-After, no security event.
 */
import { type Outcome, quietRefusal, refused } from '../../devices/refusals.js';
import { ApiError } from '../../errors.js';
import type { Limiter } from '../../http/rate-limit.js';

export async function limitDeviceRate(
  limiter: Limiter | undefined,
  deviceId: string,
): Promise<Outcome<void>> {
  try {
    await limiter?.take(deviceId);
  } catch (err) {
    // A limiter says "no token" by throwing (the per-source hook lets that reach the error
    // handler as it is); anything else it throws is a fault, not a refusal.
    if (!(err instanceof ApiError) || err.code !== 'rate_limited') throw err;
    return refused(
      quietRefusal(err.code, err.message, { retryAfterSeconds: err.retryAfterSeconds, details: err.details }),
    );
  }
  return { ok: true, value: undefined };
}
