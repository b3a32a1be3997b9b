/** Fleet overview: every device with its link status, power, energy and badges; live. */
import { linkStatus } from '../../../src/dashboard/cadence';
import { api, enc } from '../api';
import { badge, coalesce, fill, h } from '../dom';
import { dateTime, energy, power, relative } from '../format';
import { live } from '../live';
import type { Route } from '../route';
import type { FleetRow, FleetSummary, Link, UploadEvent } from '../types';

type SortKey = 'id' | 'link' | 'last_seen' | 'power' | 'energy' | 'events';

const COLUMNS: { key: SortKey | null; label: string }[] = [
  { key: 'id', label: 'Device' },
  { key: 'link', label: 'Status' },
  { key: 'last_seen', label: 'Last seen' },
  { key: 'power', label: 'Power now' },
  { key: 'energy', label: 'Energy today' },
  { key: null, label: 'Uploads' },
  { key: null, label: 'Data quality' },
  { key: 'events', label: 'Security' },
];

const LINK_ORDER: Record<Link | 'disabled', number> = {
  online: 0,
  late: 1,
  offline: 2,
  never: 3,
  disabled: 4,
};

function currentLink(row: FleetRow, now: number): Link | 'disabled' {
  if (row.status === 'disabled') return 'disabled';
  return linkStatus(row.last_seen === null ? null : Date.parse(row.last_seen), row.interval_ms, now);
}

function compare(a: FleetRow, b: FleetRow, key: SortKey, now: number): number {
  switch (key) {
    case 'id':
      return a.id.localeCompare(b.id);
    case 'link':
      return LINK_ORDER[currentLink(a, now)] - LINK_ORDER[currentLink(b, now)];
    case 'last_seen':
      return (Date.parse(b.last_seen ?? '') || 0) - (Date.parse(a.last_seen ?? '') || 0);
    case 'power':
      return (b.power?.value ?? -1) - (a.power?.value ?? -1);
    case 'energy':
      return b.energy_today_wh - a.energy_today_wh;
    case 'events':
      return b.security.events_24h - a.security.events_24h;
  }
}

function qualityBadges(row: FleetRow): HTMLElement {
  const q = row.quality;
  const out = h('span', { class: 'badges' });
  if (q.quarantined_packets) out.append(badge(`${q.quarantined_packets} quarantined`, 'bad'));
  if (q.nonce_gaps) out.append(badge(`${q.nonce_gaps} missed`, 'warn', 'uploads lost (nonce gaps)'));
  if (q.ambiguous_latest) out.append(badge(`${q.ambiguous_latest} ambiguous`, 'warn'));
  if (q.approximate_latest) out.append(badge(`${q.approximate_latest} approx.`, 'info'));
  if (!out.childElementCount) out.append(badge('good', 'ok'));
  return out;
}

function securityBadges(row: FleetRow): HTMLElement {
  const out = h('span', { class: 'badges' });
  if (row.security.events_24h) out.append(badge(`${row.security.events_24h} events 24 h`, 'bad'));
  if (row.security.rejects)
    out.append(badge(`${row.security.rejects} rejected`, 'warn', 'rejected requests, all time'));
  if (!out.childElementCount) out.append(badge('quiet', 'ok'));
  return out;
}

