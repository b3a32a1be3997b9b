/**
 * Ways a simulated device (or the network, or an attacker next to it) can misbehave, and what the
 * server must answer to each. The simulator uses the expected answers to tell a defended attack
 * (a rejection that had to happen) from a failure (a valid upload refused, or a bad one accepted).
 */

export const MISBEHAVIOURS = [
  /** Someone re-sends an envelope the server already accepted. Rate per upload. */
  'replay',
  /** An envelope altered in transit (a payload bit or a MAC digit). Rate per upload. */
  'tamper',
  /** The device's NVS is wiped: its nonce counter starts again at 10001. Share of devices. */
  'wiped',
  /** The device's crystal runs fast or slow: its millis() drift from real time. Share of devices. */
  'drift',
  /** A body beyond the server's size limit. Rate per upload. */
  'oversized',
  /** A body cut short on the way (a proxy or a dying connection). Rate per upload. */
  'truncated',
  /**
   * The field firmware's 2048-byte buffer (PROTOCOL.md §1.4): after a Wi-Fi outage of about 40 s
   * the device holds 4 or more packets, its upload becomes truncated JSON followed by stack junk,
   * and it never uploads successfully again until reboot. Share of devices.
   */
  'buffer2048',
] as const;

export type Misbehaviour = (typeof MISBEHAVIOURS)[number];

/**
 * Faults of a firmware update "on the wire" (as `simulate-ota --fault`), each a share of devices;
 * they never touch an upload. The device must refuse the image and keep running its version.
 */
export const FIRMWARE_FAULTS = [
  /** One byte of a chunk flipped in transit: refused at that chunk (HMAC before decryption). */
  'badchunk',
  /** One byte of the manifest's signature flipped: refused before the image is committed. */
  'badsignature',
] as const;

export type FirmwareFault = (typeof FIRMWARE_FAULTS)[number];
export type MisbehaviourRates = Partial<Record<Misbehaviour | FirmwareFault, number>>;
/** Why an upload was sent: a device doing its job, or one of the misbehaviours. */
export type Intent = 'valid' | Misbehaviour;

/** Modes that are a property of a device (chosen once), not of one upload. */
export const DEVICE_MODES = ['wiped', 'drift', 'buffer2048'] as const satisfies readonly Misbehaviour[];
export type DeviceMode = (typeof DEVICE_MODES)[number];

/** Outcome keys are `"<status> <error code>"`, `"200"` or `"transport_error"`. */
const EXPECTED: Record<Intent, readonly string[]> = {
  valid: ['200'],
  drift: ['200'],
  replay: ['401 replayed_nonce'],
  tamper: ['401 authentication_failed'],
  wiped: ['401 replayed_nonce'],
  // A server may answer 413 before reading the body and close the connection while the client
  // is still sending: the client then sees a reset, which is a refusal too.
  oversized: ['413 payload_too_large', 'transport_error'],
  truncated: ['400 malformed_json'],
  // The MAC is computed over the garbled bytes, so it verifies; the document does not parse.
  buffer2048: ['400 malformed_payload'],
};

export function expectedOutcomes(intent: Intent): readonly string[] {
  return EXPECTED[intent];
}

export function isExpected(intent: Intent, outcome: string): boolean {
  return EXPECTED[intent].includes(outcome);
}

/** `replay=0.05,tamper=0.02,…`: every rate a number from 0 to 1. Throws with a readable message. */
export function parseMisbehaviour(text: string): MisbehaviourRates {
  const rates: MisbehaviourRates = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([a-z0-9]+)\s*=\s*([0-9.]+)$/i.exec(item);
    if (!m) throw new Error(`"${item}" is not name=rate (e.g. replay=0.05)`);
    const name = m[1].toLowerCase() as Misbehaviour | FirmwareFault;
    const known: readonly string[] = [...MISBEHAVIOURS, ...FIRMWARE_FAULTS];
    if (!known.includes(name)) {
      throw new Error(`unknown misbehaviour "${m[1]}"; known: ${known.join(', ')}`);
    }
    const rate = Number(m[2]);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`${name}: rate must be from 0 to 1`);
    rates[name] = rate;
  }
  return rates;
}

export function formatMisbehaviour(rates: MisbehaviourRates): string {
  const parts = [...MISBEHAVIOURS, ...FIRMWARE_FAULTS]
    .filter((m) => (rates[m] ?? 0) > 0)
    .map((m) => `${m}=${rates[m]}`);
  return parts.length > 0 ? parts.join(',') : 'none';
}

/**
 * Alters an envelope the way a bit error or an attacker would, keeping its shape so that it can
 * only fail authentication: one bit of the payload, or one hex digit of the MAC.
 */
export function tamperEnvelope(body: string, random: () => number): string {
  const env = JSON.parse(body) as Record<string, unknown>;
  const payload = typeof env.payload === 'string' ? Buffer.from(env.payload, 'base64') : Buffer.alloc(0);
  if (payload.length > 0 && random() < 0.5) {
    const i = Math.floor(random() * payload.length);
    payload[i] ^= 1 << Math.floor(random() * 8);
    env.payload = payload.toString('base64');
  } else {
    const mac = String(env.mac);
    const i = Math.floor(random() * mac.length);
    const digit = Number.parseInt(mac[i], 16);
    const other = ((digit + 1 + Math.floor(random() * 15)) % 16).toString(16);
    env.mac = `${mac.slice(0, i)}${other}${mac.slice(i + 1)}`;
  }
  return JSON.stringify(env);
}

/** The envelope padded with whitespace to just beyond `limit` bytes: still JSON, too large. */
export function oversizeBody(body: string, limit: number): string {
  const extra = Math.max(1, limit + 1024 - Buffer.byteLength(body));
  return `${body.slice(0, -1)}${' '.repeat(extra)}}`;
}

/** A proper prefix of the body (never empty, never the whole): no prefix of an object is JSON. */
export function truncateBody(body: string, random: () => number): string {
  const cut = 1 + Math.floor(random() * (body.length - 1));
  return body.slice(0, cut);
}

/** Size of the firmware's serialisation buffer (main.cpp:710-711). */
export const FIRMWARE_JSON_BUFFER = 2048;

/**
 * What the field firmware MACs and sends for a document of `json`: below the buffer size the
 * document itself; at or beyond it the first 2048 bytes (no terminating NUL fits) followed by
 * whatever stack bytes come next up to a zero byte (§1.4).
 */
export function firmwareBufferBytes(
  json: string,
  random: () => number,
): { bytes: Buffer; truncated: boolean } {
  const full = Buffer.from(json);
  if (full.length < FIRMWARE_JSON_BUFFER) return { bytes: full, truncated: false };
  const junk = Buffer.alloc(1 + Math.floor(random() * 48));
  for (let i = 0; i < junk.length; i++) junk[i] = 1 + Math.floor(random() * 255);
  // Stack junk that happened to be JSON whitespace after a complete document would still parse;
  // real junk practically never is, so the first byte is kept out of that set.
  if ([0x09, 0x0a, 0x0d, 0x20].includes(junk[0])) junk[0] = 0xa5;
  return { bytes: Buffer.concat([full.subarray(0, FIRMWARE_JSON_BUFFER), junk]), truncated: true };
}
