/**
 * Runs a fleet of simulated field devices against a server over real HTTP and counts what the
 * server accepted and why it refused the rest. Devices can be told to misbehave; every answer is
 * then judged against what the server must answer to that kind of request. Besides uploading,
 * devices can follow configuration changes, run commands and install firmware updates
 * (`device-control.ts`), each on its own timer. Generation 1.3 devices (`gen13-fleet.ts`) run
 * beside them with their own protocol and share the counts.
 */
import { setMaxListeners } from 'node:events';
import { FIELD_KEYS, type V1Keys } from '../protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';
import { type AnswerTally, countAnswer, outcomeOf, TRANSPORT_ERROR } from './answers.js';
import { type ControlJudge, ControlLink, type NonceLedger } from './control-link.js';
import { type ControlSummary, DeviceControl, emptyControlSummary } from './device-control.js';
import { FieldDevice, type PreparedUpload, type V2Identity } from './field-device.js';
import {
  type DeviceProfile,
  FIELD_FIRMWARE_VERSION,
  uniformProfile,
  V2_FIRMWARE_VERSION,
  variedProfile,
} from './fleet-profile.js';
import type { Nvs13 } from './gen13-config.js';
import type { FaultType13 } from './gen13-device.js';
import { emptyGen13Summary, type Gen13DeviceSpec, Gen13Fleet, type Gen13Summary } from './gen13-fleet.js';
import { seededRandom } from './inverter.js';
import {
  DEVICE_MODES,
  type DeviceMode,
  FIRMWARE_FAULTS,
  type FirmwareFault,
  type Intent,
  isExpected,
  type Misbehaviour,
  type MisbehaviourRates,
  oversizeBody,
  tamperEnvelope,
  truncateBody,
} from './misbehaviour.js';
import { sleep } from './sleep.js';
import { boundRequester, fetchRequester, type Poster, posterOf, type Requester } from './transport.js';
import { answerMacValid } from './v2-answers.js';

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
  /**
   * Wall-clock seconds between one device's `/changes` polls (the field firmware asks every 5 s
   * of its own time). 0 or absent: devices never ask, as before control was simulated.
   */
  changesIntervalSeconds?: number;
  /** Seconds between command polls; 0 or absent: none. The e84f720 build never polls. */
  commandsIntervalSeconds?: number;
  /** Seconds between firmware checks (field firmware: 60); 0 or absent: none. Needs `firmwareKeys`. */
  firmwareIntervalSeconds?: number;
  /** The firmware keys a device build compiles in (the server's key directory, no private key). */
  firmwareKeys?: DeviceFirmwareKeys;
  /** Generation 1.3 devices to run beside the others (PROTOCOL-1.3.md; gen13-fleet.ts). */
  gen13?: Gen13Options;
}

/**
 * Generation 1.3 devices. Their timers are their own settings in device seconds (NVS, changed by
 * the server), run at the fleet's speed: `intervalSeconds` of wall clock per 15 s of device time.
 * Upload misbehaviours and device modes are e84f720's; `badchunk` and `badsignature` apply.
 */
