/**
 * Following the device's dictionary learning packet by packet recovers the values of packets sent
 * against learned patterns, exactly, and never guesses when the sequence has a hole.
 */
import { describe, expect, it } from 'vitest';
import { decodePackets } from '../../../src/ingest/decode-packets.js';
import { parseUploadDocument } from '../../../src/ingest/upload-document.js';
import { DictionaryMirror } from '../../../src/protocol/codecs/dictionary-mirror.js';
import { FIELD_KEYS } from '../../../src/protocol/envelope-v1.js';
import { FieldDevice, type PreparedUpload } from '../../../src/sim/field-device.js';

function dawnDevice(): FieldDevice {
  return new FieldDevice({
    id: 'dawn',
    keys: FIELD_KEYS,
    encrypt: false,
    pollIntervalMs: 2000,
    uploadIntervalMs: 15_000,
    profile: { ratedPowerW: 4000, noise: 0.05, seed: 3 },
    startTime: Date.UTC(2026, 5, 21, 6),
  });
}

function docOf(u: PreparedUpload) {
  const env = JSON.parse(u.body) as { payload: string };
  const parsed = parseUploadDocument(JSON.parse(Buffer.from(env.payload, 'base64').toString()));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.doc;
}

function run(uploads: number, skip: (i: number) => boolean, mirror: DictionaryMirror | undefined) {
  const device = dawnDevice();
  let exact = 0;
  let missing = 0;
  let wrong = 0;
  for (let i = 0; i < uploads; i++) {
    device.advance();
    const u = device.prepareUpload();
    device.uploadFinished(true);
    if (!u || skip(i)) continue;
    const records = decodePackets('dawn', docOf(u), { receivedAt: 0, pollIntervalMs: 2000, mirror });
    records.forEach((r, p) => {
      r.block?.values.forEach((v, k) => {
        const q = r.block?.quality[k];
        if (q === 'missing') missing++;
        else if (q === 'exact') {
          exact++;
          if (v !== u.values[p][k]) wrong++;
        }
      });
    });
  }
  return { exact, missing, wrong };
}

describe('dictionary mirror', () => {
  it('recovers packets sent against learned patterns', () => {
    const without = run(200, () => false, undefined);
    const mirror = DictionaryMirror.fresh();
    const withMirror = run(200, () => false, mirror);
    expect(without.missing).toBeGreaterThan(without.exact);
    expect(mirror.learnedCount).toBeGreaterThan(0);
    expect(withMirror.wrong).toBe(0);
    expect(withMirror.missing).toBeLessThan(without.missing / 10);
  });

  it('stops learning after a lost upload, never decoding against a pattern it may have missed', () => {
    const mirror = DictionaryMirror.fresh();
    const r = run(200, (i) => i === 3, mirror);
    expect(mirror.frozen).toBe(true);
    expect(r.wrong).toBe(0);
  });

  it('resets on a reboot and survives a round trip through storage', () => {
    const mirror = DictionaryMirror.fresh();
    run(50, () => false, mirror);
    const copy = DictionaryMirror.fromJSON(mirror.toJSON());
    expect(copy.patterns).toEqual(mirror.patterns);
    copy.beginUpload(5);
    expect(copy.learnedCount).toBe(0);
    expect(DictionaryMirror.fromJSON('{not json').learnedCount).toBe(0);
  });
});
