/** The firmware 1.3 vectors (test/fixtures/head, copied from the shared vectors/head). */
import { readFileSync } from 'node:fs';

export interface CompressionVector {
  id: string;
  format: string;
  api: string;
  state: string;
  first_byte: string;
  device_label: string | null;
  register_layout: number[];
  sample_count: number;
  registers: number[];
  input_values: number[];
  output_hex: string;
  output_base64: string;
  output_len: number;
  faithful_decode: number[] | null | Record<string, unknown>;
  lossless: boolean;
  sequence?: string;
  step?: number;
  aggregation_mode?: number;
  timestamps_ms_u32?: number[];
}

export interface EnvelopeVector {
  id: string;
  nvs_nonce_before_boot: number | null;
  nonce_after_init: number;
  nonce: number;
  plaintext_json: string;
  envelope_json: string;
  mac: string;
  payload: string;
  nvs_nonce_after: number;
}

export interface UploadVector {
  id: string;
  device_id: string;
  nvs_config: { sampling_interval_s: number; upload_interval_s: number; register_layout: number[] };
  wall_clock_unix_s: number;
  reads: { register_layout: number[]; register_values: number[][]; sample_timestamps_ms: number[] }[];
  packets_hex: string[];
  requests: { nonce: number; body: string; plaintext_json: string; server_answer_code: number }[];
}

function load<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../fixtures/head/${name}`, import.meta.url), 'utf8'));
}

export const COMPRESSION: CompressionVector[] = load('compression.json');
export const ENVELOPES: EnvelopeVector[] = load('envelopes.json');
export const UPLOADS: UploadVector[] = load('uploads.json');
export const PSK = Buffer.from(
  load<{ keys: { hmac_psk_hex: string } }>('envelopes.conventions.json').keys.hmac_psk_hex,
  'hex',
);

export const bytesOf = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
export const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The steps of one stateful sequence, in replay order. */
export function sequence(name: string): CompressionVector[] {
  return COMPRESSION.filter((v) => v.sequence === name).sort((a, b) => (a.step ?? 0) - (b.step ?? 0));
}

export const SEQUENCES: string[] = [...new Set(COMPRESSION.flatMap((v) => (v.sequence ? [v.sequence] : [])))];
