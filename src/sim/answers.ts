/**
 * How the simulator names and counts the server's answers, for uploads and control requests
 * alike: an outcome key per answer, and per kind of request how many were sent, what came back,
 * and how many answers were not what the server must give.
 */

export interface AnswerTally {
  sent: number;
  outcomes: Record<string, number>;
  /** Answers that are not what the server must give to this kind of request. */
  unexpected: number;
}

/** Outcome keys: `"200"` (any 2xx by its status), `"<status> <error code>"`, `"transport_error"`. */
export function outcomeOf(status: number, text: string): string {
  if (status >= 200 && status < 300) return String(status);
  let code = 'unknown';
  try {
    code = (JSON.parse(text) as { error?: string }).error ?? code;
  } catch {
    /* a non-JSON answer is counted as unknown */
  }
  return `${status} ${code}`;
}

export const TRANSPORT_ERROR = 'transport_error';

/** Counts one answer into `tallies[kind]`, creating the tally on first use. */
export function countAnswer<K extends string>(
  tallies: Partial<Record<K, AnswerTally>>,
  kind: K,
  outcome: string,
  expected: boolean,
): void {
  const t = tallies[kind] ?? { sent: 0, outcomes: {}, unexpected: 0 };
  tallies[kind] = t;
  t.sent++;
  t.outcomes[outcome] = (t.outcomes[outcome] ?? 0) + 1;
  if (!expected) t.unexpected++;
}
