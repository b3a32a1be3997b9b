import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { OpenedRequest } from '../../../src/devices/device-authenticator.js';
import { type Outcome, type Refusal, Refusals } from '../../../src/devices/refusals.js';
import { RateLimiter } from '../../../src/http/rate-limit.js';
import { quarantinedPacket } from '../../../src/ingest/decode-packets.js';
import { e84f720Decoder } from '../../../src/ingest/e84f720-decoder.js';
import { answerUpload } from '../../../src/ingest/stages/answer-upload.js';
import { type CommitDeps, commitUpload } from '../../../src/ingest/stages/commit-upload.js';
import {
  type AuthenticatedUpload,
  limitDeviceRate,
  openEnvelope,
  readDocument,
} from '../../../src/ingest/stages/receive-upload.js';
import type { UploadDocument } from '../../../src/ingest/upload-document.js';
import type { Device } from '../../../src/model/device.js';
import { ApiError } from '../../../src/model/errors.js';
import { SecurityEvents } from '../../../src/observability/security-events.js';
import type { CommitOutcome, SecurityEvent } from '../../../src/ports/storage.js';

const log = pino({ level: 'silent' });
const req = { source: '10.0.0.5', requestId: 'req-1', receivedAt: 1_700_000_000_000 };

function recorder(): { events: SecurityEvents; recorded: SecurityEvent[]; rejects: string[] } {
  const recorded: SecurityEvent[] = [];
  const rejects: string[] = [];
  const events = new SecurityEvents(
    {
      recordSecurityEvent: (e) => recorded.push(e),
      countReject: (device, code) => rejects.push(`${device}:${code}`),
    },
    log,
  );
  return { events, recorded, rejects };
}

