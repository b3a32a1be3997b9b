/**
 * A subscriber that remembers which uploads were published: a persistent session at QoS 1, so
 * messages published while it (or its broker) is down are delivered when it is back.
 */
import { connectAsync, type MqttClient } from 'mqtt';

export class ReadingsSubscriber {
  readonly uploads = new Set<string>();
  messages = 0;

  private constructor(private readonly client: MqttClient) {
    client.on('message', (_topic, payload) => {
      this.messages++;
      try {
        const id = (JSON.parse(payload.toString()) as { upload_id?: unknown }).upload_id;
        if (typeof id === 'string') this.uploads.add(id);
      } catch {
        /* not ours: readings payloads are always JSON */
      }
    });
  }

  static async connect(url: string, clientId: string): Promise<ReadingsSubscriber> {
    const client = await connectAsync(url, {
      clientId,
      clean: false,
      reconnectPeriod: 200,
      connectTimeout: 5000,
    });
    const sub = new ReadingsSubscriber(client);
    await client.subscribeAsync('ecowatt/+/readings', { qos: 1 });
    return sub;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
