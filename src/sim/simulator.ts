/**
 * Runs a fleet of simulated field devices against a server over real HTTP and counts what the
 * server accepted and why it refused the rest. Devices can be told to misbehave; every answer is
 * then judged against what the server must answer to that kind of request.
 */
import { setMaxListeners } from 'node:events';
import { FIELD_KEYS, type V1Keys } from '../protocol/envelope-v1.js';
import { FieldDevice, type PreparedUpload, type V2Identity } from './field-device.js';
import {
  type DeviceProfile,
  FIELD_FIRMWARE_VERSION,
  uniformProfile,
  variedProfile,
} from './fleet-profile.js';
import { seededRandom } from './inverter.js';
import {
  DEVICE_MODES,
  type DeviceMode,
  type Intent,
  isExpected,
  type Misbehaviour,
  type MisbehaviourRates,
  oversizeBody,
  tamperEnvelope,
  truncateBody,
} from './misbehaviour.js';
import { boundPoster, fetchPoster, type Poster } from './transport.js';

export interface SimulationOptions {
  url: string;
  devices: number;
  /** Wall-clock seconds between one device's uploads. */
  intervalSeconds: number;
  /** Stop after this many seconds … */
  durationSeconds?: number;
  /** … or after this many uploads per device. */
  uploadsPerDevice?: number;
  encrypt: boolean;
  keys?: V1Keys;
  /** Protocol v2 devices to run beside the field devices (ids and keys from provisioning). */
  v2Devices?: readonly ({ deviceId: string } & V2Identity)[];
  idPrefix?: string;
  pollIntervalMs?: number;
  /** Simulated device time per upload (the firmware's upload timer, 15 s by default). */
  uploadIntervalMs?: number;
  seed?: number;
  /** Keep every acknowledged upload (for tests that check storage afterwards). */
  keepAcknowledged?: boolean;
  /**
   * Called every second. In these snapshots `latencyMs` covers the answers since the previous
   * snapshot (what a live display wants); the final summary covers the whole run.
   */
  onProgress?: (s: SimulationSummary) => void;
  /** Every answer (or transport error) as it arrives: for callers that keep their own statistics. */
  onResponse?: (r: ResponseRecord) => void;
  signal?: AbortSignal;
  /** A profile per device (size, weather, night, cadence, firmware) instead of one shape for all. */
  varied?: boolean;
  misbehave?: MisbehaviourRates;
  /** The server's body limit, so that oversized uploads land just beyond it. */
  bodyLimit?: number;
  /**
   * Source addresses to upload from, device i from `sourceAddresses[i % n]` (see
   * `loopbackAddresses`); default: this host's, with `fetch`.
   */
  sourceAddresses?: readonly string[];
}

export interface ResponseRecord {
  deviceId: string;
  intent: Intent;
  /** `"200"`, `"<status> <code>"` or `"transport_error"`. */
  outcome: string;
  latencyMs: number;
  /** `performance.now()` when the answer arrived. */
  at: number;
  expected: boolean;
}

export interface IntentTally {
  sent: number;
  outcomes: Record<string, number>;
  /** Answers that are not what the server must give to this kind of request. */
  unexpected: number;
}

export interface AcknowledgedUpload {
  deviceId: string;
  nonce: number;
  uploadId: string;
  values: number[][];
}

export interface SimulationSummary {
  devices: number;
  sent: number;
  accepted: number;
  rejected: Record<string, number>;
  transportErrors: number;
  lostPackets: number;
  elapsedSeconds: number;
  latencyMs: { p50: number; p99: number; max: number };
  acknowledged: AcknowledgedUpload[];
  /** Outcomes per reason for sending: a valid upload, or a misbehaviour. */
  byIntent: Partial<Record<Intent, IntentTally>>;
  /** Valid uploads refused (or lost in transport), misbehaving ones accepted, wrong refusals. */
  unexpected: number;
  /** The first few unexpected answers, to start an investigation from. */
  unexpectedExamples: string[];
  /** Devices whose uploads can no longer succeed (the 2048-byte buffer defect) at the end. */
  stuckDevices: number;
  /** Devices per firmware label. */
  firmware: Record<string, number>;
  rates: { sentPerSecond: number; acceptedPerSecond: number };
}