function refusalOf<T>(outcome: Outcome<T>): Refusal {
  if (outcome.ok) throw new Error('expected a refusal');
  return outcome.refusal;
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

const opened: OpenedRequest = {
  inner: { device_id: 'inv-1', compressed_data: [] },
  nonce: 10_001,
  keyKid: null,
  protocol: 'v1',
  encrypted: false,
  claim: undefined,
  generation: undefined,
};

const upload: AuthenticatedUpload<UploadDocument> = {
  doc: { deviceId: 'inv-1', timestamp: null, packets: [] },
  nonce: 10_001,
  keyKid: null,
  protocol: 'v1',
  encrypted: false,
};

describe('open the envelope', () => {
  const authenticator = (o: Outcome<OpenedRequest>) => ({ openEnvelope: async () => o });

  it("takes the route's generation, else the envelope's, else e84f720", async () => {
    const base = { ...req, body: {}, claimedDeviceId: undefined };
    const as13 = { ok: true, value: { ...opened, generation: '1.3' } } as const;
    const plain = { ok: true, value: opened } as const;
    const generation = async (o: Outcome<OpenedRequest>, route?: '1.3' | 'e84f720') => {
      const r = await openEnvelope(authenticator(o), { ...base, ...(route ? { generation: route } : {}) });
      return r.ok ? r.value.generation : r.refusal.code;
    };
    expect(await generation(plain, '1.3')).toBe('1.3');
    expect(await generation(as13)).toBe('1.3');
    expect(await generation(plain)).toBe('e84f720');
  });

  it("returns the authenticator's refusal as it is", async () => {
    const refused: Outcome<OpenedRequest> = {
      ok: false,
      refusal: { code: 'authentication_failed', status: 401, event: { reason: 'mac_mismatch' } },
    };
    const r = await openEnvelope(authenticator(refused), { ...req, body: {}, claimedDeviceId: undefined });
    expect(r).toEqual(refused);
  });
});

describe('read the document', () => {
  it('refuses an unreadable document with 400 and no event', () => {
    const r = refusalOf(readDocument(e84f720Decoder, { ...opened, inner: { device_id: 'inv-1' } }));
    expect(r).toMatchObject({
      code: 'malformed_payload',
      status: 400,
      message: 'compressed_data must be an array',
    });
    expect(r.event).toBeUndefined();
  });

  it('refuses a document naming another device than the request claimed, as an authentication failure', () => {
    const r = refusalOf(readDocument(e84f720Decoder, { ...opened, claim: 'inv-2' }));
    expect(r).toMatchObject({
      code: 'authentication_failed',
      status: 401,
      event: {
        reason: 'device_id_mismatch',
        deviceId: 'inv-2',
        nonce: 10_001,
        detail: { claimed: 'inv-2', inner: 'inv-1' },
      },
    });
  });

  it('reads the document with what the envelope said', () => {
    const r = readDocument(e84f720Decoder, { ...opened, claim: 'inv-1', keyKid: 'k1', encrypted: true });
    expect(r).toEqual({
      ok: true,
      value: { doc: upload.doc, nonce: 10_001, keyKid: 'k1', protocol: 'v1', encrypted: true },
    });
  });
});

describe('limit the device rate', () => {
  it('passes without a limiter', async () => {
    expect(await limitDeviceRate(undefined, 'inv-1')).toEqual({ ok: true, value: undefined });
  });

  it("refuses with the limiter's 429, its Retry-After and the limit's name", async () => {
    const limiter = new RateLimiter('per-device', { rate: 1, burst: 1 }, 10, () => 0);
    expect((await limitDeviceRate(limiter, 'inv-1')).ok).toBe(true);
    const r = refusalOf(await limitDeviceRate(limiter, 'inv-1'));
    expect(r).toMatchObject({
      code: 'rate_limited',
      status: 429,
      retryAfterSeconds: 1,
      details: { limit: 'per-device' },
    });
    expect(r.message).toMatch(/^Rate limit "per-device"/);
    expect(r.event).toBeUndefined();
  });

  it('lets a fault through as a fault', async () => {
    const broken = {
      name: 'broken',
      take: () => {
        throw new Error('boom');
      },
    };
    await expect(limitDeviceRate(broken, 'inv-1')).rejects.toThrow('boom');
  });
});

describe('commit', () => {
  const input = { generation: 'e84f720' as const, initialHigh: 10_000, packets: [], decoderState: '{}' };
  const settings = {
    defaultAllowUnsecured: false,
    defaultReplayMode: { kind: 'strict' as const },
    counterResetThreshold: 1000,
  };

  function deps(outcome: CommitOutcome | Error, lastAuthSource: string | null = '10.0.0.5') {
    const r = recorder();
    const commit: CommitDeps = {
      storage: {
        commitUpload: async () => {
          if (outcome instanceof Error) throw outcome;
          return outcome;
        },
        getDevice: async () => ({ lastAuthSource }) as Device,
      },
      events: r.events,
      log,
      settings,
    };
    return { commit, recorded: r.recorded };
  }

  it('answers a fleet-key upload from a device with keys of its own as an authentication failure', async () => {
    const { commit } = deps({ ok: false, code: 'policy', reason: 'fleet_key_not_allowed' });
    const r = refusalOf(await commitUpload(commit, req, upload, input));
    expect(r).toMatchObject({
      code: 'authentication_failed',
      status: 401,
      event: { reason: 'fleet_key_not_allowed', deviceId: 'inv-1', nonce: 10_001 },
    });
  });

  it('answers the other policy rejections with their own code and a reason an operator reads', async () => {
    const { commit } = deps({ ok: false, code: 'policy', reason: 'device_disabled' });
    expect(refusalOf(await commitUpload(commit, req, upload, input))).toMatchObject({
      code: 'device_disabled',
      status: 403,
      event: { reason: 'device is disabled' },
    });
  });

  it('answers a replay with its reason and the highest accepted nonce', async () => {
    const { commit, recorded } = deps({
      ok: false,
      code: 'replayed_nonce',
      reason: 'duplicate',
      high: 10_001,
    });
    expect(refusalOf(await commitUpload(commit, req, upload, input))).toMatchObject({
      code: 'replayed_nonce',
      status: 401,
      event: { reason: 'duplicate', deviceId: 'inv-1', nonce: 10_001, detail: { high: 10_001 } },
    });
    expect(recorded).toEqual([]);
  });

  it('records a suspected counter reset, and a shared id, before the replay refusal', async () => {
    const { commit, recorded } = deps(
      { ok: false, code: 'replayed_nonce', reason: 'counter_reset_suspected', high: 500_000 },
      '10.0.0.9',
    );
    const r = refusalOf(await commitUpload(commit, req, upload, input));
    expect(r.event?.reason).toBe('counter_reset_suspected');
    expect(recorded.map((e) => e.code)).toEqual(['counter_reset_suspected', 'device_id_collision']);
    expect(recorded[0].detail).toEqual({
      cause: 'id_collision',
      high: 500_000,
      generation: 'e84f720',
      authenticated_source: '10.0.0.9',
    });
  });

  it('throws 503 storage_unavailable when the database fails', async () => {
    const { commit } = deps(new Error('disk full'));
    const err = await commitUpload(commit, req, upload, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'storage_unavailable', status: 503, retryAfterSeconds: 5 });
  });
});

