/**
 * Stage 2: read the authenticated document as its generation writes it, and hold it to the
 * device the request claimed outside the MAC. An unreadable document is the device's mistake, not
 * an attack: it is answered 400 without a security event.
 */
import { claimMismatch, type OpenedRequest } from '../../devices/device-authenticator.js';
import { type Outcome, quietRefusal, refused } from '../../devices/refusals.js';
import type { UploadProtocol } from '../../ports/storage.js';
import type { GenerationDecoder, UploadHeader } from '../generation-decoder.js';

/** An upload whose sender is known and whose document is read. */
export interface AuthenticatedUpload<D extends UploadHeader> {
  doc: D;
  nonce: number | null;
  /** `null` when the fleet key (or no key) authenticated the upload. */
  keyKid: string | null;
  protocol: UploadProtocol;
  encrypted: boolean;
}

export function readDocument<D extends UploadHeader, S>(
  decoder: GenerationDecoder<D, S>,
  opened: OpenedRequest,
): Outcome<AuthenticatedUpload<D>> {
  const doc = decoder.parse(opened.inner);
  if (!doc.ok) return refused(quietRefusal('malformed_payload', doc.message));
  const mismatch = claimMismatch(opened, doc.doc.deviceId);
  if (mismatch) return refused(mismatch);
  return {
    ok: true,
    value: {
      doc: doc.doc,
      nonce: opened.nonce,
      keyKid: opened.keyKid,
      protocol: opened.protocol,
      encrypted: opened.encrypted,
    },
  };
}
