import { describe, expect, it } from 'vitest';
import { FIELD_KEYS, openV1, parseV1Envelope, sealV1 } from '../../../src/protocol/envelope-v1.js';
import { seededRandom } from '../../../src/sim/inverter.js';
import {
  expectedOutcomes,
  FIRMWARE_JSON_BUFFER,
  firmwareBufferBytes,
  formatMisbehaviour,
  isExpected,
  MISBEHAVIOURS,
  oversizeBody,
  parseMisbehaviour,
  tamperEnvelope,
  truncateBody,
} from '../../../src/sim/misbehaviour.js';

const envelope = sealV1(Buffer.from('{"device_id":"d1","timestamp":1}'), { nonce: 10_001, keys: FIELD_KEYS });

describe('parseMisbehaviour', () => {
  it('reads name=rate pairs', () => {
    expect(parseMisbehaviour('replay=0.05, tamper=0.02,buffer2048=1')).toEqual({
      replay: 0.05,
      tamper: 0.02,
      buffer2048: 1,
    });
    expect(parseMisbehaviour('')).toEqual({});
  });

  it('refuses unknown names, bad syntax and rates outside 0..1', () => {
    expect(() => parseMisbehaviour('replays=0.1')).toThrow(/unknown misbehaviour "replays"/);
    expect(() => parseMisbehaviour('replay')).toThrow(/name=rate/);
    expect(() => parseMisbehaviour('replay=1.5')).toThrow(/from 0 to 1/);
    expect(() => parseMisbehaviour('replay=0.1.2')).toThrow(/from 0 to 1/);
  });

  it('formats back what it parsed, in a fixed order', () => {
    expect(formatMisbehaviour(parseMisbehaviour('tamper=0.1,replay=0.2'))).toBe('replay=0.2,tamper=0.1');
    expect(formatMisbehaviour({})).toBe('none');
  });
});

describe('expected outcomes', () => {
  it('has an answer for every kind of upload, and only a valid one is accepted', () => {
    for (const m of MISBEHAVIOURS) {
      expect(expectedOutcomes(m).length).toBeGreaterThan(0);
      expect(isExpected(m, '200')).toBe(m === 'drift');
    }
    expect(isExpected('valid', '200')).toBe(true);
    expect(isExpected('valid', 'transport_error')).toBe(false);
    expect(isExpected('oversized', 'transport_error')).toBe(true);
  });
});

describe('tamperEnvelope', () => {
  it('keeps the shape but never authenticates', () => {
    const random = seededRandom(5);
    for (let i = 0; i < 200; i++) {
      const tampered = tamperEnvelope(envelope, random);
      expect(tampered).not.toBe(envelope);
      const parsed = parseV1Envelope(JSON.parse(tampered));
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(openV1(parsed.envelope, [FIELD_KEYS]).ok).toBe(false);
    }
  });
});

describe('oversizeBody and truncateBody', () => {
  it('makes JSON just beyond the limit', () => {
    const big = oversizeBody(envelope, 65_536);
    expect(Buffer.byteLength(big)).toBeGreaterThan(65_536);
    expect(JSON.parse(big)).toEqual(JSON.parse(envelope));
  });

  it('cuts to a proper prefix that is never JSON', () => {
    const random = seededRandom(9);
    for (let i = 0; i < 200; i++) {
      const cut = truncateBody(envelope, random);
      expect(cut.length).toBeGreaterThan(0);
      expect(cut.length).toBeLessThan(envelope.length);
      expect(envelope.startsWith(cut)).toBe(true);
      expect(() => JSON.parse(cut)).toThrow();
    }
  });
});

describe('firmwareBufferBytes (PROTOCOL.md §1.4)', () => {
  it('leaves a document below 2048 bytes alone', () => {
    const json = `{"a":"${'x'.repeat(FIRMWARE_JSON_BUFFER - 10)}"}`;
    expect(Buffer.byteLength(json)).toBe(FIRMWARE_JSON_BUFFER - 2);
    const out = firmwareBufferBytes(json, seededRandom(1));
    expect(out.truncated).toBe(false);
    expect(out.bytes.toString()).toBe(json);
  });

  it('keeps the first 2048 bytes of a longer one and appends non-zero junk that breaks the JSON', () => {
    for (const extra of [0, 1, 500]) {
      const json = `{"a":"${'x'.repeat(FIRMWARE_JSON_BUFFER - 8 + extra)}"}`;
      expect(Buffer.byteLength(json)).toBe(FIRMWARE_JSON_BUFFER + extra);
      const out = firmwareBufferBytes(json, seededRandom(extra + 1));
      expect(out.truncated).toBe(true);
      expect(out.bytes.subarray(0, FIRMWARE_JSON_BUFFER).toString()).toBe(
        json.slice(0, FIRMWARE_JSON_BUFFER),
      );
      const junk = out.bytes.subarray(FIRMWARE_JSON_BUFFER);
      expect(junk.length).toBeGreaterThan(0);
      expect(junk.includes(0)).toBe(false);
      expect(() => JSON.parse(out.bytes.toString('utf8'))).toThrow();
    }
  });
});
