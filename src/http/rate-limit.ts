/**
 * Token-bucket rate limits: per source address before anything is parsed, and per device after
 * authentication. Defaults leave a field device's cadence (an upload every 15 s, a /changes poll
 * every 5 s, OTA chunks back to back) far below any limit.
 */
import { ApiError } from '../model/errors.js';

export interface BucketSpec {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the burst allowed. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A rate limit, kept in this process or shared by several instances (Redis). */
export interface Limiter {
  readonly name: string;
  /** Takes one token for `key`; throws a 429 `rate_limited` ApiError when there is none. */
  take(key: string): void | Promise<void>;
}

export class RateLimiter implements Limiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly name: string,
    private readonly spec: BucketSpec,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; throws a 429 `rate_limited` (with Retry-After) when there is none. */
  take(key: string): void {
    if (this.spec.rate <= 0) return;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // Idle buckets are full again anyway: forgetting the oldest keys loses nothing.
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      b = { tokens: this.spec.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.spec.burst, b.tokens + ((now - b.at) / 1000) * this.spec.rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / this.spec.rate));
    throw new ApiError(
      'rate_limited',
      `Rate limit "${this.name}" (${this.spec.rate}/s, burst ${this.spec.burst}) exceeded; retry in ${retryAfter} s.`,
      { retryAfterSeconds: retryAfter, details: { limit: this.name } },
    );
  }

  private prune(now: number): void {
    const fullAfterMs = (this.spec.burst / this.spec.rate) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > fullAfterMs) this.buckets.delete(k);
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}
