/**
 * The server's link to its own embedded broker: messages go straight into Aedes instead of over an
 * MQTT connection on loopback. Over TCP every message was encoded, written, parsed back and
 * acknowledged on the request thread, which cost more than building it.
 *
 * Publication is serialised: Aedes runs each publish as its own asynchronous series (a retained
 * message waits for its store), so concurrent publishes could overtake each other, while one MQTT
 * connection keeps a device's messages in the order the relay dispatched them.
 */
import type { MqttMessage } from './messages.js';
import type { Link, LinkStatus } from './mqtt-link.js';

/** What the link needs of the broker (the embedded broker provides it). */
export interface DirectBroker {
  /** Publishes as the server; resolves once stored (retained) and handed to every subscriber. */
  publishDirect(topic: string, payload: string, retain: boolean): Promise<void>;
  /** Live messages published to `topic` by clients (after the broker's publish authorisation). */
  subscribeDirect(topic: string, onMessage: (topic: string, payload: Buffer) => void): Promise<void>;
}

export interface BrokerLinkOptions {
  /** The broker's address as shown to operators. */
  displayUrl: string;
  clientId: string;
  subscriptions: readonly string[];
  /** `retained` is always false: an in-process subscription receives live messages only. */
  onMessage(topic: string, payload: Buffer, retained: boolean): void;
}

export class BrokerLink implements Link {
  private tail: Promise<void> = Promise.resolve();
  private readonly since = Date.now();
  private lastError: string | null = null;
  private closed = false;

  private constructor(
    private readonly broker: DirectBroker,
    private readonly opts: BrokerLinkOptions,
  ) {}

  static async open(broker: DirectBroker, opts: BrokerLinkOptions): Promise<BrokerLink> {
    const link = new BrokerLink(broker, opts);
    for (const topic of opts.subscriptions) {
      await broker.subscribeDirect(topic, (t, payload) => opts.onMessage(t, payload, false));
    }
    return link;
  }

  get connected(): boolean {
    return !this.closed;
  }

  /** The broker lives and dies with this process: the link never changes state while it runs. */
  onConnectionChange(_listener: (connected: boolean) => void): void {}

  publish(msg: MqttMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the embedded broker is closed'));
    const done = this.tail.then(() => this.broker.publishDirect(msg.topic, msg.payload, msg.retain));
    // The next message waits for this one whatever its outcome; the relay sees the failure.
    this.tail = done.catch((err: Error) => {
      this.lastError = err.message;
    });
    return done;
  }

  status(): LinkStatus {
    return {
      connected: !this.closed,
      url: this.opts.displayUrl,
      client_id: this.opts.clientId,
      since: new Date(this.since).toISOString(),
      last_error: this.lastError,
      reconnects: 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }
}
