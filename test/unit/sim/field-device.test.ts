import { describe, expect, it } from 'vitest';
import { decodeE1 } from '../../../src/protocol/codecs/lossless-e1.js';
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

describe('FieldDevice timers and settings', () => {
  const doc = (u: PreparedUpload) =>
    JSON.parse(open(u).toString()) as {
      timestamp: number;
      compressed_data: { decompression_metadata: { timestamp: number } }[];
    };

  it('runs its upload and poll timers in its own time', () => {
    const d = device();
    const stamps: number[] = [];
    const packets: number[] = [];
    for (let i = 0; i < 4; i++) {
      d.advance();
      const u = d.prepareUpload() as PreparedUpload;
      d.uploadFinished(true);
      stamps.push(doc(u).timestamp);
      packets.push(...doc(u).compressed_data.map((p) => p.decompression_metadata.timestamp));
    }
    expect(stamps.slice(1).map((t, i) => t - stamps[i])).toEqual([15_000, 15_000, 15_000]);
    expect(packets.slice(1).map((t, i) => t - packets[i])).toEqual(packets.slice(1).map(() => 10_000));
  });

  it('takes new timers only after its next upload, and keeps them across a reboot', () => {
    const d = device();
    d.storeSettings({ pollMs: 1000, uploadMs: 5000 });
    expect(d.uploadIntervalMs).toBe(15_000);
    d.advance();
    d.prepareUpload();
    d.uploadFinished(true);
    expect(d.applyPendingSettings()).toEqual(['sampling_interval', 'upload_interval']);
    // The same values again change nothing.
    d.storeSettings({ pollMs: 1000, uploadMs: 5000 });
    expect(d.applyPendingSettings()).toEqual([]);
    const stamps: number[] = [];
    for (let i = 0; i < 4; i++) {
      d.advance();
      const u = d.prepareUpload() as PreparedUpload;
      d.uploadFinished(true);
      stamps.push(doc(u).timestamp);
      if (i > 0) expect(doc(u).compressed_data).toHaveLength(1);
    }
    expect(stamps.slice(1).map((t, i) => t - stamps[i])).toEqual([5000, 5000, 5000]);
    d.storeSettings({ uploadMs: 3000 });
    expect(d.installFirmware('1.3.0')).toEqual(['upload_interval']);
    expect(d.firmwareVersion).toBe('1.3.0');
    expect(d.uploadIntervalMs).toBe(3000);
    expect(d.pollIntervalMs).toBe(1000);
  });

  it('stores a register selection but keeps batching the fixed layout (e84f720, §5.3)', () => {
    const d = device();
    d.storeSettings({ registers: [0, 8, 9] });
    expect(d.applyPendingSettings()).toEqual([]);
    d.advance(30_000);
    const u = d.prepareUpload() as PreparedUpload;
    expect(u.packets[0].registerLayout).toEqual([0, 1, 5, 9, 6, 7]);
  });

  it('seals control requests in the same nonce sequence as its uploads', () => {
    const d = device();
    d.advance();
    expect(d.prepareUpload()?.nonce).toBe(10_001);
    const request = d.sealRequest({ timestamp: d.uptimeMs });
    expect(request.nonce).toBe(10_002);
    const parsed = parseV1Envelope(JSON.parse(request.body));
    if (!parsed.ok) throw new Error(parsed.message);
    const opened = openV1(parsed.envelope, [FIELD_KEYS]);
    if (!opened.ok) throw new Error(opened.reason);
    expect(JSON.parse(opened.plaintext.toString())).toEqual({ device_id: 'dev-1', timestamp: d.uptimeMs });
    d.advance();
    expect(d.prepareUpload()?.nonce).toBe(10_003);
  });
});

describe('a v2 FieldDevice', () => {
  const k1 = { kid: 'k1', key: Buffer.alloc(32, 1) };
  const k2 = { kid: 'k2', key: Buffer.alloc(32, 2) };

  it('reads the registers it is told to, in lossless packets naming them', () => {
    const d = device({ v2: k1 });
    d.storeSettings({ registers: [0, 8, 9] });
    expect(d.applyPendingSettings()).toEqual(['registers']);
    d.inverter.setExportLimit(30);
    d.advance(10_000);
    const u = d.prepareUpload() as PreparedUpload;
    expect(u.packets[0].registerLayout).toEqual([0, 8, 9]);
    expect(u.values[0]).toHaveLength(15);
    expect(u.values[0].filter((_, i) => i % 3 === 1)).toEqual([30, 30, 30, 30, 30]);
    const decoded = decodeE1(u.packets[0].bytes);
    expect(decoded.ok && decoded.registers).toEqual([0, 8, 9]);
  });

  it('seals with the key the server rotated it to, nonces going on', () => {
    const d = device({ v2: k1 });
    expect(JSON.parse(d.sealRequest({}).body)).toMatchObject({ kid: 'k1', nonce: 1 });
    d.rotateKey(k2);
    expect(d.v2).toEqual(k2);
    expect(JSON.parse(d.sealRequest({}).body)).toMatchObject({ kid: 'k2', nonce: 2 });
    expect(() => device().rotateKey(k2)).toThrow(/not a v2 device/);
  });
});
