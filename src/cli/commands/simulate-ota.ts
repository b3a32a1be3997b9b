/**
 * `ecowatt simulate-ota`: simulated devices performing firmware updates against a server, with
 * the keys a firmware build would compile in (read from the key directory: the 1.3 set for
 * `--later`, generation 1.3) and optional faults. Each device first makes a sealed upload with the
 * fleet key, as a real device's regular uploads would: bare control requests are accepted only
 * from the address of the device's latest authenticated upload.
 */
import type { Command } from 'commander';
import { resolveKeyDir } from '../../firmware/firmware-keys.js';
import { FIELD_KEYS } from '../../protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../../protocol/firmware/device-update.js';
import type { OtaFault } from '../../sim/ota-device.js';
import { deviceKeysFromDir } from '../../sim/ota-device-keys.js';
import { otaDeviceId, runOtaFleet } from '../../sim/ota-fleet.js';
import { adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';

type Opts = ClientOptions & Record<string, string | boolean | undefined>;

function int(name: string, v: string | boolean | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} takes an integer ≥ ${min}`);
  return n;
}

/**
 * A simulated device forgets its nonce between runs; a real one keeps it in NVS. Twenty nonces per
 * second since 2025 keep a rerun above what an earlier run used.
 */
function clockNonce(): number {
  const n = 10_000 + Math.floor((Date.now() - Date.UTC(2025, 0, 1)) / 50);
  return n < 0xffff_0000 ? n : 10_000;
}

function parseFault(spec: string): OtaFault {
  const [kind, arg] = spec.split(':');
  if (kind === 'corrupt-chunk') return { kind, chunk: int('fault', arg ?? '0', 0) };
  if (kind === 'bad-signature') return { kind };
  if (kind === 'interrupt') return { kind, chunk: int('fault', arg ?? '0', 0), pauseMs: 2000 };
  throw new CliError('--fault takes corrupt-chunk[:N], bad-signature or interrupt[:N]');
}

export function registerSimulateOtaCommand(program: Command): void {
  program
    .command('simulate-ota')
    .description('simulated devices that check for, download, verify and install firmware updates')
    .option('--url <url>', 'server URL (ECOWATT_URL, default http://127.0.0.1:5001)')
    .option('-n, --devices <n>', 'number of devices', '1')
    .option('--from <version>', 'the version the devices run', '1.0.3')
    .option('--prefix <text>', 'device id prefix', 'sim-ota')
    .option('--key-dir <dir>', 'firmware key directory (ECOWATT_KEY_DIR, default <data dir>/keys)')
    .option('-d, --data-dir <dir>', 'data directory (ECOWATT_DATA_DIR, default ./data)')
    .option('--later', 'generation 1.3: its endpoints (/ota/check/<id> …) and its key set (<key dir>/1.3)')
    .option(
      '--sign',
      'seal requests in v1 envelopes with the fleet key (default: bare, as the field firmware)',
    )
    .option(
      '--fleet-key <hex>',
      'HMAC fleet key for uploads and --sign (default: the firmware’s well-known key)',
    )
    .option(
      '--nonce <n>',
      'last nonce the devices used (uploads, --sign; default: from the clock, so reruns go on)',
    )
    .option('--fault <fault>', 'corrupt-chunk[:N] | bad-signature | interrupt[:N]')
    .option('--faulty <n>', 'how many devices have the fault (default all)')
    .option('--register', 'register the devices first (admin token), allowing unsigned requests')
    .option(
      '--token <token>',
      'admin token for --register (ECOWATT_ADMIN_TOKEN, else from the data directory)',
    )
    .option('--interval <seconds>', 'seconds between checks', '2')
    .option('--timeout <seconds>', 'stop waiting for offers after this long', '60')
    .option('--json', 'print the summary as JSON')
    .action(
      guarded(async (o: Opts) => {
        const url = typeof o.url === 'string' ? o.url : (process.env.ECOWATT_URL ?? 'http://127.0.0.1:5001');
        const devices = int('devices', o.devices, 1);
        const dataDir =
          typeof o.dataDir === 'string' ? o.dataDir : (process.env.ECOWATT_DATA_DIR ?? './data');
        const keyDir = resolveKeyDir(
          dataDir,
          typeof o.keyDir === 'string' ? o.keyDir : process.env.ECOWATT_KEY_DIR,
        );
        let keys: DeviceFirmwareKeys;
        try {
          keys = deviceKeysFromDir(keyDir, o.later ? '1.3' : 'e84f720');
        } catch (err) {
          throw new CliError((err as Error).message);
        }
        const fault = typeof o.fault === 'string' ? parseFault(o.fault) : undefined;
        const faulty = o.faulty !== undefined ? int('faulty', o.faulty, 0) : devices;
        const fleetKey = typeof o.fleetKey === 'string' ? o.fleetKey : undefined;
        if (fleetKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(fleetKey))
          throw new CliError('--fleet-key takes 32 bytes in hex');
        const fleet = { ...FIELD_KEYS, ...(fleetKey ? { hmacKey: Buffer.from(fleetKey, 'hex') } : {}) };
        const nonce = o.nonce !== undefined ? int('nonce', o.nonce, 0) : clockNonce();
        const sign = o.sign ? { keys: fleet, nonce } : undefined;
        const prefix = String(o.prefix);
        if (o.register) {
          for (let i = 1; i <= devices; i++) {
            const id = otaDeviceId(prefix, i);
            try {
              await adminRequest({ ...o, url, dataDir }, 'POST', '/api/devices', {
                id,
                allow_unsecured_config: true,
              });
            } catch (err) {
              if (!(err instanceof CliError) || !/^409/.test(err.message)) throw err;
            }
          }
        }
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        const summary = await runOtaFleet({
          url,
          devices,
          idPrefix: prefix,
          fromVersion: String(o.from),
          keys,
          upload: { keys: fleet },
          nonce,
          configure: (i) => ({
            client: o.later ? 'later' : 'field',
            ...(sign ? { sign } : {}),
            ...(fault && i < faulty ? { fault } : {}),
          }),
          checkIntervalMs: Number(o.interval) * 1000,
          timeoutMs: Number(o.timeout) * 1000,
          signal: controller.signal,
        });
        if (o.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
        } else {
          for (const r of summary.reports) {
            const res = r.result;
            const what =
              res.kind === 'updated'
                ? `updated ${res.from} → ${res.to} (${res.chunks} chunks${res.resumedAt !== null ? `, resumed at ${res.resumedAt}` : ''})`
                : res.kind === 'failed'
                  ? `refused ${res.version}: ${res.detail} (nothing committed)`
                  : res.kind === 'none'
                    ? `no update: ${res.message}`
                    : `error: ${res.message}`;
            process.stdout.write(`${r.id}\t${what}\n`);
          }
          process.stdout.write(
            `${summary.devices} devices, ${summary.elapsedSeconds.toFixed(1)} s: updated ${summary.updated}, refused ${summary.failed}, no update ${summary.waiting}, errors ${summary.errors}\n`,
          );
        }
        if (summary.errors > 0) process.exitCode = 1;
      }),
    );
}
