/**
 * A fleet device's control requests against an in-memory stand-in for the server: sealed in the
 * upload nonce sequence, answers judged, v2 answers trusted only when their MAC verifies, and
 * what the device does with `/changes` answers and commands.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FIELD_KEYS, openV1, parseV1Envelope } from '../../../src/protocol/envelope-v1.js';
import { deriveV2Keys, openV2, parseV2Envelope } from '../../../src/protocol/envelope-v2.js';
import { v2ResponseMac } from '../../../src/protocol/v2-response.js';
import { type ControlKind, ControlLink } from '../../../src/sim/control-link.js';
import { DeviceControl, emptyControlSummary } from '../../../src/sim/device-control.js';
import { FieldDevice, type V2Identity } from '../../../src/sim/field-device.js';
import type { DeviceRequest, PostAnswer, Requester } from '../../../src/sim/transport.js';

interface Seen {
  path: string;
  nonce: number;
  doc: Record<string, unknown>;
}

/** Opens each request like the server and answers with `reply` (signed for v2 unless `unsigned`). */
function fakeServer(
  reply: (seen: Seen) => { status: number; body: unknown },
  opts: { v2?: V2Identity[]; unsigned?: boolean } = {},
): { requester: Requester; seen: Seen[] } {
  const seen: Seen[] = [];
  const requester: Requester = async (req: DeviceRequest): Promise<PostAnswer> => {
    const envelope = JSON.parse(req.body ?? '{}') as Record<string, unknown>;
    let nonce: number;
    let plaintext: Buffer;
    let macKey: Buffer | undefined;
    let kid = '';
    if (envelope.v === 2) {
      const parsed = parseV2Envelope(envelope);
      if (!parsed.ok) throw new Error(parsed.message);
      const opened = openV2(parsed.envelope, opts.v2 ?? []);
      if (!opened.ok) return { status: 401, text: '{"error":"authentication_failed"}' };
      ({ nonce, plaintext, kid } = opened);
      macKey = deriveV2Keys((opts.v2 ?? []).find((k) => k.kid === kid)?.key ?? Buffer.alloc(32)).macKey;
    } else {
      const parsed = parseV1Envelope(envelope);
      if (!parsed.ok) throw new Error(parsed.message);
      const opened = openV1(parsed.envelope, [FIELD_KEYS]);
      if (!opened.ok) return { status: 401, text: '{"error":"authentication_failed"}' };
      nonce = parsed.envelope.nonce;
      plaintext = opened.plaintext;
    }
    const s = { path: req.path, nonce, doc: JSON.parse(plaintext.toString()) as Record<string, unknown> };
    seen.push(s);
    const { status, body } = reply(s);
    const text = JSON.stringify(body);
    if (!macKey || opts.unsigned) return { status, text };
    const deviceId = String(s.doc.device_id);
    return { status, text, mac: v2ResponseMac({ macKey, deviceId, kid, nonce }, status, text) };
  };
  return { requester, seen };
}

function fieldDevice(v2?: V2Identity): FieldDevice {
  return new FieldDevice({
    id: 'dev-1',
    keys: FIELD_KEYS,
    ...(v2 ? { v2 } : {}),
    encrypt: false,
    pollIntervalMs: 2000,
    uploadIntervalMs: 15_000,
    profile: { ratedPowerW: 5000, noise: 0, seed: 3 },
    startTime: Date.UTC(2026, 5, 21, 12),
    firmwareVersion: '1.0.0',
  });
}

function rig(device: FieldDevice, server: { requester: Requester }, maxAcked = -1) {
  const judged: [ControlKind, string, string, boolean][] = [];
  const unexpected: string[] = [];
  const summary = emptyControlSummary();
  const ledger = { maxAcked };
  const link = new ControlLink(device, server.requester, ledger, (kind, intent, outcome, expected) =>
    judged.push([kind, intent, outcome, expected]),
  );
  const control = new DeviceControl(device, link, {
    summary,
    unexpected: (w) => unexpected.push(w),
    stopped: () => false,
  });
  return { control, judged, unexpected, summary, ledger };
}

const CHANGE = {
  Changed: true,
  pollFreqChanged: true,
  newPollTimer: 1,
  uploadFreqChanged: true,
  newUploadTimer: 5,
  regsChanged: false,
  regsCount: 0,
  regs: '',
};

