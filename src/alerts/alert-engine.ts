/**
 * Alert rules over the event stream: too many MAC failures or replays from one device within a
 * window, a suspected counter reset, a device silent for too long, a stalled outbox. An alert is
 * stored as an event (code `alert`, so it is listed, audited and published on the device's MQTT
 * events topic like any event) and POSTed to a webhook; a repeat of the same alert is suppressed
 * for a cooldown.
 */

import type { FastifyBaseLogger } from 'fastify';
import type { SecurityEvents } from '../observability/security-events.js';
import type { DeviceRegistry, SecurityEvent } from '../ports/storage.js';

export interface AlertSettings {
  webhookUrl: string | undefined;
  cooldownMs: number;
  windowMs: number;
  macFailures: number;
  replays: number;
  /** Alert when a device has been silent for this many upload intervals (0 = off). */
  silentIntervals: number;
  uploadIntervalMs: number;
}

export type AlertRule =
  | 'mac_failures'
  | 'replays'
  | 'counter_reset_suspected'
  | 'device_silent'
  | 'outbox_stalled'
  | 'rollout_halted';

export interface Alert {
  rule: AlertRule;
  deviceId: string | null;
  message: string;
  time: number;
  detail: Record<string, unknown>;
}

const WINDOW_RULES: Partial<Record<string, { rule: AlertRule; threshold: keyof AlertSettings }>> = {
  authentication_failed: { rule: 'mac_failures', threshold: 'macFailures' },
  replayed_nonce: { rule: 'replays', threshold: 'replays' },
};

export class AlertEngine {
  /** Recent event times per (rule, device), for the sliding window. */
  private readonly recent = new Map<string, number[]>();
  /** When each (rule, device) last fired, for the cooldown. */
  private readonly lastFired = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly settings: AlertSettings,
    private readonly storage: Pick<DeviceRegistry, 'listDevices'>,
    /** Where a fired alert is written as an event (stored and fanned out like every other). */
    private readonly events: Pick<SecurityEvents, 'record'>,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Feed every security event here. */
  observe(event: SecurityEvent): void {
    if (event.code === 'counter_reset_suspected') {
      this.fire({
        rule: 'counter_reset_suspected',
        deviceId: event.deviceId,
        message: `Device ${event.deviceId} sent an authentic nonce far below its last one: its counter was probably wiped.`,
        time: event.time,
        detail: { nonce: event.nonce },
      });
      return;
    }
    const spec = WINDOW_RULES[event.code];
    if (!spec) return;
    const key = `${spec.rule}|${event.deviceId ?? event.source ?? '-'}`;
    const now = event.time;
    const times = (this.recent.get(key) ?? []).filter((t) => now - t < this.settings.windowMs);
    times.push(now);
    this.recent.set(key, times);
    const threshold = this.settings[spec.threshold] as number;
    if (times.length >= threshold) {
      this.fire({
        rule: spec.rule,
        deviceId: event.deviceId,
        message: `${times.length} ${event.code} rejections for ${event.deviceId ?? `source ${event.source}`} within ${
          this.settings.windowMs / 1000
        } s`,
        time: now,
        detail: { count: times.length, window_seconds: this.settings.windowMs / 1000, source: event.source },
      });
    }
  }

  /** Checks device silence every so often. */
  start(intervalMs = 5000): void {
    if (this.settings.silentIntervals <= 0) return;
    this.timer = setInterval(() => {
      this.checkSilence().catch((err: unknown) => this.log.error({ err }, 'silence check failed'));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.pending]);
  }

  async checkSilence(): Promise<void> {
    const limit = this.settings.silentIntervals * this.settings.uploadIntervalMs;
    const now = this.now();
    for (const d of await this.storage.listDevices()) {
      if (d.status !== 'active' || d.lastSeen === null) continue;
      if (now - d.lastSeen > limit) {
        this.fire({
          rule: 'device_silent',
          deviceId: d.id,
          message: `Device ${d.id} has sent nothing for ${Math.round((now - d.lastSeen) / 1000)} s.`,
          time: now,
          detail: { last_seen: new Date(d.lastSeen).toISOString() },
        });
      }
    }
  }

  /** Raises an alert unless the same one fired within the cooldown. */
  fire(alert: Alert): boolean {
    const key = `${alert.rule}|${alert.deviceId ?? '-'}`;
    const last = this.lastFired.get(key);
    if (last !== undefined && alert.time - last < this.settings.cooldownMs) return false;
    this.lastFired.set(key, alert.time);
    this.log.warn({ event: 'alert', rule: alert.rule, device: alert.deviceId }, alert.message);
    this.events.record({
      time: alert.time,
      deviceId: alert.deviceId,
      code: 'alert',
      reason: alert.rule,
      source: null,
      nonce: null,
      requestId: null,
      detail: { message: alert.message, ...alert.detail },
    });
    if (this.settings.webhookUrl) {
      const p = this.post(this.settings.webhookUrl, alert).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
    return true;
  }

  private async post(url: string, alert: Alert): Promise<void> {
    const body = JSON.stringify({
      rule: alert.rule,
      device_id: alert.deviceId,
      message: alert.message,
      time: new Date(alert.time).toISOString(),
      detail: alert.detail,
    });
    // A few attempts with back-off: a webhook receiver restarting should not lose an alert.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) return;
        this.log.warn({ status: res.status, rule: alert.rule }, 'alert webhook refused the alert');
      } catch (err) {
        this.log.warn({ err, rule: alert.rule }, 'alert webhook unreachable');
      }
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}
