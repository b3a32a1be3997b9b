/**
 * The device-facing FOTA wire format (PROTOCOL.md §6.2; PROTOCOL-1.3.md §8), as documentation:
 * these routes keep checking requests in their protocol code (api-schemas.ts `deviceProtocol`), so
 * nothing here validates or reshapes an answer. Bodies are the documents as a device writes them;
 * each may also arrive in a v1/v2 security envelope.
 */
import { type TProperties, Type } from 'typebox';
import { controlErrors } from '../../http/device-envelope-schemas.js';
import type { ErrorCode } from '../../model/errors.js';

/** A FOTA request's error answers; `no_update_session` where the route needs an open session. */
export const otaErrors = (...codes: ErrorCode[]) => controlErrors(...codes);

/** Extra fields a device sends are ignored, so the documents stay open. */
const document = <P extends TProperties>(properties: P, description: string) =>
  Type.Object(properties, {
    description: `${description} Sent bare where the device's policy or \`ECOWATT_UNSECURED_CONTROL\` allows it, else in a security envelope.`,
  });

const Version = Type.String({ minLength: 1, maxLength: 256 });
const Text = (description: string) => Type.Optional(Type.String({ description }));
const Count = Type.Integer({ minimum: 0 });
const Base64 = (description: string) => Type.String({ contentEncoding: 'base64', description });

const DeviceId = Type.String({
  description: 'The device (required bare; in an envelope its sealed document names it).',
});

/** The manifest fields a device checks the image against (PROTOCOL.md §6.1). */
const offeredImage = {
  original_size: Count,
  encrypted_size: Count,
  total_chunks: Count,
  chunk_size: Count,
  sha256_hash: Type.String({ description: 'SHA-256 of the image, hex.' }),
  signature: Base64('RSA-2048 PKCS#1 v1.5 signature over the image hash.'),
  iv: Base64('AES-256-CBC IV of the whole encrypted image (chained across chunks).'),
};

export const DeviceParams = Type.Object({ id: Type.String({ description: 'The device id.' }) });

// ---- e84f720 (PROTOCOL.md §6.2) ---------------------------------------------------------------

export const FieldCheckBody = document(
  { device_id: DeviceId, current_version: Version },
  'The version the device runs.',
);

export const FieldCheckAnswer = Type.Union([
  Type.Object(
    { update_available: Type.Literal(true), version: Type.String(), ...offeredImage },
    { description: 'An offer: the session opens (or resumes).' },
  ),
  Type.Object(
    { update_available: Type.Literal(false), message: Type.String({ description: 'Why not.' }) },
    { description: 'Nothing to offer this device now.' },
  ),
]);

export const FieldChunkBody = document(
  {
    device_id: DeviceId,
    version: Version,
    chunk_number: Type.Union([Count, Type.String({ pattern: '^\\d{1,9}$' })], {
      description: 'From 0; digits in a string are read as the number.',
    }),
  },
  'A chunk of the offered image.',
);

export const FieldChunkAnswer = Type.Object({
  chunk: Type.Object({
    chunk_number: Count,
    data: Base64('The chunk of the encrypted image.'),
    size: Type.Integer({ description: 'Bytes of `data` once decoded.' }),
    hmac: Type.String({ description: "HMAC-SHA256 of the chunk with the chunk key's text, hex." }),
    total_chunks: Count,
  }),
  progress: Type.Object({
    chunks_received: Count,
    total_chunks: Count,
    percentage: Type.Number({ description: 'One decimal, rounded as the reference server did.' }),
  }),
});

export const FieldVerifyBody = document(
  {
    device_id: DeviceId,
    verified: Type.Boolean({ description: '`false` fails the session.' }),
    version: Type.Optional(Version),
    reason: Text('Why verification failed (or `error`, `error_msg`, `message`).'),
  },
  "The device's own check of the downloaded image.",
);

export const FieldVerifyAnswer = Type.Object({
  status: Type.Literal('acknowledged'),
  verified: Type.Boolean(),
});

export const FieldCompleteBody = document(
  {
    device_id: DeviceId,
    version: Type.Optional(Version),
    boot_status: Text('`failed`, `failure`, `error`, `rolled_back`, `rollback`, `invalid` fail the session.'),
    reason: Text('Why it failed (or `error`, `error_msg`, `message`).'),
  },
  'After the update.',
);

export const FieldCompleteAnswer = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
});

// ---- generation 1.3 (PROTOCOL-1.3.md §8) ----------------------------------------------------

export const CheckQuery = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 256, description: 'The version the device runs.' }),
});

export const CheckAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  update_available: Type.Boolean(),
  update_info: Type.Union(
    [
      Type.Object({
        available: Type.Literal(true),
        latest_version: Type.String(),
        current_version: Type.String(),
        firmware_size: Count,
        ...offeredImage,
      }),
      Type.Object({
        available: Type.Literal(false),
        current_version: Type.String(),
        message: Type.String(),
      }),
    ],
    { description: 'The 1.3 image; no free text in an offer (the firmware parses 2048 bytes).' },
  ),
});

export const InitiateBody = document(
  {
    firmware_version: Type.String({ minLength: 1, maxLength: 256, description: 'The version offered.' }),
    current_version: Type.Optional(Version),
  },
  'Opens the update session (the running version is the one the check named).',
);

export const InitiateAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  session_id: Type.String({ description: '`ota-<n>`.' }),
});

export const ChunkQuery = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 256 }),
  chunk: Type.String({ pattern: '^\\d{1,9}$', description: 'The chunk index, from 0.' }),
});

export const ChunkAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  chunk_index: Count,
  chunk_data: Base64('The chunk of the encrypted image (no HMAC: the 1.3 firmware checks none).'),
  chunk_size: Type.Integer({ description: 'Bytes of `chunk_data` once decoded.' }),
  total_chunks: Count,
});

export const ProgressBody = document(
  {
    phase: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        '`verification_failed` and `rollback` fail the session, `verification_success` verifies it; other phases are recorded.',
    }),
    version: Type.Optional(Version),
    progress: Type.Optional(Type.Number()),
    message: Text('Why, for a failure (or `reason`, `error`, `error_msg`).'),
    timestamp: Type.Optional(Type.Number()),
  },
  'Progress along the update.',
);

export const ProgressAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  message: Type.Literal('Progress updated'),
});

export const CompleteBody = document(
  {
    version: Version,
    status: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        '`success` on the session version succeeds; `pending_verify` waits; `rolled_back`/`failed`, or another version after the download, fail.',
    }),
    error_msg: Text('Why it failed.'),
    timestamp: Type.Optional(Type.Number()),
  },
  'Sent after every boot with the version the device runs.',
);

export const CompleteAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  message: Type.Literal('OTA completion status received'),
  version: Type.String(),
  status: Type.String(),
});
