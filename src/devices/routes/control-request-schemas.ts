/**
 * What a device's control request may be, for the OpenAPI document: the document itself (bare,
 * where unsecured control is allowed) or the document sealed in a v1 or v2 envelope
 * (PROTOCOL.md §2.1, §11.1), and the errors the control-request guard answers (§10.3).
 * Documentation only: the guard checks the wire format, in the protocol's order.
 */
import { type TSchema, Type } from 'typebox';
import { errorAnswers } from '../../http/api-schemas.js';

const Mac = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'HMAC-SHA256, 64 hex digits.' });

export const V1Envelope = Type.Object(
  {
    nonce: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
    payload: Type.String({ description: 'Base64 of the document (AES-128-CBC when encrypted).' }),
    mac: Mac,
    encrypted: Type.Optional(Type.Boolean()),
    device_id: Type.Optional(Type.String({ description: 'Selects a per-device key.' })),
  },
  { title: 'V1Envelope', description: 'Protocol v1 envelope (PROTOCOL.md §2.1).' },
);

export const V2Envelope = Type.Object(
  {
    v: Type.Literal(2),
    device_id: Type.String(),
    kid: Type.String(),
    nonce: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    iv: Type.Optional(Type.String({ description: 'Base64 of 16 bytes; only when encrypted.' })),
    payload: Type.String({ description: 'Base64 of the document, or of its ciphertext.' }),
    mac: Mac,
  },
  { title: 'V2Envelope', description: 'Protocol v2 envelope (PROTOCOL.md §11.1).' },
);

/** A control request's body: the document bare, or sealed. */
export const ControlBody = <T extends TSchema>(document: T) => Type.Union([document, V1Envelope, V2Envelope]);

/** What the control-request guard (and the body parser before it) can refuse. */
export const controlRequestErrors = errorAnswers(
  'malformed_json',
  'malformed_envelope',
  'malformed_payload',
  'missing_security_fields',
  'authentication_failed',
  'replayed_nonce',
  'unsecured_not_allowed',
  'encryption_required',
  'v2_required',
  'device_disabled',
  'control_source_mismatch',
  'not_found',
  'payload_too_large',
  'unsupported_media_type',
);
