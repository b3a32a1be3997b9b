/**
 * The alert engine assembled from the settings, and the alerts other capabilities raise: a stalled
 * MQTT outbox and a halted rollout.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Rollout } from '../model/firmware.js';
import type { StallInfo } from '../mqtt/relay.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { DeviceRegistry } from '../ports/storage.js';
import type { AlertingSettings } from '../settings/sections.js';
import { AlertEngine } from './alert-engine.js';

export interface AlertsModule {
  /**
   * Feeds every security event to the engine and starts its silence check. Called once ingestion
   * exists, so the engine is the first to see each event; before that nothing fires.
   */
  start(): void;
  /** An MQTT outbox stall: an alert (once started) and a security event. */
  outboxStalled(info: StallInfo): void;
  rolloutHalted(rollout: Rollout): void;
  stop(): Promise<void>;
}

export interface AlertsDeps {
  storage: Pick<DeviceRegistry, 'listDevices'>;
  events: SecurityEvents;
  log: Logger;
}

export function createAlerts(settings: AlertingSettings, { storage, events, log }: AlertsDeps): AlertsModule {
  const engine = new AlertEngine(
    {
      webhookUrl: settings.webhookUrl,
      cooldownMs: settings.cooldownSeconds * 1000,
      windowMs: settings.windowSeconds * 1000,
      macFailures: settings.macFailures,
      replays: settings.replays,
      silentIntervals: settings.silentIntervals,
      uploadIntervalMs: 15_000,
    },
    storage,
    events,
    log,
  );
  let started = false;
  return {
    start() {
      started = true;
      events.onEvent((event) => engine.observe(event));
      engine.start();
    },
    outboxStalled(info) {
      if (started) {
        engine.fire({
          rule: 'outbox_stalled',
          deviceId: null,
          message: `MQTT outbox stalled: oldest record ${info.oldestAgeSeconds} s old, ${info.depth} pending`,
          time: Date.now(),
          detail: { depth: info.depth, connected: info.connected },
        });
      }
      events.record({
        time: Date.now(),
        deviceId: null,
        code: 'mqtt_outbox_stalled',
        reason: `oldest unpublished MQTT record is ${info.oldestAgeSeconds}s old (${info.depth} pending, broker ${info.connected ? 'connected' : 'unreachable'})`,
        source: null,
        nonce: null,
        requestId: null,
        detail: { depth: info.depth, oldest_age_seconds: info.oldestAgeSeconds, connected: info.connected },
      });
    },
    rolloutHalted(rollout) {
      engine.fire({
        rule: 'rollout_halted',
        deviceId: null,
        message: `Rollout ${rollout.id} (version ${rollout.version}) halted: ${rollout.stateReason ?? 'failure threshold passed'}`,
        time: Date.now(),
        detail: { rollout: rollout.id, version: rollout.version },
      });
    },
    stop: () => engine.stop(),
  };
}