export interface Gen13Options {
  devices: number;
  /** Number in the first one's id, `<prefix>-NNNN` (default: right after the e84f720 devices). */
  firstIndex?: number;
  /** The settings their NVS holds at the first boot (default: the firmware's). */
  nvs?: Nvs13;
  /** Modbus faults per poll, by type; each is recovered (or not) and reported to `/fault/recovery`. */
  faults?: Partial<Record<FaultType13, number>>;
  /** The 1.3 build's firmware keys (`<key dir>/1.3`); without them the devices do not check for firmware. */
  firmwareKeys?: DeviceFirmwareKeys;
  /** The upload PSK (default: the fleet key `keys.hmacKey`, the firmware's published PSK). */
  psk?: Uint8Array;
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

export type IntentTally = AnswerTally;

export interface AcknowledgedUpload {
  deviceId: string;
  nonce: number;
  uploadId: string;
  /** Per packet, the raw values as read, sample-major. */
  values: number[][];
  /** Generation 1.3: per packet, its register layout, its bytes (hex) and each sample's unix ms. */
  gen13?: { registerLayouts: number[][]; packetsHex: string[]; sampleTimesMs: number[][] };
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
  /** Devices per firmware version they run now (an update moves a device). */
  firmware: Record<string, number>;
  rates: { sentPerSecond: number; acceptedPerSecond: number };
  /** Configuration, commands and firmware updates: requests, answers and what devices did. */
  control: ControlSummary;
  /** What generation 1.3 devices did besides (present when the fleet has any). */
  gen13?: Gen13Summary;
}

/** What the simulator knows about one device beyond the device itself. */
interface DeviceRun {
  device: FieldDevice;
  /** Wall-clock ms per ms of the device's own time (its upload interval maps to `--interval`). */
  timeScale: number;
  modes: ReadonlySet<Misbehaviour>;
  random: () => number;
  /**
   * Highest nonce the server took, from uploads and control requests alike (one object, shared
   * with the device's control link): a wiped device's nonces up to it must be refused.
   */
  ledger: NonceLedger;
  poster: Poster;
  /** Recently accepted envelopes, the material of replays. */
  accepted: string[];
  /** Upload ticks during which a buffer2048 device has no network. */
  outage: { from: number; to: number } | undefined;
  stuck: boolean;
  control: DeviceControl;
  /** Wall-clock ms between control ticks (Infinity: off for this device). */
  every: { changes: number; commands: number; firmware: number };
  /** The server knows the device (an upload was accepted): until then it answers 404 to control. */
  known: boolean;
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
function hasMode(index: number, mode: DeviceMode | FirmwareFault, rate: number): boolean {
  if (rate <= 0) return false;
  // Different offsets so that one device does not collect every mode.
  const offset: Record<DeviceMode | FirmwareFault, number> = {
    wiped: 0.11,
    drift: 0.47,
    buffer2048: 0.83,
    badchunk: 0.29,
    badsignature: 0.67,
  };
  return (index * 0.618_033_988_75 + offset[mode]) % 1 < rate;
}

/** Seconds → ms of a control timer; 0, absent or negative: off. */
const periodMs = (seconds: number | undefined) =>
  seconds !== undefined && seconds > 0 ? seconds * 1000 : Number.POSITIVE_INFINITY;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runSimulation(opts: SimulationOptions): Promise<SimulationSummary> {
  if (opts.durationSeconds === undefined && opts.uploadsPerDevice === undefined) {
    throw new Error('give a duration or a number of uploads per device');
  }
  // Every device waits on the same signal.
  const gen13Count = opts.gen13?.devices ?? 0;
  if (opts.signal) setMaxListeners(opts.devices + gen13Count + 10, opts.signal);
  const start = Date.now();
  const deadline =
    opts.durationSeconds !== undefined ? start + opts.durationSeconds * 1000 : Number.POSITIVE_INFINITY;
  const summary: SimulationSummary = {
    devices: opts.devices + (opts.v2Devices?.length ?? 0) + gen13Count,
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
    control: emptyControlSummary(),
    ...(gen13Count > 0 ? { gen13: emptyGen13Summary(gen13Count) } : {}),
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
        uploadIntervalMs,
        profile: { ratedPowerW: 5000, noise: 0.05, seed: seed * 104_729 + i },
        startTime: Date.UTC(2026, 5, 21, 6) + i * 60_000,
        firmwareVersion: V2_FIRMWARE_VERSION,
      }),
  );
  const fleet = [...v1Fleet, ...v2Fleet];
  const base = opts.url.replace(/\/+$/, '');
  const viaFetch = fetchRequester(base);
  const bound = (opts.sourceAddresses ?? []).map((a) => boundRequester(base, a));
  const requesterFor = (index: number): Requester =>
    bound.length > 0 ? bound[index % bound.length].request : viaFetch;