describe('answer', () => {
  const committed = {
    ok: true as const,
    uploadId: 'u-1',
    gap: 12,
    duplicatePackets: [1],
    readingsStored: 6,
    samplesStored: 1,
    registered: false,
    retiredKeys: [],
  };
  const bad = quarantinedPacket(
    'inv-1',
    { index: 0, deviceTimestamp: null, label: 'x' },
    new Uint8Array([1]),
    'bad',
  );

  it('reports quarantines and a large nonce gap as events, and every packet in the answer', () => {
    const { events, recorded } = recorder();
    const answer = answerUpload({ events, log, nonceGapEventThreshold: 10 }, req, upload, [bad], committed);
    expect(recorded.map((e) => [e.code, e.reason])).toEqual([
      ['packet_quarantined', 'bad'],
      ['nonce_gap', '12 uploads between the last accepted nonce and 10001 never arrived'],
    ]);
    expect(answer).toEqual({
      status: 'success',
      device_id: 'inv-1',
      upload_id: 'u-1',
      nonce: 10_001,
      packets: 1,
      samples: 1,
      readings: 6,
      duplicate_packets: 1,
      nonce_gap: 12,
      quarantined: [{ index: 0, reason: 'bad' }],
      packet_summary: [{ index: 0, method: null, label: 'x', status: 'quarantined', quality: {} }],
    });
  });

  it('raises no gap event below the threshold, and never answers a negative gap', () => {
    const { events, recorded } = recorder();
    const late = { ...committed, gap: -1 };
    const answer = answerUpload({ events, log, nonceGapEventThreshold: 10 }, req, upload, [], late);
    expect(recorded).toEqual([]);
    expect(answer.nonce_gap).toBe(0);
  });
});

describe('telling a refusal', () => {
  it('records its event once, counted against the device, then throws its code', () => {
    const { events, recorded, rejects } = recorder();
    const refusals = new Refusals(events, 'production');
    const told = () =>
      refusals.answer(req, {
        code: 'replayed_nonce',
        status: 401,
        event: { reason: 'duplicate', deviceId: 'inv-1', nonce: 7, detail: { high: 7 } },
      });
    expect(told).toThrow(new ApiError('replayed_nonce'));
    expect(recorded).toEqual([
      {
        time: req.receivedAt,
        deviceId: 'inv-1',
        code: 'replayed_nonce',
        reason: 'duplicate',
        source: req.source,
        nonce: 7,
        requestId: req.requestId,
        detail: { high: 7 },
      },
    ]);
    expect(rejects).toEqual(['inv-1:replayed_nonce']);
  });

  it("adds the field documentation's wording in development", () => {
    const refusals = new Refusals(recorder().events, 'development');
    const err = thrownBy(() => refusals.refuse(req, 'authentication_failed', 'mac_mismatch'));
    expect(err).toMatchObject({ message: 'HMAC verification failed (mac_mismatch)', status: 401 });
  });

  it('throws a quiet refusal with its own message, Retry-After and details, and records nothing', () => {
    const { events, recorded } = recorder();
    const refusals = new Refusals(events, 'development');
    const thrown = thrownBy(() =>
      refusals.answer(req, {
        code: 'rate_limited',
        status: 429,
        message: 'slow down',
        retryAfterSeconds: 3,
        details: { limit: 'per-device' },
      }),
    );
    expect(thrown).toMatchObject({
      code: 'rate_limited',
      message: 'slow down',
      retryAfterSeconds: 3,
      details: { limit: 'per-device' },
    });
    expect(recorded).toEqual([]);
  });
});
