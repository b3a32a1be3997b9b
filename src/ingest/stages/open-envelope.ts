/**
 * Stage 1: open the envelope and verify its MAC (PROTOCOL.md §10.2 steps 1-6), with the keys the
 * request names (the device's own, else the fleet key). The device authenticator does it because
 * control requests are opened exactly alike; this stage adds which generation the upload is.
 */
import type {
  DeviceAuthenticator,
  DeviceRequest,
  OpenedRequest,
} from '../../devices/device-authenticator.js';
import type { Outcome } from '../../devices/refusals.js';
import type { Generation } from '../../model/device.js';

export interface OpenedUpload extends OpenedRequest {
  generation: Generation;
}

export async function openEnvelope(
  authenticator: Pick<DeviceAuthenticator, 'openEnvelope'>,
  req: DeviceRequest,
): Promise<Outcome<OpenedUpload>> {
  const opened = await authenticator.openEnvelope(req);
  if (!opened.ok) return opened;
  // `/process` carries both generations: a 1.3 upload there is told only by its envelope.
  const generation = req.generation ?? opened.value.generation ?? 'e84f720';
  return { ok: true, value: { ...opened.value, generation } };
}