  const unexpected = (what: string): void => {
    summary.unexpected++;
    if (summary.unexpectedExamples.length < MAX_EXAMPLES) summary.unexpectedExamples.push(what);
  };
  const stopped = () => opts.signal?.aborted === true || Date.now() >= deadline;
  const every = {
    changes: periodMs(opts.changesIntervalSeconds),
    commands: periodMs(opts.commandsIntervalSeconds),
    firmware: opts.firmwareKeys ? periodMs(opts.firmwareIntervalSeconds) : Number.POSITIVE_INFINITY,
  };

  const runs: DeviceRun[] = fleet.map((device, i) => {
    const modes = deviceModes[i] ?? new Set<Misbehaviour>();
    const cadence = i < profiles.length ? profiles[i].cadenceFactor : 1;
    const outageTicks = Math.ceil(BUFFER_OUTAGE_MS / uploadIntervalMs);
    const requester = requesterFor(i);
    const fault = FIRMWARE_FAULTS.find((f) => hasMode(i, f, rates[f] ?? 0));
    const ledger: NonceLedger = { maxAcked: -1 };
    const judge: ControlJudge = (kind, intent, outcome, expected) => {
      countAnswer(summary.control.requests, kind, outcome, expected);
      if (!expected) unexpected(`${device.id}: ${kind} request (${intent}) answered ${outcome}`);
    };
    const control = new DeviceControl(device, new ControlLink(device, requester, ledger, judge), {
      summary: summary.control,
      ...(opts.firmwareKeys ? { firmwareKeys: opts.firmwareKeys } : {}),
      ...(fault ? { fault } : {}),
      unexpected,
      stopped,
    });
    return {
      device,
      timeScale: (opts.intervalSeconds * 1000 * cadence) / uploadIntervalMs,
      modes,
      random: seededRandom(seed * 65_537 + i * 7 + 3),
      poster: posterOf(requester, '/process'),
      ledger,
      accepted: [],
      outage: modes.has('buffer2048') ? { from: 1, to: 1 + outageTicks } : undefined,
      stuck: false,
      // The field build asks /changes but neither polls for commands nor names its version in a
      // form a rollout can compare (a commit, not a semantic version).
      every:
        device.firmwareVersion === FIELD_FIRMWARE_VERSION
          ? { ...every, commands: Number.POSITIVE_INFINITY, firmware: Number.POSITIVE_INFINITY }
          : every,
      known: false,
      control,
    };
  });

  const tally = (
    deviceId: string,
    intent: Intent,
    nonce: number,
    outcome: string,
    latencyMs: number,
  ): void => {
    const expected = isExpected(intent, outcome);
    countAnswer(summary.byIntent, intent, outcome, expected);
    if (!expected) {
      const what = intent === 'replay' ? 'replayed upload' : `${intent} upload (nonce ${nonce})`;
      unexpected(`${deviceId}: ${what} answered ${outcome}`);
    }
    opts.onResponse?.({ deviceId, intent, outcome, latencyMs, at: performance.now(), expected });
  };

  /** Sends one body; returns the outcome key and the answer's text. */
  const post = async (
    run: DeviceRun,
    body: string,
    intent: Intent,
    nonce: number,
  ): Promise<{ outcome: string; text: string }> => {
    const { device } = run;
    const t0 = performance.now();
    summary.sent++;
    try {
      const res = await run.poster(body);
      const latency = performance.now() - t0;
      latencies.push(latency);
      // A v2 device checks that the answer is the server's, to this request (docs/field-devices.md, v2).
      const v2 = device.v2;
      const trusted =
        !v2 ||
        res.status !== 200 ||
        intent !== 'valid' ||
        answerMacValid(device.id, v2, nonce, res.status, res.text, res.mac);
      const outcome = trusted ? outcomeOf(res.status, res.text) : 'untrusted_answer';
      if (outcome === '200') summary.accepted++;
      else summary.rejected[outcome] = (summary.rejected[outcome] ?? 0) + 1;
      tally(device.id, intent, nonce, outcome, latency);
      return { outcome, text: res.text };
    } catch {
      summary.transportErrors++;
      tally(device.id, intent, nonce, TRANSPORT_ERROR, performance.now() - t0);
      return { outcome: TRANSPORT_ERROR, text: '' };
    }
  };

