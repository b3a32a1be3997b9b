/**
 * Replay state in Redis (`ECOWATT_REPLAY_STORE=redis`): one hash per device, checked and advanced
 * by one Lua script. The guarantees, and why the device row's copy is passed as a floor, are in
 * src/ports/replay-store.ts.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ReplayDecision, ReplayRejection, ReplayState } from '../../model/replay.js';
import type { ReplayCheck, ReplayStore } from '../../ports/replay-store.js';
import { REPLAY_LUA } from './replay-script.js';

export interface RedisReplayOptions {
  url: string;
  /** Prepended to every key, so deployments (or test suites) can share one Redis. */
  keyPrefix: string;
  /** Milliseconds to wait for a connection at start-up. */
  connectTimeoutMs?: number;
}

type ScriptReply = [1, string, string, number] | [0, ReplayRejection, string];

const SHA = createHash('sha1').update(REPLAY_LUA).digest('hex');

const hex = (seen: bigint) => seen.toString(16);

export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis';

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  static async open(opts: RedisReplayOptions): Promise<RedisReplayStore> {
    const redis = new Redis(opts.url, {
      lazyConnect: true,
      // A request must not wait for a reconnect: it answers 503 and the device retries later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
    });
    // Connection errors surface as failed commands; ioredis keeps reconnecting in the background.
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new Error(`cannot connect to Redis: ${(err as Error).message}`);
    }
    return new RedisReplayStore(redis, opts.keyPrefix);
  }

  key(deviceId: string): string {
    return `${this.prefix}replay:${deviceId}`;
  }

  async checkAndAdvance(c: ReplayCheck): Promise<ReplayDecision> {
    const args = [
      String(c.nonce),
      String(c.mode.kind === 'window' ? c.mode.size : 0),
      String(c.counterResetThreshold),
      c.stored.high === null ? '' : String(c.stored.high),
      hex(c.stored.seen),
      c.fresh ? '1' : '0',
    ];
    const reply = await this.run(this.key(c.deviceId), args);
    if (reply[0] === 0) return { accept: false, reason: reply[1] };
    return { accept: true, next: { high: Number(reply[1]), seen: BigInt(`0x${reply[2]}`) }, gap: reply[3] };
  }

  private async run(key: string, args: string[]): Promise<ScriptReply> {
    try {
      return (await this.redis.evalsha(SHA, 1, key, ...args)) as ScriptReply;
    } catch (err) {
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err;
      return (await this.redis.eval(REPLAY_LUA, 1, key, ...args)) as ScriptReply;
    }
  }

  async reset(deviceId: string, state: ReplayState): Promise<void> {
    await this.redis.hset(
      this.key(deviceId),
      'h',
      state.high === null ? '' : String(state.high),
      's',
      hex(state.seen),
    );
  }

  /** The stored state as Redis holds it (`undefined`: no key), for tests and diagnostics. */
  async peek(deviceId: string): Promise<ReplayState | undefined> {
    const [h, s] = await this.redis.hmget(this.key(deviceId), 'h', 's');
    if (s === null) return undefined;
    return { high: h ? Number(h) : null, seen: BigInt(`0x${s}`) };
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
