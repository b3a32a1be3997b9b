import { describe, expect, it } from 'vitest';
import { isSafeCadence } from '../../../src/config/config-schema.js';
import { buildOffer, deriveKeyStatus, overallState } from '../../../src/config/config-state.js';
import { estimateInterval, observeCadence, toSeconds } from '../../../src/config/observed-cadence.js';
import type { Delivery, UploadTrace } from '../../../src/model/config.js';

const T0 = 1_800_000_000_000;

/** Uploads of a device polling every `poll` s and uploading every `upload` s, from `start` ms. */
function run(poll: number, upload: number, count: number, start = T0, millis0 = 100_000): UploadTrace[] {
  const out: UploadTrace[] = [];
  let nextPacket = millis0 + poll * 5000;
  for (let i = 1; i <= count; i++) {
    const millis = millis0 + i * upload * 1000;
    const packets: number[] = [];
    while (nextPacket <= millis) {
      packets.push(nextPacket);
      nextPacket += poll * 5000;
    }
    out.push({ receivedAt: start + i * upload * 1000, deviceTimestamp: millis, packetTimestamps: packets });
  }
  return out;
}

describe('observed cadence', () => {
  it('measures the upload interval from device millis and the sampling interval from packet stamps', () => {
    const spans = observeCadence(run(2, 15, 6));
    expect(estimateInterval(spans, 'upload_interval')?.ms).toBe(15_000);
    expect(estimateInterval(spans, 'sampling_interval')?.ms).toBe(2000);
  });

  it('is not fooled by a failed upload (a span twice as long) or a re-sent packet', () => {
    const uploads = run(2, 15, 6);
    uploads.splice(3, 1); // lost: the next upload came one interval later with everything
    uploads[3] = {
      ...uploads[3],
      packetTimestamps: [...uploads[2].packetTimestamps, ...uploads[3].packetTimestamps],
    };
    const spans = observeCadence(uploads);
    expect(estimateInterval(spans, 'upload_interval')?.ms).toBe(15_000);
    expect(estimateInterval(spans, 'sampling_interval')?.ms).toBe(2000);
  });

  it('does not measure across a reboot', () => {
    const before = run(2, 15, 3);
    const after = run(2, 15, 3, before[2].receivedAt + 40_000, 1000);
    const spans = observeCadence([...before, ...after]);
    expect(spans.every((s) => s.ms > 0 && s.ms < 60_000)).toBe(true);
  });

  it('reads whole seconds when the measurement is one', () => {
    expect(toSeconds(30_120)).toBe(30);
    expect(toSeconds(2_500)).toBe(2.5);
  });
});

describe('key state', () => {
  const upload = (desired: number, delivery?: Delivery) => ({
    key: 'upload_interval' as const,
    desired,
    source: 'device' as const,
    version: 3,
    delivery,
  });

  it('pending until answered; delivered once answered; applied once seen after the delivery', () => {
    const old = run(2, 15, 4);
    expect(deriveKeyStatus(upload(30), observeCadence(old)).state).toBe('pending');
    const firstAt = old[3].receivedAt + 1000;
    const delivery: Delivery = { value: 30, version: 3, firstAt, lastAt: firstAt, offers: 1 };
    expect(deriveKeyStatus(upload(30, delivery), observeCadence(old))).toMatchObject({
      state: 'delivered',
      offer: true,
    });
    // The device applies after its next upload (still 15 s after the last), then runs 30 s.
    const applyAt = old[3].receivedAt + 15_000;
    const next = [
      ...old,
      { receivedAt: applyAt, deviceTimestamp: old[3].deviceTimestamp! + 15_000, packetTimestamps: [] },
    ];
    expect(deriveKeyStatus(upload(30, delivery), observeCadence(next)).state).toBe('delivered');
    next.push({
      receivedAt: applyAt + 30_000,
      deviceTimestamp: old[3].deviceTimestamp! + 45_000,
      packetTimestamps: [],
    });
    expect(deriveKeyStatus(upload(30, delivery), observeCadence(next))).toMatchObject({
      state: 'applied',
      offer: false,
      running: { value: 30, basis: 'upload cadence' },
    });
  });

  it('a value the device already runs is applied without being sent', () => {
    expect(deriveKeyStatus(upload(15), observeCadence(run(2, 15, 3))).state).toBe('applied');
  });

  it('an old observation does not count once another value was delivered since', () => {
    const uploads = run(2, 15, 4);
    const at = uploads[3].receivedAt + 1;
    const delivery: Delivery = { value: 30, version: 2, firstAt: at, lastAt: at, offers: 1 };
    // The operator went back to 15 s before the device was seen again: it may be running 30 s now.
    expect(deriveKeyStatus(upload(15, delivery), observeCadence(uploads))).toMatchObject({
      state: 'pending',
      offer: true,
    });
  });

  it('failed when the device keeps running another value well after delivery', () => {
    const uploads = run(2, 15, 8);
    const at = uploads[1].receivedAt;
    const delivery: Delivery = { value: 30, version: 3, firstAt: at, lastAt: at, offers: 9 };
    const s = deriveKeyStatus(upload(30, delivery), observeCadence(uploads));
    expect(s).toMatchObject({ state: 'failed', offer: true });
    expect(s.note).toMatch(/still runs 15 s/);
  });

  it('registers: the default selection is applied; any other is unsupported and sent once', () => {
    const reg = (desired: string[], delivery?: Delivery) =>
      deriveKeyStatus({ key: 'registers', desired, source: 'fleet', version: 1, delivery }, []);
    expect(reg(['Vac1', 'Iac1', 'Ipv1', 'Pac', 'Ipv2', 'Temp']).state).toBe('applied');
    expect(reg(['Vac1'])).toMatchObject({ state: 'unsupported', offer: true });
    const sent: Delivery = { value: ['Vac1'], version: 1, firstAt: 1, lastAt: 1, offers: 1 };
    expect(reg(['Vac1'], sent)).toMatchObject({ state: 'unsupported', offer: false });
  });

  it('keys the field firmware does not have are unsupported and never sent', () => {
    const s = deriveKeyStatus(
      { key: 'firmware_check_interval', desired: 3600, source: 'fleet', version: 1, delivery: undefined },
      [],
    );
    expect(s).toMatchObject({ state: 'unsupported', offer: false });
    expect(overallState([s])).toBe('unsupported');
  });

  it('holds back an upload interval that would overflow the device with the sampling it runs', () => {
    const spans = observeCadence(run(1, 5, 4));
    const s = deriveKeyStatus(upload(30), spans);
    const { offer, held } = buildOffer([s], { sampling_interval: 1, upload_interval: 5 }, isSafeCadence);
    expect(offer).toEqual({});
    expect(held).toMatch(/overflow/);
  });

  it('sends both intervals together so the device never runs half a change', () => {
    const spans = observeCadence(run(5, 30, 4));
    const sampling = deriveKeyStatus(
      { key: 'sampling_interval', desired: 5, source: 'fleet', version: 1, delivery: undefined },
      spans,
    );
    expect(sampling.state).toBe('applied');
    const { offer } = buildOffer([sampling, deriveKeyStatus(upload(20), spans)], {}, isSafeCadence);
    expect(offer).toEqual({ sampling_interval: 5, upload_interval: 20 });
  });
});
