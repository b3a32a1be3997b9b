/**
 * Generators for the abuse case: bytes for every packet decoder, upload documents, envelopes and
 * whole `/process` bodies. Random input alone rarely gets past the first check, so most inputs
 * are real device output (packets from the device's own encoder, a real upload document, sealed
 * with the real keys) with a few mutations: they reach the deep code, and break it there.
 */
import fc from 'fast-check';
import { compressBinary, encodeBitPacked } from '../../../src/protocol/codecs/bitpack.js';
import { DeviceCompressor } from '../../../src/protocol/codecs/device-compressor.js';
import { encodeE1 } from '../../../src/protocol/codecs/lossless-e1.js';
import { encodeRaw } from '../../../src/protocol/codecs/raw.js';
import { encodeSemantic } from '../../../src/protocol/codecs/semantic.js';
import { FIELD_KEYS, sealV1 } from '../../../src/protocol/envelope-v1.js';
import { sealV2 } from '../../../src/protocol/envelope-v2.js';
import { BATCH_LAYOUT, BATCH_POSITIONS } from '../../../src/protocol/registers.js';
import { buildUploadJson, type DevicePacket } from '../../../src/protocol/upload-json.js';
import { Inverter } from '../../../src/sim/inverter.js';
import { firmwareBufferBytes, tamperEnvelope } from '../../../src/sim/misbehaviour.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Real packets: what the device's encoder makes of a day of inverter samples, plus other codecs. */
function realPackets(): DevicePacket[] {
  const out: DevicePacket[] = [];
  const compressor = new DeviceCompressor();
  const inverters = [1500, 5000, 10_000].map(
    (p, i) => new Inverter({ ratedPowerW: p, noise: 0.1 * (i + 1), seed: 97 + i, cloudiness: i * 0.4 }),
  );
  let t = Date.UTC(2026, 5, 21, 4);
  for (let b = 0; b < 120; b++) {
    const inverter = inverters[b % inverters.length];
    const values: number[] = [];
    for (let s = 0; s < 5; s++) {
      t += 2000 * (b % 7 === 0 ? 300 : 1);
      const regs = inverter.read(t);
      for (const id of BATCH_LAYOUT) values.push(regs[id]);
    }
    const { bytes, label } = compressor.compressBatch(values);
    const packet = { timestamp: 10_000 + b * 10_000, compressionTimeUs: 40, registerLayout: BATCH_LAYOUT };
    out.push({ ...packet, bytes, label });
    if (b % 10 === 0) {
      const samples = Array.from({ length: 5 }, (_, s) => values.slice(s * 6, s * 6 + 6));
      out.push({ ...packet, bytes: encodeE1(samples, BATCH_LAYOUT), label: 'LOSSLESS_E1' });
      out.push({ ...packet, bytes: encodeRaw(values), label: 'BATCH_BITPACK' });
      out.push({ ...packet, bytes: encodeBitPacked(values, 16), label: 'BATCH_BITPACK' });
      out.push({ ...packet, bytes: compressBinary(values), label: 'BATCH_BITPACK' });
      out.push({ ...packet, bytes: encodeSemantic(values, BATCH_POSITIONS), label: 'BATCH_SEMANTIC' });
    }
  }
  return out;
}

export const REAL_PACKETS: readonly DevicePacket[] = realPackets();

export function realUploadJson(deviceId: string, packets = REAL_PACKETS.slice(0, 2)): string {
  return buildUploadJson({
    deviceId,
    timestamp: 40_000,
    packets,
    usage: { dictionary: 1, temporal: 0, semantic: 0, bitpack: 0 },
  });
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'repeat'; at: number; length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0xd0, 0x70, 0x71, 0x50, 0x01, 0xe1),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
);

export function mutate(source: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(source);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (at < b.length) b[at] = m.value;
        break;
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + m.length), b.subarray(at)]);
        break;
    }
  }
  return new Uint8Array(b);
}

