/**
 * The `/changes` (= `/device_settings`) answer exactly as the field firmware parses it
 * (PROTOCOL.md §5.2, §5.3): the reference server's key set, key order and types. Pure.
 */

/** What one answer asks the device to change; absent keys stay as they are. */
export interface ChangesOffer {
  sampling_interval?: number;
  upload_interval?: number;
  /** REGISTER_MAP names, in the order the device should read them. */
  registers?: readonly string[];
}

export interface ChangesResponse {
  Changed: boolean;
  pollFreqChanged: boolean;
  newPollTimer: number;
  uploadFreqChanged: boolean;
  newUploadTimer: number;
  regsChanged: boolean;
  regsCount: number;
  /**
   * The device matches `regs[i]` only when `regs` is an array of REGISTER_MAP names; the
   * reference server's unchanged default is the empty string (vector `no-change`).
   */
  regs: string[] | '';
}

/** Byte for byte the reference server's idle answer (vector `no-change`). */
export const NO_CHANGE: Readonly<ChangesResponse> = Object.freeze({
  Changed: false,
  pollFreqChanged: false,
  newPollTimer: 0,
  uploadFreqChanged: false,
  newUploadTimer: 0,
  regsChanged: false,
  regsCount: 0,
  regs: '',
});

export function isEmptyOffer(offer: ChangesOffer): boolean {
  return (
    offer.sampling_interval === undefined &&
    offer.upload_interval === undefined &&
    offer.registers === undefined
  );
}

/** Timers in whole seconds; `regsCount` always equals the length of `regs`. */
export function buildChangesResponse(offer: ChangesOffer): ChangesResponse {
  if (isEmptyOffer(offer)) return { ...NO_CHANGE };
  const regs = offer.registers ? [...offer.registers] : undefined;
  return {
    Changed: true,
    pollFreqChanged: offer.sampling_interval !== undefined,
    newPollTimer: offer.sampling_interval ?? 0,
    uploadFreqChanged: offer.upload_interval !== undefined,
    newUploadTimer: offer.upload_interval ?? 0,
    regsChanged: regs !== undefined,
    regsCount: regs?.length ?? 0,
    regs: regs ?? '',
  };
}