describe('/changes from a fleet device', () => {
  it('asks sealed in its nonce sequence and applies the change after its next upload', async () => {
    const device = fieldDevice();
    const server = fakeServer(() => ({ status: 200, body: CHANGE }));
    const { control, judged, summary, ledger } = rig(device, server);
    device.advance();
    device.prepareUpload();
    device.uploadFinished(true);
    await control.pollChanges();
    expect(server.seen).toEqual([
      { path: '/changes', nonce: 10_002, doc: { device_id: 'dev-1', timestamp: device.uptimeMs } },
    ]);
    expect(judged).toEqual([['changes', 'valid', '200', true]]);
    expect(ledger.maxAcked).toBe(10_002);
    expect(summary.config.changesReceived).toBe(1);
    expect(device.uploadIntervalMs).toBe(15_000);
    control.applySettings();
    expect(device.uploadIntervalMs).toBe(5000);
    expect(device.pollIntervalMs).toBe(1000);
    expect(summary.config.applied).toBe(2);
  });

  it('expects a refusal for nonces the server has already taken (a wiped counter)', async () => {
    const device = fieldDevice();
    const server = fakeServer(() => ({ status: 401, body: { error: 'replayed_nonce' } }));
    const { control, judged, ledger } = rig(device, server, 10_050);
    await control.pollChanges();
    expect(judged).toEqual([['changes', 'wiped', '401 replayed_nonce', true]]);
    expect(ledger.maxAcked).toBe(10_050);
  });

  it('rotates a v2 key delivered in an authenticated answer, and ignores an unauthenticated one', async () => {
    const k1 = { kid: 'k1', key: randomBytes(32) };
    const k2 = { kid: 'k2', key: randomBytes(32) };
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', deriveV2Keys(k1.key).encKey, iv);
    const newKey = {
      kid: 'k2',
      iv: iv.toString('base64'),
      key: Buffer.concat([cipher.update(k2.key), cipher.final()]).toString('base64'),
    };
    const answer = () => ({ status: 200, body: { ...CHANGE, new_key: newKey } });

    const forged = fieldDevice(k1);
    const unsigned = rig(forged, fakeServer(answer, { v2: [k1], unsigned: true }));
    await unsigned.control.pollChanges();
    expect(unsigned.judged).toEqual([['changes', 'valid', 'untrusted_answer', false]]);
    expect(forged.v2?.kid).toBe('k1');
    expect(unsigned.summary.config.changesReceived).toBe(0);

    const device = fieldDevice(k1);
    const server = fakeServer(answer, { v2: [k1, k2] });
    const { control, judged, summary } = rig(device, server);
    await control.pollChanges();
    expect(judged).toEqual([['changes', 'valid', '200', true]]);
    expect(device.v2).toEqual(k2);
    expect(summary.config.keyRotations).toBe(1);
    await control.pollChanges();
    expect(server.seen.map((s) => s.nonce)).toEqual([1, 2]);
    expect(judged[1]).toEqual(['changes', 'valid', '200', true]);
  });
});

describe('commands on a fleet device', () => {
  it('runs what it is handed and reports each outcome', async () => {
    const device = fieldDevice();
    const queue = [
      { command_id: '11', command: { action: 'set_power', value: 2500 } },
      { command_id: '12', command: { action: 'reboot' } },
    ];
    const server = fakeServer((s) =>
      s.path.endsWith('/poll')
        ? { status: 200, body: { success: true, commands: queue.splice(0, 1), count: 1 } }
        : { status: 200, body: { success: true, command_id: s.doc.command_id, status: s.doc.status } },
    );
    const { control, summary, judged } = rig(device, server);
    await control.pollCommands();
    await control.pollCommands();
    await control.pollCommands();
    expect(server.seen.map((s) => [s.path, s.nonce])).toEqual([
      ['/commands/dev-1/poll', 10_001],
      ['/commands/dev-1/result', 10_002],
      ['/commands/dev-1/poll', 10_003],
      ['/commands/dev-1/result', 10_004],
      ['/commands/dev-1/poll', 10_005],
    ]);
    expect(server.seen[1].doc).toEqual({
      device_id: 'dev-1',
      command_id: '11',
      status: 'succeeded',
      detail: 'export power limit set to 25 %',
    });
    expect(server.seen[3].doc).toMatchObject({ command_id: '12', status: 'failed' });
    expect(device.inverter.exportLimitPercent).toBe(25);
    expect(summary.commands).toEqual({ succeeded: 1, failed: 1 });
    expect(judged.every(([, , , expected]) => expected)).toBe(true);
  });
});
