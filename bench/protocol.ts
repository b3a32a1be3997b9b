/**
 * `npm run bench:protocol`: envelopes opened per second and decoded values per second for each
 * wire format, on this machine, single-threaded.
 */
import { encodeBitPacked } from '../src/protocol/codecs/bitpack.js';
import { decodePacket } from '../src/protocol/codecs/decode-packet.js';
import { DeviceCompressor } from '../src/protocol/codecs/device-compressor.js';
import { encodeDictionary } from '../src/protocol/codecs/dictionary.js';
import { decodeE1, encodeE1 } from '../src/protocol/codecs/lossless-e1.js';
import { encodeRaw } from '../src/protocol/codecs/raw.js';
import { encodeSemantic } from '../src/protocol/codecs/semantic.js';
import { encodeTemporal, TemporalContext } from '../src/protocol/codecs/temporal.js';
import { FIELD_KEYS, openV1, parseV1Envelope, sealV1 } from '../src/protocol/envelope-v1.js';
import { openV2, parseV2Envelope, sealV2 } from '../src/protocol/envelope-v2.js';
import { BATCH_POSITIONS } from '../src/protocol/registers.js';
import { buildUploadJson } from '../src/protocol/upload-json.js';
import { seededRandom } from '../src/sim/inverter.js';

const MIN_MS = Number(process.env.BENCH_MS ?? 1000);

/** Runs `fn` repeatedly for at least MIN_MS and returns calls per second. */
function rate(fn: () => unknown): number {
  for (let i = 0; i < 200; i++) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MIN_MS) {
    for (let i = 0; i < 100; i++) fn();
    calls += 100;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

const random = seededRandom(42);
const batch = (): number[] => {
  const out: number[] = [];
  for (let s = 0; s < 5; s++) {
    out.push(
      2400 + Math.round(random() * 60),
      160 + Math.round(random() * 20),
      65 + Math.round(random() * 10),
      4150 + Math.round(random() * 100),
      60 + Math.round(random() * 10),
      540 + Math.round(random() * 20),
    );
  }
  return out;
};

const compressor = new DeviceCompressor();
const packet = compressor.compressBatch(batch());
const json = buildUploadJson({
  timestamp: 20_000,
  packets: [
    {
      bytes: packet.bytes,
      label: packet.label,
      timestamp: 20_000,
      compressionTimeUs: 50,
      registerLayout: [0, 1, 5, 9, 6, 7],
    },
  ],
  usage: { dictionary: 1, temporal: 0, semantic: 0, bitpack: 0 },
});
const plain = JSON.parse(sealV1(Buffer.from(json), { nonce: 10001, keys: FIELD_KEYS })) as unknown;
const encrypted = JSON.parse(
  sealV1(Buffer.from(json), { nonce: 10001, keys: FIELD_KEYS, encrypt: true }),
) as unknown;
const v2key = Buffer.alloc(32, 7);
const v2 = JSON.parse(
  sealV2(Buffer.from(json), { deviceId: 'd1', kid: 'k1', nonce: 1, key: v2key, encrypt: true }),
) as unknown;

const rows: [string, string][] = [];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const openRate = (env: unknown) =>
  rate(() => {
    const p = parseV1Envelope(env);
    if (!p.ok || !openV1(p.envelope, [FIELD_KEYS]).ok) throw new Error('bench envelope did not open');
  });
rows.push([`open v1 envelope, plain (${json.length} B plaintext)`, `${fmt(openRate(plain))} envelopes/s`]);
rows.push(['open v1 envelope, AES-128-CBC', `${fmt(openRate(encrypted))} envelopes/s`]);
rows.push([
  'open v2 envelope, encrypted',
  `${fmt(
    rate(() => {
      const p = parseV2Envelope(v2);
      if (!p.ok || !openV2(p.envelope, [{ kid: 'k1', key: v2key }]).ok) throw new Error('v2 did not open');
    }),
  )} envelopes/s`,
]);

const values = batch();
const registers = [...BATCH_POSITIONS];
const ctx = new TemporalContext();
const formats: [string, Uint8Array][] = [
  ['dictionary 0xD0 (batch of 30)', encodeDictionary(values, registers)],
  ['bit-packed 0x01 (30 × 13 bit)', encodeBitPacked(values, 13)],
  ['raw 0x00 (30 values)', encodeRaw(values)],
  ['semantic RLE 0x50 (30 values)', encodeSemantic(values, registers)],
  ['temporal base 0x70 (30 values)', encodeTemporal(values, registers, ctx)],
];
for (const [name, bytes] of formats) {
  const check = decodePacket(bytes, { registers });
  if (!check.ok) throw new Error(`${name} did not decode: ${check.message}`);
  const r = rate(() => decodePacket(bytes, { registers }));
  rows.push([`decode ${name}`, `${fmt(r * values.length)} values/s`]);
}
const samples = [0, 1, 2, 3, 4].map((s) => values.slice(s * 6, s * 6 + 6));
const e1 = encodeE1(samples, [0, 1, 5, 9, 6, 7]);
rows.push(['decode lossless 0xE1 (5 × 6)', `${fmt(rate(() => decodeE1(e1)) * 30)} values/s`]);

const width = Math.max(...rows.map(([n]) => n.length));
process.stdout.write(`EcoWatt protocol micro-benchmark (node ${process.version}, single thread)\n`);
for (const [name, value] of rows) process.stdout.write(`${name.padEnd(width)}  ${value.padStart(22)}\n`);
