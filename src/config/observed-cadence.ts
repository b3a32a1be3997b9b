/**
 * What a device is seen running, from the uploads it made (pure). The upload interval is the
 * time between consecutive uploads (device `millis()` when both are known, so network delays do
 * not count; server receive times across a reboot); the sampling interval is the spacing of
 * consecutive packets' `millis()` stamps divided by the 5 samples each packet holds.
 *
 * A failed upload or a packet lost in the ring makes one span a multiple of the real interval,
 * never shorter, so an estimate is the shortest of the last two spans.
 */
import type { UploadTrace } from '../model/config.js';
import { SAMPLES_PER_PACKET } from './config-schema.js';

export type ObservedKey = 'sampling_interval' | 'upload_interval';

export interface CadenceSpan {
  key: ObservedKey;
  /** The measured interval, ms. */
  ms: number;
  /** Server time after which the measured span began (receipt of the upload before it). */
  since: number;
  /** Server time at which it was seen (receipt of the later upload). */
  at: number;
}

export interface CadenceEstimate {
  ms: number;
  at: number;
  /** Spans that went into the window it was taken from. */
  spans: number;
}

function uploadSpans(uploads: readonly UploadTrace[]): CadenceSpan[] {
  const spans: CadenceSpan[] = [];
  for (let i = 1; i < uploads.length; i++) {
    const a = uploads[i - 1];
    const b = uploads[i];
    const sameBoot =
      a.deviceTimestamp !== null && b.deviceTimestamp !== null && b.deviceTimestamp > a.deviceTimestamp;
    const ms = sameBoot
      ? (b.deviceTimestamp as number) - (a.deviceTimestamp as number)
      : b.receivedAt - a.receivedAt;
    if (ms > 0) spans.push({ key: 'upload_interval', ms, since: a.receivedAt, at: b.receivedAt });
  }
  return spans;
}

/**
 * A packet in an upload was made after the device's previous accepted upload (that upload
 * drained the ring), so a span starting at it is dated from that upload's receipt: the device
 * applies new timers right after an upload, and every span dated after it shows them.
 */
function packetSpans(uploads: readonly UploadTrace[]): CadenceSpan[] {
  const spans: CadenceSpan[] = [];
  const seen = new Set<number>();
  let prev: { ts: number; since: number } | undefined;
  for (let i = 0; i < uploads.length; i++) {
    const u = uploads[i];
    const since = i > 0 ? uploads[i - 1].receivedAt : Number.NEGATIVE_INFINITY;
    for (const ts of u.packetTimestamps) {
      // A packet re-sent after a lost acknowledgement carries the same stamp: measure it once.
      if (ts === null || seen.has(ts)) continue;
      seen.add(ts);
      // A smaller stamp means the device rebooted: the span across it measures nothing.
      if (prev && ts > prev.ts) {
        spans.push({
          key: 'sampling_interval',
          ms: (ts - prev.ts) / SAMPLES_PER_PACKET,
          since: prev.since,
          at: u.receivedAt,
        });
      }
      prev = { ts, since };
    }
  }
  return spans;
}

/** Every measurable span of `uploads` (oldest first). */
export function observeCadence(uploads: readonly UploadTrace[]): CadenceSpan[] {
  return [...uploadSpans(uploads), ...packetSpans(uploads)];
}

/** The interval a device runs, from spans that began at or after `notBefore`. */
export function estimateInterval(
  spans: readonly CadenceSpan[],
  key: ObservedKey,
  notBefore = Number.NEGATIVE_INFINITY,
): CadenceEstimate | undefined {
  const window = spans.filter((s) => s.key === key && s.since >= notBefore).sort((a, b) => a.at - b.at);
  if (window.length === 0) return undefined;
  const lastTwo = window.slice(-2);
  return {
    ms: Math.min(...lastTwo.map((s) => s.ms)),
    at: window[window.length - 1].at,
    spans: window.length,
  };
}

/** Timer and loop jitter of the field device: a tenth of the interval, at least 400 ms. */
export function matchesSeconds(ms: number, seconds: number): boolean {
  return Math.abs(ms - seconds * 1000) <= Math.max(400, seconds * 100);
}

/** A measured interval as the operator reads it: whole seconds when it is one, else 0.1 s. */
export function toSeconds(ms: number): number {
  const whole = Math.round(ms / 1000);
  return whole >= 1 && matchesSeconds(ms, whole) ? whole : Math.round(ms / 100) / 10;
}
