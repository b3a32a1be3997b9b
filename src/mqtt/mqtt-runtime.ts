/**
 * The MQTT runtime, written once: the embedded broker (default) or an external one, the server's
 * link to it, the outbox relay and the settings topic, on the ports its host hands it. The hosts
 * only place it: on the request thread (`in-process-host.ts`), or on a thread of its own
 * (`mqtt-worker.ts`, driven from `mqtt-thread.ts`) whose entry opens the ports there.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Outbox } from '../ports/outbox.js';
import { redactUrl } from '../settings/redact.js';
import { BrokerLink } from './broker-link.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { FIELD_DATA_TOPIC, type TopicConfig } from './messages.js';
import { type Link, MqttLink } from './mqtt-link.js';
import { type MqttMode, type MqttPlan, type MqttRuntimeSettings, planMqtt } from './mqtt-plan.js';
import type { MqttReadiness, MqttStatus } from './mqtt-service.js';
import { type DeviceDirectory, OutboxMessageBuilder } from './outbox-messages.js';
import { OutboxRelay, type StallInfo } from './relay.js';
import {
  type FieldSettingsSink,
  isSettingsTopic,
  parseFieldSettings,
  SETTINGS_SUBSCRIPTIONS,
} from './settings-topic.js';

/** What the runtime is given by its host. */
export interface MqttPorts {
  /** What to publish, the blocks of the uploads it names, and where publication is marked. */
  outbox: Outbox;
  devices: DeviceDirectory;
  /** Where settings received on the settings topic go (the configuration service). */
  sink: FieldSettingsSink;
  log: FastifyBaseLogger;
  /** A stalled outbox (once per stall), e.g. to store an event. */
  onStall?(info: StallInfo): void;
}

type OnMessage = (topic: string, payload: Buffer, retained: boolean) => void;

/** Our own broker is reached in-process; an external one over MQTT. */
async function openLink(
  plan: MqttPlan,
  broker: EmbeddedBroker | null,
  subscriptions: readonly string[],
  onMessage: OnMessage,
  log: FastifyBaseLogger,
): Promise<Link> {
  const { clientId, url } = plan;
  if (broker) return BrokerLink.open(broker, { displayUrl: broker.url, clientId, subscriptions, onMessage });
  if (url === undefined) throw new Error('MQTT: neither an embedded broker nor a broker URL');
  const displayUrl = redactUrl(url);
  return new MqttLink({ url, displayUrl, clientId, ...plan.tls, subscriptions, onMessage, log });
}

/** What clients publish to the server: Home Assistant's status, and field settings. */
function inbound(
  haStatusTopic: string | null,
  builder: OutboxMessageBuilder,
  sink: FieldSettingsSink,
  log: FastifyBaseLogger,
): OnMessage {
  return (topic, payload, retained) => {
    if (topic === haStatusTopic) {
      if (payload.toString('utf8').trim() === 'online') builder.forgetAnnouncements();
      return;
    }
    if (!isSettingsTopic(topic)) return;
    if (retained) {
      // A retained settings message would be applied again at every reconnection.
      log.warn({ topic }, 'mqtt: retained settings message ignored; publish settings without retain');
      return;
    }
    const parsed = parseFieldSettings(payload);
    if (!parsed.ok) {
      log.warn({ topic, error: parsed.error }, 'mqtt: settings message refused');
      return;
    }
    // Configuration changes deserve a trail whatever the sink does with them.
    log.info(
      { topic, target: parsed.target ?? 'all field devices', settings: parsed.settings },
      'mqtt: settings message accepted',
    );
    sink.applyFieldSettings(parsed.target, parsed.settings).catch((err: unknown) => {
      log.error({ err, topic }, 'mqtt: applying field settings failed');
    });
  };
}

export class MqttRuntime {
  private constructor(
    readonly mode: MqttMode,
    /** The broker URL as safe to print. */
    readonly url: string,
    private readonly topics: TopicConfig,
    private readonly relay: OutboxRelay,
    private readonly link: Link,
    private readonly broker: EmbeddedBroker | null,
  ) {}

  /** Starts publishing; `null` when the settings turn MQTT off. */
  static async start(settings: MqttRuntimeSettings, ports: MqttPorts): Promise<MqttRuntime | null> {
    const plan = planMqtt(settings);
    if (!plan) return null;
    const { mqtt } = settings;
    const { topics } = plan;
    const reservedPrefixes = [...new Set([topics.prefix, 'ecowatt', 'esp32', mqtt.haPrefix])];
    const haStatusTopic = topics.haPrefix === null ? null : `${topics.haPrefix}/status`;

    const broker =
      plan.mode === 'embedded'
        ? await EmbeddedBroker.start({
            host: mqtt.host,
            port: mqtt.port,
            anonymous: mqtt.anonymous,
            users: plan.users,
            reservedPrefixes,
            // Home Assistant announces itself here, with or without credentials.
            openTopics: haStatusTopic ? [haStatusTopic] : [],
            log: ports.log,
          })
        : null;
    const builder = new OutboxMessageBuilder(topics, ports.outbox, ports.devices, ports.log);
    const subscriptions = [...SETTINGS_SUBSCRIPTIONS, ...(haStatusTopic ? [haStatusTopic] : [])];
    const onMessage = inbound(haStatusTopic, builder, ports.sink, ports.log);
    // A broker we started must not stay listening when the server cannot use it.
    const link = await openLink(plan, broker, subscriptions, onMessage, ports.log).catch(
      async (err: unknown) => {
        await broker?.close();
        throw err;
      },
    );
    const relay = new OutboxRelay(ports.outbox, builder, link, {
      stallMs: mqtt.stallSeconds * 1000,
      log: ports.log,
      ...(ports.onStall ? { onStall: ports.onStall } : {}),
    });
    // The link shows the broker's address as safe to print.
    const url = link.status().url;
    const runtime = new MqttRuntime(plan.mode, url, topics, relay, link, broker);
    relay.start();
    return runtime;
  }

  /** New outbox records may be waiting: publish them soon (calls are coalesced). */
  notify(): void {
    this.relay.notify();
  }

  /** Start-up lines for the operator. */
  describe(): string[] {
    const topics = this.topics;
    const moved = this.broker?.movedFrom ? ` (port ${this.broker.movedFrom} is taken)` : '';
    return [
      `  MQTT broker (${this.mode}): ${this.url}${moved}`,
      `  MQTT topics: ${topics.prefix}/<device>/{readings,state,events}, ${FIELD_DATA_TOPIC}${
        topics.haPrefix ? `, ${topics.haPrefix}/sensor/… (discovery)` : ''
      }`,
    ];
  }

  ready(): MqttReadiness {
    return { ok: this.link.connected, url: this.url };
  }

  /** The broker connection came or went (never for the embedded broker, reached in-process). */
  onConnectionChange(listener: (connected: boolean) => void): void {
    this.link.onConnectionChange(listener);
  }

  async status(): Promise<MqttStatus> {
    return {
      mode: this.mode,
      link: this.link.status(),
      relay: this.relay.stats(),
      outbox: await this.relay.outboxStatus(),
    };
  }

  async close(): Promise<void> {
    await this.relay.stop();
    await this.link.close();
    await this.broker?.close();
  }
}
