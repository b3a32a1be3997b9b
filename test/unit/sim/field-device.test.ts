import { describe, expect, it } from 'vitest';
import { FIELD_KEYS, openV1, parseV1Envelope } from '../../../src/protocol/envelope-v1.js';
import { FieldDevice, type FieldDeviceOptions, type PreparedUpload } from '../../../src/sim/field-device.js';

const START = Date.UTC(2026, 5, 21, 6);

function device(extra: Partial<FieldDeviceOptions> = {}): FieldDevice {
  return new FieldDevice({
    id: 'dev-1',
    keys: FIELD_KEYS,
    encrypt: false,
    pollIntervalMs: 2000,
    uploadIntervalMs: 15_000,
    profile: { ratedPowerW: 5000, noise: 0, seed: 3 },
    startTime: START,
    ...extra,
  });
}

/** The plaintext the server would authenticate, or why it would not. */
function open(u: PreparedUpload): Buffer {
  const parsed = parseV1Envelope(JSON.parse(u.body));
  if (!parsed.ok) throw new Error(parsed.message);
  const opened = openV1(parsed.envelope, [FIELD_KEYS]);
  if (!opened.ok) throw new Error(opened.reason);
  return opened.plaintext;
}

describe('FieldDevice with the field build’s 2048-byte buffer', () => {
  it('uploads three packets normally', () => {
    const d = device({ firmwareBuffer: true });
    d.advance(30_000);
    expect(d.pendingPackets).toBe(3);
    const u = d.prepareUpload() as PreparedUpload;
    expect(u.truncated).toBeUndefined();
    const plaintext = open(u);
    expect(plaintext.length).toBeLessThan(2048);
    expect(JSON.parse(plaintext.toString()).total_samples).toBe(3);
  });

  it('garbles an upload of four or more packets with a valid MAC, and stays stuck until reboot', () => {
    const d = device({ firmwareBuffer: true });
    d.advance(40_000);
    expect(d.pendingPackets).toBe(4);
    const first = d.prepareUpload() as PreparedUpload;
    expect(first.truncated).toBe(true);
    const plaintext = open(first);
    expect(plaintext.length).toBeGreaterThan(2048);
    expect(() => JSON.parse(plaintext.toString('utf8'))).toThrow();
    d.uploadFinished(false);
    for (let i = 0; i < 5; i++) {
      d.advance();
      const again = d.prepareUpload() as PreparedUpload;
      expect(again.truncated).toBe(true);
      expect(again.nonce).toBe(first.nonce + 1 + i);
      d.uploadFinished(false);
    }
    d.reboot();
    expect(d.pendingPackets).toBe(0);
    d.advance();
    const after = d.prepareUpload() as PreparedUpload;
    expect(after.truncated).toBeUndefined();
    expect(after.nonce).toBe(first.nonce + 6);
    expect(JSON.parse(open(after).toString()).timestamp).toBeLessThan(30_000);
  });

  it('without the buffer a large upload is sent whole', () => {
    const d = device();
    d.advance(120_000);
    const u = d.prepareUpload() as PreparedUpload;
    expect(u.truncated).toBeUndefined();
    expect(JSON.parse(open(u).toString()).total_samples).toBe(12);
  });
});

describe('FieldDevice faults', () => {
  it('starts again at 10001 after its counter is wiped', () => {
    const d = device();
    for (let i = 0; i < 3; i++) {
      d.advance();
      d.prepareUpload();
      d.uploadFinished(true);
    }
    expect(d.lastNonce).toBe(10_003);
    d.wipeCounter();
    d.advance();
    expect(d.prepareUpload()?.nonce).toBe(10_001);
  });

  it('samples real time at its own crystal’s pace', () => {
    const normal = device();
    const fast = device({ clockRate: 2 });
    // Three hours by the devices' own clocks, from 06:00: the fast one has lived only 1.5 h.
    normal.advance(3 * 3_600_000);
    fast.advance(3 * 3_600_000);
    const a = normal.prepareUpload() as PreparedUpload;
    const b = fast.prepareUpload() as PreparedUpload;
    expect(JSON.parse(open(a).toString()).timestamp).toBe(JSON.parse(open(b).toString()).timestamp);
    const pac = (u: PreparedUpload) => u.values[u.values.length - 1][3];
    expect(pac(b)).toBeLessThan(pac(a));
  });

  it('keeps its label', () => {
    expect(device({ firmwareVersion: '1.2.0' }).firmwareVersion).toBe('1.2.0');
  });
});
