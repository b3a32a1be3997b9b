/**
 * Authenticated answers for protocol v2 devices (an EcoWatt addition to PROTOCOL.md §11): every
 * response to a v2-authenticated request carries
 *
 *   X-EcoWatt-MAC: lowercase hex HMAC-SHA256(K_mac, "EW2R" || u8 len(device_id) || device_id
 *                  || u8 len(kid) || kid || u64be(request nonce) || u16be(HTTP status) || body)
 *
 * with the same K_mac as the device's envelopes. Binding the request's nonce makes an old answer
 * useless for a new request; binding the status stops an error being passed off as success.
 */
import { createHmac } from 'node:crypto';

export const V2_RESPONSE_MAC_HEADER = 'x-ecowatt-mac';

export interface V2ResponseContext {
  macKey: Uint8Array;
  deviceId: string;
  kid: string;
  nonce: number;
}

export function v2ResponseMac(ctx: V2ResponseContext, status: number, body: Uint8Array | string): string {
  const id = Buffer.from(ctx.deviceId, 'utf8');
  const kid = Buffer.from(ctx.kid, 'utf8');
  const head = Buffer.alloc(4 + 1 + id.length + 1 + kid.length + 8 + 2);
  let o = head.write('EW2R', 0, 'ascii');
  o = head.writeUInt8(id.length, o);
  o += id.copy(head, o);
  o = head.writeUInt8(kid.length, o);
  o += kid.copy(head, o);
  o = head.writeBigUInt64BE(BigInt(ctx.nonce), o);
  head.writeUInt16BE(status, o);
  return createHmac('sha256', ctx.macKey)
    .update(head)
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex');
}
