import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/http/rate-limit.js';
import { ApiError } from '../../../src/model/errors.js';

describe('RateLimiter', () => {
  it('allows the burst, then refuses with a Retry-After, then recovers', () => {
    let now = 0;
    const limiter = new RateLimiter('per-source', { rate: 2, burst: 3 }, 10, () => now);
    for (let i = 0; i < 3; i++) limiter.take('a');
    let err: unknown;
    try {
      limiter.take('a');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('rate_limited');
    expect((err as ApiError).status).toBe(429);
    expect((err as ApiError).retryAfterSeconds).toBe(1);
    expect((err as ApiError).message).toContain('per-source');
    limiter.take('b');
    now = 500;
    limiter.take('a');
    expect(() => limiter.take('a')).toThrow(ApiError);
  });

  it('keeps a bounded number of keys', () => {
    let now = 0;
    const limiter = new RateLimiter('x', { rate: 1, burst: 1 }, 5, () => now);
    for (let i = 0; i < 50; i++) {
      now += 10_000;
      limiter.take(`k${i}`);
    }
    expect(() => limiter.take('k49')).toThrow(ApiError);
  });
});
