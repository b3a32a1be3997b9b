/**
 * Token buckets kept in Redis, so several instances enforce one limit together. The bucket is
 * updated by one script (atomic), timed by Redis's own clock (instances' clocks may differ).
 * When Redis does not answer, requests are let through: a limit is protection, not a gate that
 * may take the fleet down with it.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import type { Limiter } from '../../http/rate-limit.js';
import { ApiError } from '../../model/errors.js';
import type { RateSpec } from '../../settings/parsers.js';

const TAKE_LUA = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {ok, tostring(tokens)}
`;

export class RedisRateLimiter implements Limiter {
  constructor(
    readonly name: string,
    private readonly spec: RateSpec,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Connects before the server accepts requests; later outages are ridden out (fail open). */
  static async connect(url: string): Promise<Redis> {
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new Error(`cannot connect to Redis for rate limits: ${(err as Error).message}`);
    }
    return redis;
  }

  async take(key: string): Promise<void> {
    let answer: [number, string];
    try {
      answer = (await this.redis.eval(
        TAKE_LUA,
        1,
        `${this.prefix}rate:${this.name}:${key}`,
        String(this.spec.rate),
        String(this.spec.burst),
      )) as [number, string];
    } catch (err) {
      this.log.warn({ err, limit: this.name }, 'rate limit store unreachable; request let through');
      return;
    }
    if (answer[0] === 1) return;
    const tokens = Number(answer[1]);
    const retryAfter = Math.max(1, Math.ceil((1 - tokens) / this.spec.rate));
    throw new ApiError(
      'rate_limited',
      `Rate limit "${this.name}" (${this.spec.rate}/s, burst ${this.spec.burst}) exceeded; retry in ${retryAfter} s.`,
      { retryAfterSeconds: retryAfter, details: { limit: this.name } },
    );
  }
}
