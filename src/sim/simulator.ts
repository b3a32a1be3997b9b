/**
 * Runs a fleet of simulated field devices against a server over real HTTP and counts what the
 * server accepted and why it refused the rest.
 */
import { setMaxListeners } from 'node:events';
import { FIELD_KEYS, type V1Keys } from '../protocol/envelope-v1.js';
import { FieldDevice, type PreparedUpload, type V2Identity } from './field-device.js';

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
  onProgress?: (s: SimulationSummary) => void;
  signal?: AbortSignal;
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
  };
  const latencies: number[] = [];
  const v1Fleet = Array.from(
    { length: opts.devices },
    (_, i) =>
      new FieldDevice({
        id: `${opts.idPrefix ?? 'sim'}-${String(i + 1).padStart(4, '0')}`,
        keys: opts.keys ?? FIELD_KEYS,
        encrypt: opts.encrypt,
        pollIntervalMs: opts.pollIntervalMs ?? 2000,
        uploadIntervalMs: opts.uploadIntervalMs ?? 15_000,
        profile: { ratedPowerW: 3000 + ((i * 997) % 3000), noise: 0.05, seed: (opts.seed ?? 1) * 7919 + i },
        startTime: Date.UTC(2026, 5, 21, 6) + i * 60_000,
      }),
  );
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

  const send = async (device: FieldDevice, upload: PreparedUpload): Promise<void> => {
    const t0 = performance.now();
    summary.sent++;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: upload.body,
      });
      const text = await res.text();
      latencies.push(performance.now() - t0);
      if (res.status === 200) {
        summary.accepted++;
        device.uploadFinished(true);
        if (opts.keepAcknowledged) {
          const body = JSON.parse(text) as { upload_id: string };
          summary.acknowledged.push({
            deviceId: device.id,
            nonce: upload.nonce,
            uploadId: body.upload_id,
            values: upload.values,
          });
        }
        return;
      }
      let code = 'unknown';
      try {
        code = (JSON.parse(text) as { error?: string }).error ?? code;
      } catch {
        /* a non-JSON answer is counted as unknown */
      }
      const key = `${res.status} ${code}`;
      summary.rejected[key] = (summary.rejected[key] ?? 0) + 1;
      device.uploadFinished(false);
    } catch {
      summary.transportErrors++;
      device.uploadFinished(false);
    }
  };

  const runDevice = async (device: FieldDevice, index: number): Promise<void> => {
    // Spread first uploads over one interval so devices do not all fire at once.
    await sleep(((index % 97) / 97) * opts.intervalSeconds * 1000, opts.signal);
    let uploads = 0;
    while (!opts.signal?.aborted && Date.now() < deadline) {
      if (opts.uploadsPerDevice !== undefined && uploads >= opts.uploadsPerDevice) break;
      const tick = Date.now();
      device.advance();
      const upload = device.prepareUpload();
      if (upload) {
        await send(device, upload);
        uploads++;
      }
      const wait = opts.intervalSeconds * 1000 - (Date.now() - tick);
      if (wait > 0) await sleep(wait, opts.signal);
    }
  };

  let progress: NodeJS.Timeout | undefined;
  if (opts.onProgress) {
    progress = setInterval(() => opts.onProgress?.(finish()), 1000);
  }
  const finish = (): SimulationSummary => {
    const sorted = [...latencies].sort((a, b) => a - b);
    summary.elapsedSeconds = (Date.now() - start) / 1000;
    summary.lostPackets = fleet.reduce((n, d) => n + d.lostPackets, 0);
    summary.latencyMs = {
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
      max: Number((sorted[sorted.length - 1] ?? 0).toFixed(2)),
    };
    return summary;
  };
  try {
    await Promise.all(fleet.map((d, i) => runDevice(d, i)));
  } finally {
    if (progress) clearInterval(progress);
  }
  return finish();
}