function mount(main: HTMLElement): () => void {
  let rows: FleetRow[] = [];
  let sort: SortKey = 'id';
  let filter = '';
  let loadError = '';

  const totals = h('section', {
    class: 'totals',
    'aria-label': 'Fleet totals',
    'data-testid': 'fleet-totals',
  });
  const search = h('input', {
    id: 'fleet-search',
    type: 'search',
    placeholder: 'Device id',
    autocomplete: 'off',
  });
  const sortSelect = h(
    'select',
    { id: 'fleet-sort' },
    COLUMNS.filter((c) => c.key).map((c) => h('option', { value: c.key ?? '' }, c.label)),
  );
  const headRow = h('tr');
  const body = h('tbody', { 'data-testid': 'fleet-rows' });
  const status = h('p', { class: 'muted', role: 'status' });
  const table = h(
    'table',
    { class: 'data fleet', 'aria-describedby': 'fleet-caption' },
    h('caption', { id: 'fleet-caption', class: 'sr-only' }, 'Devices of the fleet'),
    h('thead', null, headRow),
    body,
  );

  fill(
    main,
    h('h1', null, 'Fleet'),
    totals,
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'fleet-search' }, 'Search'),
      search,
      h('label', { for: 'fleet-sort' }, 'Sort by'),
      sortSelect,
    ),
    status,
    h('div', { class: 'table-wrap' }, table),
  );

  const renderHead = () => {
    fill(
      headRow,
      COLUMNS.map((c) => {
        if (!c.key) return h('th', { scope: 'col' }, c.label);
        const key = c.key;
        return h(
          'th',
          { scope: 'col', 'aria-sort': sort === key ? 'ascending' : null },
          h(
            'button',
            {
              type: 'button',
              class: 'sort',
              onclick: () => {
                sort = key;
                sortSelect.value = key;
                render();
              },
            },
            c.label,
          ),
        );
      }),
    );
  };

  const render = coalesce(() => {
    const now = Date.now();
    const active = rows.filter((r) => r.status === 'active');
    const count = (l: Link) => active.filter((r) => currentLink(r, now) === l).length;
    const online = active.filter((r) => currentLink(r, now) === 'online');
    const totalPower = online.reduce((w, r) => w + (r.power?.value ?? 0), 0);
    const cards: [string, string, string][] = [
      ['Devices', String(rows.length), 'devices'],
      ['Online', String(count('online')), 'online'],
      ['Late', String(count('late')), 'late'],
      ['Offline', String(count('offline') + count('never')), 'offline'],
      ['Power now', power(totalPower), 'power'],
      ['Energy today', energy(rows.reduce((wh, r) => wh + r.energy_today_wh, 0)), 'energy'],
      ['Security events (24 h)', String(rows.reduce((n, r) => n + r.security.events_24h, 0)), 'events'],
    ];
    fill(
      totals,
      cards.map(([label, value, key]) =>
        h(
          'div',
          { class: `card card-${key}`, 'data-total': key },
          h('span', { class: 'card-label' }, label),
          h('strong', null, value),
        ),
      ),
    );
    renderHead();
    const needle = filter.trim().toLowerCase();
    const shown = rows
      .filter((r) => r.id.toLowerCase().includes(needle))
      .sort((a, b) => compare(a, b, sort, now) || a.id.localeCompare(b.id));
    const focusedId = (document.activeElement as HTMLElement | null)?.closest('tr')?.dataset.device;
    fill(
      body,
      shown.map((r) => {
        const link = currentLink(r, now);
        return h(
          'tr',
          { 'data-device': r.id, 'data-link': link },
          h(
            'th',
            { scope: 'row' },
            h('a', { href: `#/devices/${enc(r.id)}` }, r.id),
            r.generation ? ' ' : null,
            r.generation ? badge(r.generation, 'info', 'firmware generation') : null,
          ),
          h('td', null, badge(link, link)),
          h('td', { title: dateTime(r.last_seen) }, relative(r.last_seen, now)),
          h(
            'td',
            { class: 'num', 'data-col': 'power' },
            link === 'online' ? power(r.power?.value) : h('span', { class: 'muted' }, power(r.power?.value)),
          ),
          h('td', { class: 'num' }, energy(r.energy_today_wh)),
          h('td', { class: 'num', 'data-col': 'uploads' }, r.uploads),
          h('td', null, qualityBadges(r)),
          h('td', null, securityBadges(r)),
        );
      }),
    );
    if (focusedId) {
      body.querySelector<HTMLAnchorElement>(`tr[data-device="${CSS.escape(focusedId)}"] a`)?.focus();
    }
    status.textContent = loadError
      ? loadError
      : rows.length === 0
        ? 'No devices yet: they appear with their first upload, or register one with `ecowatt device add`.'
        : `${shown.length} of ${rows.length} devices`;
  });

  search.addEventListener('input', () => {
    filter = search.value;
    render();
  });
  sortSelect.addEventListener('change', () => {
    sort = sortSelect.value as SortKey;
    render();
  });

  let loading = false;
  const load = () => {
    if (loading) return;
    loading = true;
    api<FleetSummary>('/api/dashboard/fleet')
      .then((s) => {
        rows = s.devices;
        loadError = '';
      })
      .catch((err: Error) => {
        loadError = `Could not load the fleet: ${err.message}`;
      })
      .finally(() => {
        loading = false;
        render();
      });
  };

  const onUpload = (u: UploadEvent) => {
    const row = rows.find((r) => r.id === u.device_id);
    if (!row) {
      load();
      return;
    }
    row.last_seen = u.received_at;
    row.uploads++;
    if (u.interval_ms !== null) row.interval_ms = u.interval_ms;
    if (u.energy_today_wh !== null) row.energy_today_wh = u.energy_today_wh;
    row.quality.quarantined_packets += u.quarantined;
    const pac = u.latest.find((v) => v.reg_id === 9);
    if (pac) row.power = pac;
    render();
  };
  const offUpload = live.on('upload', onUpload);
  const offSecurity = live.on('security', (e) => {
    const row = e.device_id === null ? undefined : rows.find((r) => r.id === e.device_id);
    if (row) row.security.events_24h++;
    if (row && e.code !== 'packet_quarantined' && e.code !== 'nonce_gap') row.security.rejects++;
    render();
  });
  // Statuses age without any event: re-evaluate them locally (no request).
  const tick = setInterval(render, 5000);
  load();
  return () => {
    offUpload();
    offSecurity();
    clearInterval(tick);
  };
}

export const fleetRoute: Route = {
  pattern: /^\/$/,
  nav: { href: '#/', label: 'Fleet' },
  title: () => 'Fleet',
  mount: (main) => mount(main),
};
