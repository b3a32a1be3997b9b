/** Formatting of times, numbers and units for people. */

export function relative(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function dateTime(iso: string | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function power(w: number | null | undefined): string {
  if (w === null || w === undefined) return '–';
  return Math.abs(w) >= 1000 ? `${(w / 1000).toFixed(2)} kW` : `${Math.round(w)} W`;
}

export function energy(wh: number | null | undefined): string {
  if (wh === null || wh === undefined) return '–';
  return wh >= 1000 ? `${(wh / 1000).toFixed(2)} kWh` : `${wh.toFixed(1)} Wh`;
}

export function value(v: number | null, unit: string | null): string {
  if (v === null) return '–';
  return unit ? `${v} ${unit}` : String(v);
}

export const QUALITY_MARK: Record<string, string> = {
  exact: '',
  approximate: '≈',
  ambiguous: '?',
  missing: '∅',
};
