/**
 * A C header of the keys a firmware build compiles in. It holds symmetric secrets (it is written
 * owner-only) and the public half of the signing key — never the private key.
 */
import type { FirmwareKeys } from './firmware-keys.js';

function bytes(name: string, hex: string): string {
  const b = Buffer.from(hex, 'hex');
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 8) {
    lines.push(
      `    ${[...b.subarray(i, i + 8)].map((x) => `0x${x.toString(16).padStart(2, '0').toUpperCase()}`).join(', ')}`,
    );
  }
  return `static const uint8_t ${name}[${b.length}] = {\n${lines.join(',\n')}\n};`;
}

const cString = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export function renderKeyHeader(
  keys: FirmwareKeys,
  fleet: { hmac_key: string; aes_key: string; iv: string } | undefined,
  now: Date,
): string {
  const pem = keys.publicKeyPem
    .trim()
    .split('\n')
    .map((l) => `    "${cString(l)}\\n"`)
    .join('\n');
  const parts = [
    '/*',
    ` * EcoWatt device keys, written by \`ecowatt keys\` on ${now.toISOString()} (key set ${keys.keyId}).`,
    ' * SECRET: symmetric keys follow. Keep this file out of version control.',
    ' * The firmware signing key is not here; only its public half, to verify images.',
    ' */',
    '#pragma once',
    '#include <stdint.h>',
    '',
  ];
  if (fleet) {
    parts.push(
      '/* Upload envelopes (PROTOCOL.md §2): HMAC-SHA256 key, AES-128 key and IV. */',
      bytes('ECOWATT_FLEET_HMAC_KEY', fleet.hmac_key),
      bytes('ECOWATT_FLEET_AES_KEY', fleet.aes_key),
      bytes('ECOWATT_FLEET_IV', fleet.iv),
      '',
    );
  }
  const spec = keys.generation === 'e84f720' ? 'PROTOCOL.md §6' : `PROTOCOL-${keys.generation}.md §8`;
  parts.push(
    `/* Firmware images of generation ${keys.generation} (${spec}): AES-256-CBC key. */`,
    bytes('AES_FIRMWARE_KEY', keys.aesKey.toString('hex')),
    '',
  );
  if (keys.chunkKeyText !== null) {
    parts.push(
      '/* Chunk HMAC key: used as this ASCII text (strlen bytes), not hex-decoded (§6.2). */',
      `static const char HMAC_FOTA_KEY[] = "${cString(keys.chunkKeyText)}";`,
      '',
    );
  }
  parts.push(
    '/* RSA public key verifying the PKCS#1 v1.5 / SHA-256 image signature. */',
    `static const char SERVER_PUBLIC_KEY[] =\n${pem};`,
    '',
  );
  return parts.join('\n');
}
