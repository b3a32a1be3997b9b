/** Security: alerts, the event feed with filters (live), and the audit log of admin actions. */
import { api, enc, q } from '../api';
import { badge, dataTable, fill, h } from '../dom';
import { dateTime } from '../format';
import { live } from '../live';
import type { Route } from '../route';
import type { AuditEntryView, SecurityEventView } from '../types';

export const EVENT_CODES = [
  'alert',
  'replayed_nonce',
  'authentication_failed',
  'missing_security_fields',
  'malformed_envelope',
  'unsecured_not_allowed',
  'encryption_required',
  'device_disabled',
  'counter_reset_suspected',
  'packet_quarantined',
  'nonce_gap',
];

/** Codes that mean someone or something is misbehaving, not just lost data. */
const ALERT_CODES = new Set([
  'alert',
  'replayed_nonce',
  'authentication_failed',
  'counter_reset_suspected',
  'missing_security_fields',
  'encryption_required',
  'unsecured_not_allowed',
]);

const SINCE: [string, string, number | null][] = [
  ['1h', 'Last hour', 3_600_000],
  ['24h', 'Last 24 hours', 86_400_000],
  ['7d', 'Last 7 days', 7 * 86_400_000],
  ['all', 'Any time', null],
];

const kindOf = (code: string) => (ALERT_CODES.has(code) ? 'bad' : 'warn');

export function eventsTable(events: SecurityEventView[], withDevice: boolean): HTMLElement {
  return dataTable(
    ['Time', withDevice ? 'Device' : null, 'Event', 'Reason', 'Source', 'Nonce'],
    [
      h(
        'tbody',
        null,
        events.map((e) =>
          h(
            'tr',
            { 'data-code': e.code, class: e.id === undefined ? 'new' : null },
            h('td', null, dateTime(e.time)),
            withDevice
              ? h(
                  'td',
                  null,
                  e.device_id ? h('a', { href: `#/devices/${enc(e.device_id)}` }, e.device_id) : '–',
                )
              : null,
            h('td', null, badge(e.code, kindOf(e.code))),
            h('td', { class: 'reason' }, e.reason),
            h('td', null, e.source ?? '–'),
            h('td', { class: 'num' }, e.nonce ?? '–'),
          ),
        ),
      ),
    ],
    'data events',
  );
}