/** Packet bytes: pure noise, or a real packet with a few mutations. */
export const packetBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 128 }) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...REAL_PACKETS), fc.array(mutationArb, { minLength: 0, maxLength: 4 }))
      .map(([p, ms]) => mutate(p.bytes, ms)),
  },
);

/** Register lists a decoder may be told: the batch layout, or anything including nonsense ids. */
export const registersArb: fc.Arbitrary<readonly number[]> = fc.oneof(
  { weight: 2, arbitrary: fc.constant([...BATCH_POSITIONS]) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: -3, max: 12 }), { maxLength: 40 }) },
);

/** Every path (keys and indexes) into a JSON value, for targeted document mutations. */
function paths(
  value: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) paths(value[i], [...prefix, i], out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

const TEMPLATE = JSON.parse(realUploadJson('fuzz-template', REAL_PACKETS.slice(0, 3))) as Json;
const TEMPLATE_PATHS = paths(TEMPLATE).filter((p) => p.length > 0);

type DocEdit = { op: 'replace' | 'delete'; path: number; value: Json };

/** Interesting values for the fields the server reads, besides fast-check's general JSON. */
const edgeValueArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    -1,
    0,
    1e308,
    -0,
    2 ** 53,
    4_294_967_296,
    '',
    'BATCH_DICTIONARY',
    'BATCH_TEMPORAL',
    'LOSSLESS_E1',
    '====',
    [],
    {},
    '\u0000',
  ),
  fc.base64String({ maxLength: 200 }),
  fc.integer(),
  fc.double(),
);

const docEditArb: fc.Arbitrary<DocEdit> = fc.record({
  op: fc.constantFrom('replace' as const, 'replace' as const, 'delete' as const),
  path: fc.nat(),
  value: fc.oneof(edgeValueArb, fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>),
});

function applyEdits(template: Json, edits: readonly DocEdit[]): Json {
  const doc = structuredClone(template);
  for (const e of edits) {
    const path = TEMPLATE_PATHS[e.path % TEMPLATE_PATHS.length];
    let parent: Json = doc;
    for (const key of path.slice(0, -1)) {
      if (parent === null || typeof parent !== 'object') break;
      parent = (parent as Record<string, Json>)[key as string] ?? null;
    }
    if (parent === null || typeof parent !== 'object') continue;
    const last = path[path.length - 1];
    if (Array.isArray(parent) && typeof last === 'number') {
      if (e.op === 'delete') parent.splice(last, 1);
      else parent[last] = e.value;
    } else if (!Array.isArray(parent)) {
      if (e.op === 'delete') delete parent[String(last)];
      else parent[String(last)] = e.value;
    }
  }
  return doc;
}

/** An upload document: the real one with targeted edits, or any JSON at all. */
export const documentArb: fc.Arbitrary<Json> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(docEditArb, { minLength: 0, maxLength: 4 })
      .map((edits) => applyEdits(TEMPLATE, edits)),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json> },
);

const deviceIdArb = fc.oneof(
  fc.constantFrom('fuzz-a', 'fuzz-b', 'fuzz-c', 'ESP32_EcoWatt_Smart'),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/),
);

/** Sets the document's device id when it is an object (so sealed documents name fresh devices). */
function withDevice(doc: Json, id: string): Json {
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'device_id' in doc
    ? { ...doc, device_id: id }
    : doc;
}

