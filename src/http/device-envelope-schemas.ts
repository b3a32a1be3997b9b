/**
 * The security envelopes devices seal their requests in (PROTOCOL.md §2 and §11.1,
 * PROTOCOL-1.3.md §2), as schemas that document device-facing routes. The protocol code
 * (protocol/envelope-v1.ts, envelope-v2.ts, gen13/envelope.ts) checks them: these schemas never
 * validate (api-schemas.ts `deviceProtocol`), so every answer keeps the precedence of §10.
 * Uploads and every control request (configuration, commands, reports, FOTA) share them.
 */
import { type TSchema, Type } from 'typebox';
import type { ErrorCode } from '../model/errors.js';
import { errorAnswers } from './api-schemas.js';

const MAC = Type.String({
  pattern: '^[0-9a-fA-F]{64}$',
  description: 'HMAC-SHA256 as 64 hex digits (either case).',
});

/** v1, as the e84f720 field firmware seals it (§2.1): exactly these keys, in this order. */
export const V1Envelope = Type.Object(
  {
    nonce: Type.Integer({
      minimum: 0,
      maximum: 0xffff_ffff,
      description: "The device's counter (u32), one more for every envelope; each is accepted once (§10.4).",
    }),
    payload: Type.String({
      description:
        'Base64 of the plaintext JSON document, or of its AES-128-CBC ciphertext when `encrypted` (§2.4).',
    }),
    mac: Type.Unsafe<string>({
      ...MAC,
      description: 'HMAC-SHA256 over `u32be(nonce) || plaintext` (§2.3), 64 hex digits.',
    }),
    encrypted: Type.Optional(
      Type.Boolean({
        description: 'Whether `payload` is encrypted; absent means false. The field firmware sends false.',
      }),
    ),
    device_id: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Not sent by the field firmware: names the device so its own key is tried before the fleet key (§10.2.3).',
      }),
    ),
  },
  {
    title: 'V1Envelope',
    description: 'Protocol v1 (PROTOCOL.md §2): `{"nonce","payload","mac","encrypted"}`.',
  },
);

/** The 1.3 generation's envelope (PROTOCOL-1.3.md §2): v1 with a fifth key; no AES path. */
export const Gen13Envelope = Type.Object(
  {
    nonce: V1Envelope.properties.nonce,
    payload: Type.String({ description: 'Base64 (padded) of the plaintext JSON document.' }),
    mac: V1Envelope.properties.mac,
    encrypted: Type.Optional(Type.Literal(false, { description: 'Always false at 1.3.' })),
    compressed: Type.Optional(Type.Literal(false, { description: 'Always false at 1.3.' })),
  },
  {
    title: 'Gen13Envelope',
    description:
      'Generation 1.3 (PROTOCOL-1.3.md §2): `{"nonce","payload","mac","encrypted":false,"compressed":false}`.',
  },
);

/** v2 for new firmware (§11.1): per-device keys, random IV, encrypt-then-MAC over what is sent. */
export const V2Envelope = Type.Object(
  {
    v: Type.Literal(2),
    device_id: Type.String({
      minLength: 1,
      description: 'The device; covered by the MAC (1-255 UTF-8 bytes).',
    }),
    kid: Type.String({ minLength: 1, description: 'Which of the device keys sealed it.' }),
    nonce: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: '0 … 2^53−1.' }),
    iv: Type.Optional(
      Type.String({
        description: 'Base64 of a random 16-byte IV; present exactly when `payload` is encrypted.',
      }),
    ),
    payload: Type.String({
      description: 'Base64 of the plaintext, or of its AES-128-CBC (PKCS#7) ciphertext.',
    }),
    mac: Type.Unsafe<string>({
      ...MAC,
      description:
        'HMAC-SHA256 (K_mac) over `"EW2" || id || kid || u64be(nonce) || flags || iv || payload bytes` (§11.1).',
    }),
  },
  {
    title: 'V2Envelope',
    description:
      'Protocol v2 (PROTOCOL.md §11.1). Every answer to a v2 request carries `X-EcoWatt-MAC` (protocol/v2-response.ts).',
  },
);

/**
 * A device request's body: the document sealed in one of `envelopes`, or the bare document where
 * the device's policy allows unsigned requests.
 */
export function sealedOrBare(document: TSchema, envelopes: readonly TSchema[]) {
  return Type.Union([...envelopes, document], {
    description:
      'A security envelope (any of `nonce`, `payload`, `mac` makes the body one), or the bare document where the device policy allows it (§10.2).',
  });
}

/** `X-Device-Id`: names the device outside the MAC, so its own key is tried first (§10.2.3). */
export const DeviceIdHeader = Type.Object({
  'x-device-id': Type.Optional(
    Type.String({
      description:
        "Names the device so its own key is tried before the fleet key; checked against the sealed document's `device_id`.",
    }),
  ),
});

/** The refusals every authenticated device request can meet (PROTOCOL.md §10.3). */
export const DEVICE_REFUSALS: readonly ErrorCode[] = [
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
  'payload_too_large',
  'unsupported_media_type',
];

/**
 * What the control-request guard (devices/control-request-guard.ts) can refuse besides: a bare
 * request from another address than the device's last upload, an unknown device, the source limit.
 */
export const CONTROL_REFUSALS: readonly ErrorCode[] = [
  ...DEVICE_REFUSALS,
  'control_source_mismatch',
  'not_found',
  'rate_limited',
];

/** A control request's error answers, and those its route adds. */
export const controlErrors = (...codes: ErrorCode[]) => errorAnswers(...CONTROL_REFUSALS, ...codes);
