/**
 * MQTT on the request thread (PostgreSQL, in-memory SQLite): the runtime, given the store's outbox
 * with the uploads this process commits remembered in front of it, so it need not read each one
 * back moments after storing it.
 */
import type { MqttRuntimeSettings } from './mqtt-plan.js';
import { type MqttPorts, MqttRuntime } from './mqtt-runtime.js';
import type { MqttHandle } from './mqtt-service.js';
import { RecentUploads, withRecentUploads } from './recent-uploads.js';

export async function startMqttInProcess(
  settings: MqttRuntimeSettings,
  ports: MqttPorts,
): Promise<MqttHandle | null> {
  const recent = new RecentUploads();
  const runtime = await MqttRuntime.start(settings, {
    ...ports,
    outbox: withRecentUploads(ports.outbox, recent),
  });
  if (!runtime) return null;
  return {
    describe: () => runtime.describe(),
    ready: () => runtime.ready(),
    status: () => runtime.status(),
    committed(upload) {
      recent.remember(upload);
      runtime.notify();
    },
    close: () => runtime.close(),
  };
}