const nonceArb = fc.oneof(
  fc.integer({ min: 10_001, max: 10_100 }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.constantFrom(0, 10_000, 2 ** 32 - 1),
);

/** A v1 envelope (as the firmware seals it) around a fuzzed document or fuzzed bytes. */
const sealedV1Arb: fc.Arbitrary<Json> = fc
  .record({
    doc: documentArb,
    device: deviceIdArb,
    nonce: nonceArb,
    encrypt: fc.boolean(),
    plaintext: fc.oneof(
      { weight: 5, arbitrary: fc.constant('doc' as const) },
      { weight: 1, arbitrary: fc.constant('buffer2048' as const) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    ),
    tamper: fc.boolean(),
    seed: fc.nat(),
  })
  .map(({ doc, device, nonce, encrypt, plaintext, tamper, seed }) => {
    let bytes: Uint8Array;
    if (plaintext === 'doc') bytes = Buffer.from(JSON.stringify(withDevice(doc, device)));
    else if (plaintext === 'buffer2048') {
      const big = realUploadJson(device, REAL_PACKETS.slice(0, 6));
      let s = seed;
      bytes = firmwareBufferBytes(big, () => {
        s = (s * 1_103_515_245 + 12_345) >>> 0;
        return s / 2 ** 32;
      }).bytes;
    } else bytes = plaintext;
    let body = sealV1(bytes, { nonce, keys: FIELD_KEYS, encrypt });
    if (tamper && seed % 4 === 0) body = tamperEnvelope(body, () => ((seed % 997) + 0.5) / 997);
    return JSON.parse(body) as Json;
  });

/** A v2 envelope with a random key: authentic-looking, never authentic (no such device key). */
const sealedV2Arb: fc.Arbitrary<Json> = fc
  .record({
    doc: documentArb,
    device: deviceIdArb,
    nonce: fc.nat(),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    encrypt: fc.boolean(),
  })
  .map(
    ({ doc, device, nonce, key, encrypt }) =>
      JSON.parse(
        sealV2(Buffer.from(JSON.stringify(doc)), { deviceId: device, kid: 'k1', key, nonce, encrypt }),
      ) as Json,
  );

/** Objects that are envelope attempts with fields of any type. */
const envelopeShapedArb: fc.Arbitrary<Json> = fc.record(
  {
    v: fc.oneof(fc.constant(2), fc.jsonValue({ maxDepth: 1 })),
    nonce: fc.oneof(nonceArb, fc.jsonValue({ maxDepth: 1 }), fc.double(), fc.string()),
    payload: fc.oneof(fc.base64String({ maxLength: 400 }), fc.string(), fc.jsonValue({ maxDepth: 1 })),
    mac: fc.oneof(
      fc.stringMatching(/^[0-9a-fA-F]{64}$/),
      fc.string({ maxLength: 80 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    encrypted: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
    device_id: fc.oneof(deviceIdArb, fc.jsonValue({ maxDepth: 1 })),
    kid: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    iv: fc.oneof(fc.base64String({ maxLength: 40 }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<Json>;

/** What `/process` may be sent, as a parsed JSON value. */
export const processValueArb: fc.Arbitrary<Json> = fc.oneof(
  { weight: 5, arbitrary: sealedV1Arb },
  { weight: 1, arbitrary: sealedV2Arb },
  { weight: 2, arbitrary: envelopeShapedArb },
  { weight: 1, arbitrary: documentArb },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json> },
);

export interface RawBody {
  payload: Buffer;
  contentType: string | undefined;
  deviceHeader: string | undefined;
}

/** A whole HTTP body: JSON text of the above, or bytes that are not JSON at all. */
export const rawBodyArb: fc.Arbitrary<RawBody> = fc.record({
  payload: fc.oneof(
    { weight: 6, arbitrary: processValueArb.map((v) => Buffer.from(JSON.stringify(v))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 256 }).map((s) => Buffer.from(s)) },
    {
      weight: 1,
      arbitrary: fc.tuple(processValueArb, fc.nat()).map(([v, cut]) => {
        const s = JSON.stringify(v) ?? '';
        return Buffer.from(s.slice(0, cut % (s.length + 1)));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: 5000 })
        .map((d) => Buffer.from(`${'['.repeat(d)}${']'.repeat(d)}`)),
    },
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    undefined,
    'text/plain',
    'application/vnd.ecowatt+json',
    'APPLICATION/JSON',
    'application/json;;;',
    'multipart/form-data; boundary=x',
  ),
  deviceHeader: fc.option(deviceIdArb, { nil: undefined }),
});
