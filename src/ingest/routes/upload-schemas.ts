/**
 * What the upload routes take and answer (PROTOCOL.md §1.3 and §10, PROTOCOL-1.3.md §3), for
 * `/api/openapi.json`. They document; the ingest stages check (api-schemas.ts `deviceProtocol`).
 */
import { Type } from 'typebox';
import { Nullable } from '../../http/api-schemas.js';

/** Keys the device writes that the server reads for information only. */
const Summary = Type.Record(Type.String(), Type.Unknown());

const E84f720Packet = Type.Object({
  compressed_binary: Type.String({
    description:
      'Base64 of the compressed bytes, as the device encodes it (never padded, 1-2 junk bytes, §3.4).',
  }),
  decompression_metadata: Type.Object({
    method: Type.String({
      description: '`BATCH_DICTIONARY`, `BATCH_TEMPORAL`, `BATCH_SEMANTIC` or `BATCH_BITPACK`.',
    }),
    register_count: Type.Integer(),
    original_size_bytes: Type.Integer(),
    compressed_size_bytes: Type.Integer({ description: 'The real length of the compressed bytes.' }),
    timestamp: Type.Integer({ description: '`millis()` when the packet was made.' }),
    register_layout: Type.Array(Type.Integer()),
  }),
  performance_metrics: Type.Optional(Summary),
});

/** The e84f720 plaintext (§1.3), the payload of a `/process` envelope. */
export const UploadDocument = Type.Object(
  {
    device_id: Type.String({ description: 'The device; must be the one the key belongs to (§10.2.6).' }),
    timestamp: Type.Integer({
      description: '`millis()` at upload: milliseconds since boot, not wall-clock.',
    }),
    data_type: Type.Optional(Type.String({ description: '`compressed_sensor_batch`.' })),
    total_samples: Type.Optional(Type.Integer({ description: 'The number of packets.' })),
    register_mapping: Type.Optional(Type.Record(Type.String(), Type.String())),
    compressed_data: Type.Array(E84f720Packet, { description: 'One entry per packet, oldest first.' }),
    session_summary: Type.Optional(Summary),
  },
  {
    title: 'UploadDocument',
    description: 'The upload as the e84f720 firmware writes it (PROTOCOL.md §1.3).',
  },
);

const Gen13Packet = Type.Object({
  compressed_binary: Type.String({ description: 'Standard padded base64 of the compressed bytes.' }),
  decompression_metadata: Type.Object({
    method: Type.String({ description: '`dictionary`, `temporal`, `semantic` or `bitpack`.' }),
    register_count: Type.Integer(),
    sample_count: Type.Integer(),
    original_size_bytes: Type.Integer(),
    compressed_size_bytes: Type.Integer(),
    timestamp: Type.Integer({ description: 'Unix milliseconds of the last sample, cut to 32 bits.' }),
    register_layout: Type.Array(Type.Integer()),
  }),
  performance_metrics: Type.Optional(Summary),
});

/** The 1.3 plaintext (PROTOCOL-1.3.md §3), the payload of an `/aggregated/<id>` envelope. */
export const Gen13UploadDocument = Type.Object(
  {
    device_id: Type.String({ description: "The device; must be the path's id." }),
    timestamp: Type.Integer({
      description: 'Unix seconds (or seconds since boot when the device has no time).',
    }),
    data_type: Type.Optional(Type.String()),
    total_samples: Type.Optional(Type.Integer({ description: 'The number of packets.' })),
    sampling_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    register_mapping: Type.Optional(Type.Record(Type.String(), Type.String())),
    compressed_data: Type.Array(Gen13Packet),
    session_summary: Type.Optional(Summary),
  },
  {
    title: 'Gen13UploadDocument',
    description: 'The upload as the 1.3 firmware writes it (PROTOCOL-1.3.md §3).',
  },
);

const PacketSummary = Type.Object({
  index: Type.Integer(),
  method: Nullable(Type.String()),
  label: Nullable(Type.String()),
  status: Type.Enum(['decoded', 'quarantined', 'duplicate']),
  quality: Type.Record(Type.String(), Type.Integer(), {
    description: 'Values per quality (`exact`, `approximate`, `ambiguous`, `missing`).',
  }),
});

/** The 200 of an upload: sent only once it is durably stored (§10.2.8). */
export const UploadAnswer = Type.Object(
  {
    status: Type.Literal('success'),
    device_id: Type.String(),
    upload_id: Type.String(),
    nonce: Nullable(Type.Integer({ description: '`null` for a bare upload.' })),
    packets: Type.Integer(),
    samples: Type.Integer(),
    readings: Type.Integer(),
    duplicate_packets: Type.Integer({
      description: 'Packets already stored by an earlier upload (a resend).',
    }),
    nonce_gap: Type.Integer({
      description: 'Uploads between the last accepted nonce and this one never received.',
    }),
    quarantined: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String() }), {
      description: 'Packets kept verbatim because they could not be decoded (the upload is still accepted).',
    }),
    packet_summary: Type.Array(PacketSummary),
  },
  {
    title: 'UploadAnswer',
    description: 'The device reads only the status (200); the body is for people reading its log.',
  },
);
