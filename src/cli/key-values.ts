/** `key=value` arguments of CLI commands, typed the way the admin API expects them. */
import { CliError } from './admin-client.js';

/**
 * Numbers and booleans become JSON numbers and booleans, `null`/`inherit`/empty removes a key,
 * listed keys split on commas; the server validates everything else and names what is wrong.
 */
export function parseKeyValues(
  pairs: readonly string[],
  lists: readonly string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CliError(`expected key=value, got "${pair}"`);
    const key = pair.slice(0, at).trim();
    const raw = pair.slice(at + 1).trim();
    if (raw === '' || raw === 'null' || raw === 'inherit') out[key] = null;
    else if (lists.includes(key))
      out[key] = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    else if (raw === 'true' || raw === 'false') out[key] = raw === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(raw)) out[key] = Number(raw);
    else out[key] = raw;
  }
  return out;
}
