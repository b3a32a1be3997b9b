/**
 * Runs simulated devices through firmware updates concurrently: each checks on its own cadence
 * until it is updated, refuses an update it cannot verify, or the time is up.
 */
import { setMaxListeners } from 'node:events';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';
import { OtaDevice, type OtaDeviceOptions, type OtaResult } from './ota-device.js';

export interface OtaFleetOptions {
  url: string;
  devices: number;
  idPrefix?: string;
  /** First device number (ids are `<prefix>-0001` …). */
  firstIndex?: number;
  fromVersion: string;
  /** The keys of the devices' generation (per device: `configure` → `keys`). */
  keys: DeviceFirmwareKeys;
  /** Every device uploads (sealed with these keys) before checking: see OtaDeviceOptions.upload. */
  upload?: OtaDeviceOptions['upload'];
  /** The last nonce every device used (default 10000): a rerun with the same ids must go higher. */
  nonce?: number;
  /** Per device: protocol generation, its keys, signing, fault. */
  configure?: (
    index: number,
    id: string,
  ) => Partial<Pick<OtaDeviceOptions, 'client' | 'sign' | 'fault' | 'version' | 'keys' | 'upload'>>;
  checkIntervalMs?: number;
  /** Give up on devices still waiting for an offer after this long. */
  timeoutMs?: number;
  retryForMs?: number;
  beforeChunk?: OtaDeviceOptions['beforeChunk'];
  signal?: AbortSignal;
  onResult?: (id: string, result: OtaResult) => void;
}

export interface OtaDeviceReport {
  id: string;
  client: 'field' | 'later';
  signed: boolean;
  fault: string | null;
  version: string;
  checks: number;
  retries: number;
  result: OtaResult;
}

export interface OtaFleetSummary {
  devices: number;
  updated: number;
  failed: number;
  waiting: number;
  errors: number;
  elapsedSeconds: number;
  reports: OtaDeviceReport[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function otaDeviceId(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(4, '0')}`;
}

export async function runOtaFleet(opts: OtaFleetOptions): Promise<OtaFleetSummary> {
  const start = Date.now();
  const deadline = start + (opts.timeoutMs ?? 60_000);
  const interval = opts.checkIntervalMs ?? 1000;
  if (opts.signal) setMaxListeners(opts.devices + 10, opts.signal);

  const runOne = async (i: number): Promise<OtaDeviceReport> => {
    const id = otaDeviceId(opts.idPrefix ?? 'sim-ota', (opts.firstIndex ?? 1) + i);
    const extra = opts.configure?.(i, id) ?? {};
    const device = new OtaDevice({
      url: opts.url,
      id,
      version: extra.version ?? opts.fromVersion,
      keys: extra.keys ?? opts.keys,
      client: extra.client ?? 'field',
      ...(extra.sign ? { sign: extra.sign } : {}),
      ...((extra.upload ?? opts.upload) ? { upload: extra.upload ?? opts.upload } : {}),
      ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      ...(extra.fault ? { fault: extra.fault } : {}),
      ...(opts.retryForMs !== undefined ? { retryForMs: opts.retryForMs } : {}),
      ...(opts.beforeChunk ? { beforeChunk: opts.beforeChunk } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    // Spread the first checks over one interval, as devices booted at different times would.
    await sleep(Math.floor((i * 7919) % Math.max(1, interval)));
    let checks = 0;
    let result: OtaResult = { kind: 'none', message: 'never checked' };
    while (!opts.signal?.aborted) {
      checks++;
      result = await device.checkAndUpdate();
      if (result.kind === 'updated' || result.kind === 'failed') break;
      if (Date.now() + interval > deadline) break;
      await sleep(interval);
    }
    opts.onResult?.(id, result);
    return {
      id,
      client: extra.client ?? 'field',
      signed: extra.sign !== undefined,
      fault: extra.fault ? extra.fault.kind : null,
      version: device.version,
      checks,
      retries: device.retries,
      result,
    };
  };

  const reports = await Promise.all(Array.from({ length: opts.devices }, (_, i) => runOne(i)));
  const count = (kind: OtaResult['kind']) => reports.filter((r) => r.result.kind === kind).length;
  return {
    devices: opts.devices,
    updated: count('updated'),
    failed: count('failed'),
    waiting: count('none'),
    errors: count('error'),
    elapsedSeconds: (Date.now() - start) / 1000,
    reports,
  };
}