  /** Chooses why this upload is sent and what goes on the wire. */
  const shape = (run: DeviceRun, upload: PreparedUpload): { intent: Intent; body: string } => {
    if (upload.truncated) return { intent: 'buffer2048', body: upload.body };
    if (run.modes.has('wiped') && upload.nonce <= run.ledger.maxAcked)
      return { intent: 'wiped', body: upload.body };
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
    const { outcome, text } = await post(run, body, intent, upload.nonce);
    const ok = outcome === '200';
    device.uploadFinished(ok);
    run.stuck = upload.truncated === true && !ok;
    if (!ok) return;
    run.known = true;
    run.ledger.maxAcked = Math.max(run.ledger.maxAcked, upload.nonce);
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

  /** One tick of the upload timer: poll, upload, maybe a replay, then new settings take effect. */
  const uploadTick = async (run: DeviceRun, tick: number): Promise<boolean> => {
    const { device } = run;
    device.advance();
    if (run.modes.has('wiped') && tick === WIPE_AT_TICK) device.wipeCounter();
    const offline = run.outage !== undefined && tick >= run.outage.from && tick < run.outage.to;
    const upload = offline ? undefined : device.prepareUpload();
    if (upload) {
      await send(run, upload);
      if ((rates.replay ?? 0) > 0 && run.accepted.length > 0 && run.random() < (rates.replay ?? 0)) {
        const old = run.accepted[Math.floor(run.random() * run.accepted.length)];
        await post(run, old, 'replay', -1);
      }
    }
    // The firmware re-arms its timers from NVS right after an upload (§1.2).
    run.control.applySettings();
    return upload !== undefined;
  };

  /**
   * One device is one loop, like the firmware's: a single request at a time, so its nonces reach
   * the server in the order they were drawn (a strict replay window would refuse any other).
   */
  const runDevice = async (run: DeviceRun, index: number): Promise<void> => {
    const { device } = run;
    const wallInterval = () => device.uploadIntervalMs * run.timeScale;
    // Spread first uploads over one interval so devices do not all fire at once.
    await sleep(((index % 97) / 97) * wallInterval(), opts.signal);
    const t0 = Date.now();
    const next = {
      upload: t0,
      changes: t0 + run.every.changes,
      commands: t0 + run.every.commands,
      firmware: t0 + run.every.firmware,
    };
    let uploads = 0;
    let tick = 0;
    while (!stopped()) {
      if (opts.uploadsPerDevice !== undefined && uploads >= opts.uploadsPerDevice) break;
      const now = Date.now();
      if (now >= next.upload) {
        if (await uploadTick(run, tick)) uploads++;
        tick++;
        next.upload = now + wallInterval();
        continue;
      }
      // Control ticks in the firmware's order; none before the server knows the device.
      let acted = false;
      for (const kind of ['changes', 'commands', 'firmware'] as const) {
        if (stopped() || Date.now() < next[kind]) continue;
        const started = Date.now();
        if (run.known) {
          if (kind === 'changes') await run.control.pollChanges();
          else if (kind === 'commands') await run.control.pollCommands();
          else await run.control.checkFirmware();
        }
        next[kind] = started + run.every[kind];
        acted = true;
      }
      if (acted) continue;
      const wake = Math.min(next.upload, next.changes, next.commands, next.firmware, deadline);
      await sleep(Math.max(0, wake - Date.now()), opts.signal);
    }
  };

  /** Generation 1.3 devices: ids, profiles and source addresses continue after the others'. */
  const gen13Fleet = (g: Gen13Options, summary13: Gen13Summary): Gen13Fleet => {
    const first = g.firstIndex ?? opts.devices + 1;
    const specs: Gen13DeviceSpec[] = Array.from({ length: g.devices }, (_, j) => {
      const n = first - 1 + j;
      const profile = opts.varied ? variedProfile(n, seed) : uniformProfile(n, seed);
      const fault = FIRMWARE_FAULTS.find((f) => hasMode(n, f, rates[f] ?? 0));
      return {
        id: `${opts.idPrefix ?? 'sim'}-${String(n + 1).padStart(4, '0')}`,
        profile: profile.inverter,
        dayStart: Date.UTC(2026, 5, 21, 6) + n * 60_000,
        requester: requesterFor(fleet.length + j),
        random: seededRandom(seed * 65_537 + n * 7 + 5),
        ...(fault ? { fault } : {}),
      };
    });
    return new Gen13Fleet({
      devices: specs,
      psk: g.psk ?? (opts.keys ?? FIELD_KEYS).hmacKey,
      timeScale: (opts.intervalSeconds * 1000) / uploadIntervalMs,
      ...(g.nvs ? { nvs: g.nvs } : {}),
      ...(g.faults ? { faults: g.faults } : {}),
      ...(g.firmwareKeys ? { firmwareKeys: g.firmwareKeys } : {}),
      ...(opts.uploadsPerDevice !== undefined ? { uploadsPerDevice: opts.uploadsPerDevice } : {}),
      deadline,
      ...(opts.signal ? { signal: opts.signal } : {}),
      stopped,
      onUpload: (deviceId, nonce, outcome, latency) => {
        summary.sent++;
        if (outcome === TRANSPORT_ERROR) summary.transportErrors++;
        else {
          latencies.push(latency);
          if (outcome === '200') summary.accepted++;
          else summary.rejected[outcome] = (summary.rejected[outcome] ?? 0) + 1;
        }
        tally(deviceId, 'valid', nonce, outcome, latency);
      },
      onControl: (deviceId, kind, what, outcome, expected) => {
        countAnswer(summary.control.requests, kind, outcome, expected);
        if (!expected) unexpected(`${deviceId}: ${what} answered ${outcome}`);
      },
      ...(opts.keepAcknowledged
        ? {
            onAcknowledged: (a) =>
              summary.acknowledged.push({
                deviceId: a.deviceId,
                nonce: a.nonce,
                uploadId: a.uploadId,
                values: a.packets.map((p) => p.samples.flat()),
                gen13: {
                  registerLayouts: a.packets.map((p) => [...p.registerLayout]),
                  packetsHex: a.packets.map((p) => Buffer.from(p.bytes).toString('hex')),
                  sampleTimesMs: a.packets.map((p) => [...p.sampleTimesMs]),
                },
              }),
          }
        : {}),
      control: summary.control,
      gen13: summary13,
      unexpected,
    });
  };
  const gen13 = opts.gen13 && summary.gen13 ? gen13Fleet(opts.gen13, summary.gen13) : undefined;

  const snapshot = (window: boolean): SimulationSummary => {
    const sorted = latencies.slice(window ? windowStart : 0).sort((a, b) => a - b);
    if (window) windowStart = latencies.length;
    summary.elapsedSeconds = (Date.now() - start) / 1000;
    summary.lostPackets = fleet.reduce((n, d) => n + d.lostPackets, 0) + (gen13?.lostPackets() ?? 0);
    gen13?.snapshot();
    summary.latencyMs = {
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
      max: Number((sorted[sorted.length - 1] ?? 0).toFixed(2)),
    };
    summary.stuckDevices = runs.filter((r) => r.stuck).length;
    summary.firmware = {};
    for (const d of [...fleet, ...(gen13?.devices ?? [])]) {
      const label = (d instanceof FieldDevice ? d.firmwareVersion : d.version) ?? 'unknown';
      summary.firmware[label] = (summary.firmware[label] ?? 0) + 1;
    }
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
    await Promise.all([...runs.map((r, i) => runDevice(r, i)), gen13?.run()]);
  } finally {
    if (progress) clearInterval(progress);
    for (const b of bound) b.close();
  }
  return snapshot(false);
}
