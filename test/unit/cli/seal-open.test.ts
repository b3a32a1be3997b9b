import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openLine, openLines, registerOpenCommand } from '../../../src/cli/commands/open.js';
import {
  parseSealOptions,
  registerSealCommand,
  sealInput,
  splitLines,
} from '../../../src/cli/commands/seal.js';
import { parseHexOption, parseNonceOption, UsageError } from '../../../src/cli/key-options.js';
import { FIELD_KEYS } from '../../../src/protocol/envelope-v1.js';
import { sealV2 } from '../../../src/protocol/envelope-v2.js';

interface Vector {
  id: string;
  encrypted?: boolean;
  nonce?: number;
  plaintext_json: string;
  envelope_json: string;
}

const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../fixtures/envelopes.json', import.meta.url), 'utf8'),
);
const e2e: Vector[] = JSON.parse(readFileSync(new URL('../../fixtures/e2e.json', import.meta.url), 'utf8'));

const defaults = parseSealOptions({ nonce: '10001' });

describe('seal line functions', () => {
  it('defaults to the field keys, nonce 10001, plain, whole input', () => {
    expect(defaults).toEqual({ nonce: 10001, encrypt: false, lines: false, keys: FIELD_KEYS });
  });

  it('reproduces every envelopes.json vector', () => {
    for (const v of vectors) {
      const settings = { ...defaults, nonce: v.nonce ?? 0, encrypt: v.encrypted === true };
      expect(sealInput(Buffer.from(v.plaintext_json), settings)).toEqual([v.envelope_json]);
    }
  });

  it('splits lines on LF and CRLF, keeps empty lines, ignores the final newline', () => {
    const parts = splitLines(Buffer.from('a\r\n\nb\nc\r\n')).map((b) => b.toString());
    expect(parts).toEqual(['a', '', 'b', 'c']);
    expect(splitLines(Buffer.from('x')).map(String)).toEqual(['x']);
    expect(splitLines(Buffer.alloc(0))).toEqual([]);
  });

  it('--lines counts nonces up and wraps after 2^32-1 like the device', () => {
    const out = sealInput(Buffer.from('{"a":1}\n{"a":2}\n{"a":3}\n'), {
      ...defaults,
      nonce: 0xffff_fffe,
      lines: true,
      encrypt: true,
    });
    expect(out.map((line) => JSON.parse(line).nonce)).toEqual([0xffff_fffe, 0xffff_ffff, 0]);
    const opened = openLines(out.join('\n'), [FIELD_KEYS]);
    expect(opened.failed).toBe(0);
    expect(opened.lines.map((line) => JSON.parse(line).plaintext)).toEqual(['{"a":1}', '{"a":2}', '{"a":3}']);
  });

  it('without --lines a trailing newline is part of the plaintext', () => {
    const [line] = sealInput(Buffer.from('{}\n'), defaults);
    expect(JSON.parse(openLine(line, [FIELD_KEYS]).output).plaintext).toBe('{}\n');
  });
});

describe('option parsing', () => {
  it('names the option in hex errors', () => {
    expect(() => parseSealOptions({ nonce: '1', hmacKey: 'zz' })).toThrow(/--hmac-key/);
    expect(() => parseSealOptions({ nonce: '1', hmacKey: 'abc' })).toThrow(/--hmac-key/);
    expect(() => parseSealOptions({ nonce: '1', aesKey: '00'.repeat(15) })).toThrow(
      /--aes-key: expected 16 bytes/,
    );
    expect(() => parseSealOptions({ nonce: '1', iv: '' })).toThrow(/--iv/);
    expect(() => parseHexOption('--x', '0g')).toThrow(UsageError);
  });

  it('accepts upper-case hex and keeps field defaults for the options not given', () => {
    const keys = parseSealOptions({ nonce: '1', hmacKey: 'AB01' }).keys;
    expect(Buffer.from(keys.hmacKey).toString('hex')).toBe('ab01');
    expect(keys.aesKey).toBe(FIELD_KEYS.aesKey);
    expect(keys.iv).toBe(FIELD_KEYS.iv);
  });

  it('takes nonces 0..2^32-1 in plain decimal only', () => {
    expect(parseNonceOption('--nonce', '0')).toBe(0);
    expect(parseNonceOption('--nonce', '4294967295')).toBe(0xffff_ffff);
    for (const bad of ['-1', '4294967296', '1e3', '0x10', '1.0', '', ' 1', '99999999999']) {
      expect(() => parseNonceOption('--nonce', bad)).toThrow(/--nonce/);
    }
  });
});