/** What the simulator knows about one device beyond the device itself. */
interface DeviceRun {
  device: FieldDevice;
  intervalMs: number;
  modes: ReadonlySet<Misbehaviour>;
  random: () => number;
  /** Highest nonce the server acknowledged: a wiped device's uploads up to it must be refused. */
  maxAcked: number;
  poster: Poster;
  /** Recently accepted envelopes, the material of replays. */
  accepted: string[];
  /** Upload ticks during which a buffer2048 device has no network. */
  outage: { from: number; to: number } | undefined;
  stuck: boolean;
}

/** After this many upload ticks a `wiped` device loses its counter. */
const WIPE_AT_TICK = 2;
/** §1.4: an outage of about 30–40 s leaves enough packets to overflow the 2048-byte buffer. */
const BUFFER_OUTAGE_MS = 40_000;
const MAX_EXAMPLES = 10;

/**
 * Whether device `index` has a per-device mode: spread evenly over the fleet (a low-discrepancy
 * sequence) so a small fleet gets close to `rate × devices` such devices, not a lucky draw.
 */
function hasMode(index: number, mode: DeviceMode, rate: number): boolean {
  if (rate <= 0) return false;
  // Different offsets so that one device does not collect every mode.
  const offset: Record<DeviceMode, number> = { wiped: 0.11, drift: 0.47, buffer2048: 0.83 };
  return (index * 0.618_033_988_75 + offset[mode]) % 1 < rate;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runSimulation(opts: SimulationOptions): Promise<SimulationSummary> {
  if (opts.durationSeconds === undefined && opts.uploadsPerDevice === undefined) {
    throw new Error('give a duration or a number of uploads per device');
  }
  const endpoint = `${opts.url.replace(/\/+$/, '')}/process`;
  // Every device waits on the same signal.
  if (opts.signal) setMaxListeners(opts.devices + 10, opts.signal);
  const start = Date.now();
  const deadline =
    opts.durationSeconds !== undefined ? start + opts.durationSeconds * 1000 : Number.POSITIVE_INFINITY;
  const summary: SimulationSummary = {
    devices: opts.devices + (opts.v2Devices?.length ?? 0),
    sent: 0,
    accepted: 0,
    rejected: {},
    transportErrors: 0,
    lostPackets: 0,
    elapsedSeconds: 0,
    latencyMs: { p50: 0, p99: 0, max: 0 },
    acknowledged: [],
    byIntent: {},
    unexpected: 0,
    unexpectedExamples: [],
    stuckDevices: 0,
    firmware: {},
    rates: { sentPerSecond: 0, acceptedPerSecond: 0 },
  };
  const latencies: number[] = [];
  /** Index into `latencies` where the current progress window starts. */
  let windowStart = 0;
  const rates = opts.misbehave ?? {};
  const seed = opts.seed ?? 1;
  const uploadIntervalMs = opts.uploadIntervalMs ?? 15_000;
  const profiles: DeviceProfile[] = Array.from({ length: opts.devices }, (_, i) =>
    opts.varied ? variedProfile(i, seed) : uniformProfile(i, seed),
  );
  const deviceModes = profiles.map((_, i) => {
    const modes = new Set<Misbehaviour>();
    for (const m of DEVICE_MODES) {
      if (hasMode(i, m, rates[m] ?? 0)) modes.add(m);
    }
    return modes;
  });
  const v1Fleet = profiles.map((profile, i) => {
    const modes = deviceModes[i];
    const random = seededRandom(seed * 31_337 + i);
    return new FieldDevice({
      id: `${opts.idPrefix ?? 'sim'}-${String(i + 1).padStart(4, '0')}`,
      keys: opts.keys ?? FIELD_KEYS,
      encrypt: opts.encrypt,
      pollIntervalMs: opts.pollIntervalMs ?? 2000,
      uploadIntervalMs,
      profile: profile.inverter,
      startTime: Date.UTC(2026, 5, 21, 6) + i * 60_000,
      // ±1–5 %: far beyond a real crystal's tolerance, so any effect is plain to see.
      ...(modes.has('drift') ? { clockRate: 1 + (random() < 0.5 ? -1 : 1) * (0.01 + random() * 0.04) } : {}),
      ...(modes.has('buffer2048') ? { firmwareBuffer: true } : {}),
      firmwareVersion: modes.has('buffer2048') ? FIELD_FIRMWARE_VERSION : profile.firmwareVersion,
    });
  });
  const v2Fleet = (opts.v2Devices ?? []).map(
    (d, i) =>
      new FieldDevice({
        id: d.deviceId,
        keys: opts.keys ?? FIELD_KEYS,
        v2: { kid: d.kid, key: d.key },
        encrypt: opts.encrypt,
        pollIntervalMs: opts.pollIntervalMs ?? 2000,
        uploadIntervalMs: opts.uploadIntervalMs ?? 15_000,
        profile: { ratedPowerW: 5000, noise: 0.05, seed: (opts.seed ?? 1) * 104_729 + i },
        startTime: Date.UTC(2026, 5, 21, 6) + i * 60_000,
      }),
  );
  const fleet = [...v1Fleet, ...v2Fleet];
  for (const d of fleet) {
    const label = d.firmwareVersion ?? (v2Fleet.includes(d) ? 'v2' : 'unknown');
    summary.firmware[label] = (summary.firmware[label] ?? 0) + 1;
  }
  const viaFetch = fetchPoster(endpoint);
  const bound = (opts.sourceAddresses ?? []).map((a) => boundPoster(endpoint, a));
  const posterFor = (index: number): Poster =>
    bound.length > 0 ? bound[index % bound.length].post : viaFetch;

  const runs: DeviceRun[] = fleet.map((device, i) => {
    const modes = deviceModes[i] ?? new Set<Misbehaviour>();
    const cadence = i < profiles.length ? profiles[i].cadenceFactor : 1;
    const outageTicks = Math.ceil(BUFFER_OUTAGE_MS / uploadIntervalMs);
    return {
      device,
      intervalMs: opts.intervalSeconds * 1000 * cadence,
      modes,
      random: seededRandom(seed * 65_537 + i * 7 + 3),
      poster: posterFor(i),
      maxAcked: -1,
      accepted: [],
      outage: modes.has('buffer2048') ? { from: 1, to: 1 + outageTicks } : undefined,
      stuck: false,
    };
  });

  const tally = (deviceId: string, intent: Intent, outcome: string, latencyMs: number): void => {
    const t = summary.byIntent[intent] ?? { sent: 0, outcomes: {}, unexpected: 0 };
    summary.byIntent[intent] = t;
    t.sent++;
    t.outcomes[outcome] = (t.outcomes[outcome] ?? 0) + 1;
    const expected = isExpected(intent, outcome);
    if (!expected) {
      t.unexpected++;
      summary.unexpected++;
      if (summary.unexpectedExamples.length < MAX_EXAMPLES) {
        summary.unexpectedExamples.push(`${deviceId}: ${intent} upload answered ${outcome}`);
      }
    }
    opts.onResponse?.({ deviceId, intent, outcome, latencyMs, at: performance.now(), expected });
  };

  /** Sends one body; returns the outcome key and the answer's text. */
  const post = async (
    run: DeviceRun,
    body: string,
    intent: Intent,
  ): Promise<{ outcome: string; text: string }> => {
    const deviceId = run.device.id;
    const t0 = performance.now();
    summary.sent++;
    try {
      const res = await run.poster(body);
      const text = res.text;
      const latency = performance.now() - t0;
      latencies.push(latency);
      if (res.status === 200) {
        summary.accepted++;
        tally(deviceId, intent, '200', latency);
        return { outcome: '200', text };
      }
      let code = 'unknown';
      try {
        code = (JSON.parse(text) as { error?: string }).error ?? code;
      } catch {
        /* a non-JSON answer is counted as unknown */
      }
      const key = `${res.status} ${code}`;
      summary.rejected[key] = (summary.rejected[key] ?? 0) + 1;
      tally(deviceId, intent, key, latency);
      return { outcome: key, text };
    } catch {
      summary.transportErrors++;
      tally(deviceId, intent, 'transport_error', performance.now() - t0);
      return { outcome: 'transport_error', text: '' };
    }
  };

  /** Chooses why this upload is sent and what goes on the wire. */
  const shape = (run: DeviceRun, upload: PreparedUpload): { intent: Intent; body: string } => {
    if (upload.truncated) return { intent: 'buffer2048', body: upload.body };
    if (run.modes.has('wiped') && upload.nonce <= run.maxAcked) return { intent: 'wiped', body: upload.body };
    const r = run.random();
    let edge = rates.tamper ?? 0;
    if (r < edge) return { intent: 'tamper', body: tamperEnvelope(upload.body, run.random) };
    edge += rates.oversized ?? 0;
    if (r < edge) return { intent: 'oversized', body: oversizeBody(upload.body, opts.bodyLimit ?? 65_536) };
    edge += rates.truncated ?? 0;
    if (r < edge) return { intent: 'truncated', body: truncateBody(upload.body, run.random) };
    return { intent: run.modes.has('drift') ? 'drift' : 'valid', body: upload.body };
  };

  const send = async (run: DeviceRun, upload: PreparedUpload): Promise<void> => {
    const { device } = run;
    const { intent, body } = shape(run, upload);
    const { outcome, text } = await post(run, body, intent);
    const ok = outcome === '200';
    device.uploadFinished(ok);
    run.stuck = upload.truncated === true && !ok;
    if (!ok) return;
    run.maxAcked = Math.max(run.maxAcked, upload.nonce);
    run.accepted.push(body);
    if (run.accepted.length > 8) run.accepted.shift();
    if (opts.keepAcknowledged) {
      const answer = JSON.parse(text) as { upload_id: string };
      summary.acknowledged.push({
        deviceId: device.id,
        nonce: upload.nonce,
        uploadId: answer.upload_id,
        values: upload.values,
      });
    }
  };

  const runDevice = async (run: DeviceRun, index: number): Promise<void> => {
    const { device } = run;
    // Spread first uploads over one interval so devices do not all fire at once.
    await sleep(((index % 97) / 97) * run.intervalMs, opts.signal);
    let uploads = 0;
    let tick = 0;
    while (!opts.signal?.aborted && Date.now() < deadline) {
      if (opts.uploadsPerDevice !== undefined && uploads >= opts.uploadsPerDevice) break;
      const started = Date.now();
      device.advance();
      if (run.modes.has('wiped') && tick === WIPE_AT_TICK) device.wipeCounter();
      const offline = run.outage !== undefined && tick >= run.outage.from && tick < run.outage.to;
      const upload = offline ? undefined : device.prepareUpload();
      tick++;
      if (upload) {
        await send(run, upload);
        uploads++;
        if ((rates.replay ?? 0) > 0 && run.accepted.length > 0 && run.random() < (rates.replay ?? 0)) {
          const old = run.accepted[Math.floor(run.random() * run.accepted.length)];
          await post(run, old, 'replay');
        }
      }
      const wait = run.intervalMs - (Date.now() - started);
      if (wait > 0) await sleep(wait, opts.signal);
    }
  };

  const snapshot = (window: boolean): SimulationSummary => {
    const sorted = latencies.slice(window ? windowStart : 0).sort((a, b) => a - b);
    if (window) windowStart = latencies.length;
    summary.elapsedSeconds = (Date.now() - start) / 1000;
    summary.lostPackets = fleet.reduce((n, d) => n + d.lostPackets, 0);
    summary.latencyMs = {
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
      max: Number((sorted[sorted.length - 1] ?? 0).toFixed(2)),
    };
    summary.stuckDevices = runs.filter((r) => r.stuck).length;
    const seconds = Math.max(summary.elapsedSeconds, 1e-3);
    summary.rates = {
      sentPerSecond: Number((summary.sent / seconds).toFixed(1)),
      acceptedPerSecond: Number((summary.accepted / seconds).toFixed(1)),
    };
    return summary;
  };
  let progress: NodeJS.Timeout | undefined;
  if (opts.onProgress) {
    progress = setInterval(() => opts.onProgress?.(snapshot(true)), 1000);
  }
  try {
    await Promise.all(runs.map((r, i) => runDevice(r, i)));
  } finally {
    if (progress) clearInterval(progress);
    for (const b of bound) b.close();
  }
  return snapshot(false);
}