function mount(main: HTMLElement): () => void {
  let events: SecurityEventView[] = [];
  let audit: AuditEntryView[] = [];
  const device = h('input', { id: 'ev-device', name: 'device', type: 'search', autocomplete: 'off' });
  const code = h(
    'select',
    { id: 'ev-code', name: 'code' },
    h('option', { value: '' }, 'All events'),
    EVENT_CODES.map((c) => h('option', { value: c }, c)),
  );
  const since = h(
    'select',
    { id: 'ev-since', name: 'since' },
    SINCE.map(([v, label]) => h('option', { value: v, selected: v === '24h' }, label)),
  );
  const form = h(
    'form',
    { class: 'toolbar filters', role: 'search', 'aria-label': 'Filter security events' },
    h('label', { for: 'ev-device' }, 'Device'),
    device,
    h('label', { for: 'ev-code' }, 'Event'),
    code,
    h('label', { for: 'ev-since' }, 'Since'),
    since,
    h('button', { type: 'submit' }, 'Apply'),
  );
  const alerts = h('div', { 'data-testid': 'alerts' });
  const feed = h('div', { 'data-testid': 'security-feed', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older events');
  const auditBox = h('div', { 'data-testid': 'audit-log' });
  const status = h('p', { class: 'muted', role: 'status' });

  fill(
    main,
    h('h1', null, 'Security'),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'alerts-title' },
      h('h2', { id: 'alerts-title' }, 'Alerts'),
      alerts,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'feed-title' },
      h('h2', { id: 'feed-title' }, 'Event feed'),
      form,
      status,
      feed,
      more,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'audit-title' },
      h('h2', { id: 'audit-title' }, 'Audit log'),
      h(
        'p',
        { class: 'muted' },
        'Administrative actions: registrations, key rotations, replay resets, policy changes.',
      ),
      auditBox,
    ),
  );

  const sinceMs = () => SINCE.find(([v]) => v === since.value)?.[2] ?? null;
  const matches = (e: SecurityEventView) => {
    const s = sinceMs();
    return (
      (!device.value.trim() || e.device_id === device.value.trim()) &&
      (!code.value || e.code === code.value) &&
      (s === null || Date.parse(e.time) >= Date.now() - s)
    );
  };

  /** Alerts the server's alert engine raised (stored as events with code `alert`). */
  let raised: SecurityEventView[] = [];
  const loadAlerts = async () => {
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const r = await api<{ events: SecurityEventView[] }>(
      `/api/security-events${q({ code: 'alert', since, limit: 20 })}`,
    ).catch(() => null);
    if (r) {
      raised = r.events;
      renderFeed();
    }
  };

  const renderFeed = () => {
    fill(feed, events.length ? eventsTable(events, true) : h('p', { class: 'muted' }, 'No events match.'));
    const recent = events.filter(
      (e) => ALERT_CODES.has(e.code) && e.code !== 'alert' && Date.parse(e.time) >= Date.now() - 86_400_000,
    );
    const groups = new Map<string, { device: string; code: string; count: number; last: string }>();
    for (const e of recent) {
      const key = `${e.device_id ?? '–'} ${e.code}`;
      const g = groups.get(key) ?? { device: e.device_id ?? '–', code: e.code, count: 0, last: e.time };
      g.count++;
      if (e.time > g.last) g.last = e.time;
      groups.set(key, g);
    }
    fill(
      alerts,
      raised.length
        ? h(
            'ul',
            { class: 'alerts', 'data-testid': 'raised-alerts' },
            raised.map((e) =>
              h(
                'li',
                null,
                badge('alert', 'bad'),
                ` ${dateTime(e.time)} `,
                e.device_id ? h('a', { href: `#/devices/${enc(e.device_id)}` }, e.device_id) : 'fleet',
                `: ${e.reason}`,
              ),
            ),
          )
        : null,
      h('h3', null, 'Suspicious activity in the events shown (last 24 h)'),
      groups.size
        ? h(
            'ul',
            { class: 'alerts' },
            [...groups.values()].map((g) =>
              h(
                'li',
                null,
                badge(g.code, 'bad'),
                ` ${g.count}× from `,
                g.device === '–'
                  ? 'unknown devices'
                  : h('a', { href: `#/devices/${enc(g.device)}` }, g.device),
                `, last ${dateTime(g.last)}`,
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No alerts in the events shown.'),
    );
  };

  const params = (before?: number) => {
    const s = sinceMs();
    return q({
      device: device.value.trim(),
      code: code.value,
      since: s === null ? undefined : new Date(Date.now() - s).toISOString(),
      limit: 100,
      before,
    });
  };

  const load = async (append = false) => {
    status.textContent = 'Loading…';
    const oldest = events.filter((e) => e.id !== undefined).at(-1)?.id;
    try {
      const r = await api<{ events: SecurityEventView[] }>(
        `/api/security-events${params(append ? oldest : undefined)}`,
      );
      events = append ? [...events, ...r.events] : r.events;
      more.hidden = r.events.length < 100;
      status.textContent = `${events.length} events`;
      renderFeed();
    } catch (err) {
      status.textContent = `Could not load events: ${(err as Error).message}`;
    }
  };

  const loadAudit = async () => {
    try {
      const r = await api<{ entries: AuditEntryView[] }>(
        `/api/audit${q({ device: device.value.trim(), limit: 100 })}`,
      );
      audit = r.entries;
    } catch (err) {
      fill(auditBox, h('p', { class: 'error' }, `Could not load the audit log: ${(err as Error).message}`));
      return;
    }
    fill(
      auditBox,
      audit.length
        ? dataTable(
            ['Time', 'Actor', 'Action', 'Device', 'Reason'],
            [
              h(
                'tbody',
                null,
                audit.map((a) =>
                  h(
                    'tr',
                    { 'data-action': a.action },
                    h('td', null, dateTime(a.time)),
                    h('td', null, a.actor),
                    h('td', null, a.action),
                    h(
                      'td',
                      null,
                      a.device_id ? h('a', { href: `#/devices/${enc(a.device_id)}` }, a.device_id) : '–',
                    ),
                    h('td', null, a.reason ?? '–'),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No administrative actions yet.'),
    );
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
    void loadAudit();
  });
  more.addEventListener('click', () => void load(true));
  let alertTimer: ReturnType<typeof setTimeout> | undefined;
  const alertsSoon = () => {
    alertTimer ??= setTimeout(() => {
      alertTimer = undefined;
      void loadAlerts();
    }, 1500);
  };
  const off = live.on('security', (e) => {
    // The alert engine may raise an alert on this event.
    alertsSoon();
    if (!matches(e)) return;
    events = [e, ...events];
    status.textContent = `${events.length} events`;
    renderFeed();
  });
  void load();
  void loadAudit();
  void loadAlerts();
  return () => {
    off();
    clearTimeout(alertTimer);
  };
}

export const securityRoute: Route = {
  pattern: /^\/security$/,
  nav: { href: '#/security', label: 'Security' },
  title: () => 'Security',
  mount: (main) => mount(main),
};