describe('open line functions', () => {
  it('opens every fixture envelope (envelopes.json and e2e.json), LF/CRLF and blank lines mixed', () => {
    const all = [...vectors, ...e2e];
    const text = `${all.map((v) => v.envelope_json).join('\r\n')}\n\n  \n`;
    const { lines, failed } = openLines(text, [FIELD_KEYS]);
    expect(failed).toBe(0);
    expect(lines.map((line) => JSON.parse(line))).toEqual(
      all.map((v) => ({ ok: true, nonce: JSON.parse(v.envelope_json).nonce, plaintext: v.plaintext_json })),
    );
  });

  it('writes the documented line shapes', () => {
    const good = vectors[4].envelope_json;
    expect(openLine(good, [FIELD_KEYS]).output).toBe(
      `{"ok":true,"nonce":${vectors[4].nonce},"plaintext":${JSON.stringify(vectors[4].plaintext_json)}}`,
    );
  });

  it('reports each kind of failure with its code and counts them', () => {
    const original = vectors[4].envelope_json;
    const tampered = original.replace(/"mac":"(.)/, (_m, c: string) => `"mac":"${c === 'f' ? '0' : 'f'}`);
    expect(tampered).not.toBe(original);
    const v2 = sealV2(Buffer.from('{}'), { deviceId: 'd', kid: 'k', nonce: 1, key: Buffer.alloc(32) });
    const input = [
      'not json',
      '{"nonce":1}',
      '{"nonce":"1","payload":"","mac":""}',
      tampered,
      v2,
      vectors[4].envelope_json,
    ].join('\n');
    const { lines, failed } = openLines(input, [FIELD_KEYS]);
    const parsed = lines.map((line) => JSON.parse(line));
    expect(parsed.map((p) => p.error ?? 'ok')).toEqual([
      'malformed_json',
      'missing_security_fields',
      'malformed_envelope',
      'authentication_failed',
      'malformed_envelope',
      'ok',
    ]);
    expect(failed).toBe(5);
    for (const p of parsed.slice(0, 5)) {
      expect(p.ok).toBe(false);
      expect(typeof p.message).toBe('string');
    }
  });

  it('shows plaintexts that are not UTF-8 in hex too', () => {
    const [line] = sealInput(Buffer.from([0xff, 0x7b, 0x7d]), defaults);
    expect(JSON.parse(openLine(line, [FIELD_KEYS]).output)).toMatchObject({
      ok: true,
      plaintext_hex: 'ff7b7d',
    });
  });

  it('fails with other keys', () => {
    const result = openLine(vectors[0].envelope_json, [{ hmacKey: Buffer.alloc(32) }]);
    expect(result.ok).toBe(false);
    expect(JSON.parse(result.output).error).toBe('authentication_failed');
  });
});

describe('commander wiring (no process spawned)', () => {
  let dir: string;
  let stdout: string[];
  let stderr: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecowatt-seal-open-'));
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  });

  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
    process.exitCode = undefined;
  });

  function program(): Command {
    // exitOverride before registering, so the subcommands inherit "throw instead of exit".
    const p = new Command()
      .exitOverride()
      .configureOutput({ writeErr: (s) => stderr.push(s), writeOut: () => {} });
    registerSealCommand(p);
    registerOpenCommand(p);
    return p;
  }

  it('seal reads a file and prints the envelope line', async () => {
    const file = join(dir, 'p.json');
    const v = vectors.find((x) => x.id === 'len17-encrypted');
    if (!v) throw new Error('fixture missing');
    writeFileSync(file, v.plaintext_json);
    await program().parseAsync(['seal', file, '--nonce', String(v.nonce), '--encrypt'], { from: 'user' });
    expect(stdout.join('')).toBe(`${v.envelope_json}\n`);
  });

  it('open sets exit code 1 when a line fails', async () => {
    const file = join(dir, 'e.jsonl');
    writeFileSync(file, `${vectors[0].envelope_json}\nnope\n`);
    await program().parseAsync(['open', file], { from: 'user' });
    expect(stdout.join('').trim().split('\n')).toHaveLength(2);
    expect(process.exitCode).toBe(1);
  });

  it('open leaves exit code 0 when all lines open', async () => {
    const file = join(dir, 'e.jsonl');
    writeFileSync(file, `${vectors[0].envelope_json}\n`);
    await program().parseAsync(['open', file], { from: 'user' });
    expect(process.exitCode).toBeUndefined();
  });

  it('bad hex and unreadable files are usage errors with exit code 2', async () => {
    const cases = [
      ['open', join(dir, 'missing'), '--hmac-key', 'xyz'],
      ['seal', '--nonce', '-5'],
      ['open', join(dir, 'missing')],
    ];
    for (const args of cases) {
      const run = program().parseAsync(args, { from: 'user' });
      await expect(run).rejects.toBeInstanceOf(CommanderError);
      await expect(run).rejects.toMatchObject({ exitCode: 2 });
    }
    expect(stderr.join('')).toMatch(/--hmac-key/);
    expect(stderr.join('')).toMatch(/--nonce/);
    expect(stderr.join('')).toMatch(/cannot read/);
  });
});
