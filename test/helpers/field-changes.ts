/**
 * A host emulation of the e84f720 firmware's `checkChanges` and of how it later reads NVS back
 * (PROTOCOL.md §1.2, §5.3), to see what a `/changes` answer really does to a field device.
 * Checked against every vector of changes.json before it judges the server's answers.
 */

const REGISTER_MAP = ['Vac1', 'Iac1', 'Fac1', 'Vpv1', 'Vpv2', 'Ipv1', 'Ipv2', 'Temp', 'Pow', 'Pac'];
const DEFAULT_SELECTION = [0, 1, 5, 9, 6, 7];
const POLL_DEFAULT_US = 2_000_000;
const UPLOAD_DEFAULT_US = 15_000_000;
const POLL_MIN_US = 100_000;
const UPLOAD_MIN_US = 1_000_000;

export interface ChangesEffect {
  after_checkChanges: {
    registers_uptodate: boolean;
    pollFreq_uptodate: boolean;
    uploadFreq_uptodate: boolean;
  };
  nvs_after: Record<string, Record<string, string>>;
  poll_freq_us_effective: number;
  upload_freq_us_effective: number;
  reg_count_after: number;
  selection_after_reboot: number[];
}

/** ArduinoJson `as<uint64_t>()`: integers as they are, anything else (0.5, "5", missing) 0. */
function asU64(v: unknown): bigint {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : 0n;
}

function u64le(v: bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b.toString('hex');
}

export function emulateCheckChanges(response: unknown): ChangesEffect {
  const doc = (typeof response === 'object' && response !== null ? response : {}) as Record<string, unknown>;
  const flags = { registers_uptodate: true, pollFreq_uptodate: true, uploadFreq_uptodate: true };
  const nvs: Record<string, Record<string, string>> = {};
  let pollUs: bigint | undefined;
  let uploadUs: bigint | undefined;
  if (doc.Changed === true) {
    if (doc.pollFreqChanged === true) {
      const us = asU64(doc.newPollTimer) * 1_000_000n;
      // NVS refuses 0, but the flag is cleared all the same.
      if (us > 0n) {
        nvs.freq = { ...nvs.freq, poll_freq: u64le(us) };
        pollUs = us;
      }
      flags.pollFreq_uptodate = false;
    }
    if (doc.uploadFreqChanged === true) {
      const us = asU64(doc.newUploadTimer) * 1_000_000n;
      if (us > 0n) {
        nvs.freq = { ...nvs.freq, upload_freq: u64le(us) };
        uploadUs = us;
      }
      flags.uploadFreq_uptodate = false;
    }
    if (doc.regsChanged === true) {
      const count = typeof doc.regsCount === 'number' && Number.isInteger(doc.regsCount) ? doc.regsCount : 0;
      const regs = Array.isArray(doc.regs) ? doc.regs : [];
      const ids: number[] = [];
      for (let i = 0; i < count && i < regs.length; i++) {
        const id = REGISTER_MAP.indexOf(regs[i] as string);
        if (typeof regs[i] === 'string' && id >= 0) ids.push(id);
      }
      if (ids.length > 0) {
        nvs.readregs = { read_regs: Buffer.from(ids).toString('hex') };
        flags.registers_uptodate = false;
      }
    }
  }
  const effective = (stored: bigint | undefined, min: number, dflt: number) =>
    stored !== undefined && stored >= BigInt(min) ? Number(stored) : dflt;
  return {
    after_checkChanges: flags,
    nvs_after: nvs,
    poll_freq_us_effective: effective(pollUs, POLL_MIN_US, POLL_DEFAULT_US),
    upload_freq_us_effective: effective(uploadUs, UPLOAD_MIN_US, UPLOAD_DEFAULT_US),
    // reg_count is never written, so the defaults come back after every reboot.
    reg_count_after: DEFAULT_SELECTION.length,
    selection_after_reboot: [...DEFAULT_SELECTION],
  };
}
