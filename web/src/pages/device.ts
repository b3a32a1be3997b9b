/**
 * One device: identity and policy, live charts over stored history, newest values with their
 * quality, recent uploads (methods, quarantined packets, nonce gaps) and security events.
 */
import { api, enc, q } from '../api';
import { type ChartRow, type ChartSeries, TimeChart } from '../chart';
import { badge, type Child, coalesce, dataTable, fill, h } from '../dom';
import { dateTime, QUALITY_MARK, relative, value } from '../format';
import { live } from '../live';
import type { Route } from '../route';
import type {
  DeviceView,
  LatestValue,
  ReadingView,
  SecurityEventView,
  Series,
  UploadEvent,
  UploadSummary,
} from '../types';
import { commandsPanel, configPanel } from './device-control';
import { reportsPanel } from './device-reports';
import { eventsTable } from './security';

interface Group {
  title: string;
  regs: { id: number; name: string; unit: string; color: string }[];
}

const GROUPS: Group[] = [
  { title: 'Power', regs: [{ id: 9, name: 'Pac', unit: 'W', color: '#1b6e3c' }] },
  {
    title: 'Voltages',
    regs: [
      { id: 0, name: 'Vac1', unit: 'V', color: '#1864ab' },
      { id: 3, name: 'Vpv1', unit: 'V', color: '#862e9c' },
      { id: 4, name: 'Vpv2', unit: 'V', color: '#c2255c' },
    ],
  },
  {
    title: 'Currents',
    regs: [
      { id: 1, name: 'Iac1', unit: 'A', color: '#1864ab' },
      { id: 5, name: 'Ipv1', unit: 'A', color: '#862e9c' },
      { id: 6, name: 'Ipv2', unit: 'A', color: '#c2255c' },
    ],
  },
  { title: 'Frequency', regs: [{ id: 2, name: 'Fac1', unit: 'Hz', color: '#5f3dc4' }] },
  { title: 'Temperature', regs: [{ id: 7, name: 'Temp', unit: '°C', color: '#e8590c' }] },
];

const RANGES = [
  { key: 'hour', label: 'Last hour', ms: 3_600_000, points: 1800 },
  { key: 'day', label: 'Last day', ms: 86_400_000, points: 1440 },
  { key: 'week', label: 'Last week', ms: 7 * 86_400_000, points: 1008 },
] as const;

type RangeKey = (typeof RANGES)[number]['key'] | 'custom';

const QUALITY_KIND: Record<string, string> = {
  exact: 'ok',
  approximate: 'info',
  ambiguous: 'warn',
  missing: 'bad',
};

function qualityBadge(quality: string): HTMLElement {
  const mark = QUALITY_MARK[quality] ?? '';
  return badge(`${mark ? `${mark} ` : ''}${quality}`, QUALITY_KIND[quality] ?? 'info');
}

function section(title: string, id: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function toLocalInput(t: number): string {
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function mount(main: HTMLElement, id: string): () => void {
  let range: RangeKey = 'hour';
  let from = Date.now() - RANGES[0].ms;
  let to: number | null = null;
  let device: DeviceView | null = null;

  const header = h('div', { class: 'device-head' });
  const info = h('dl', { class: 'facts' });
  const charts = GROUPS.map(
    (g) =>
      new TimeChart(
        g.title,
        g.regs.map<ChartSeries>((r) => ({ register: r.name, unit: r.unit, color: r.color })),
      ),
  );
  const rangeButtons = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' });
  const fromInput = h('input', { id: 'range-from', type: 'datetime-local' });
  const toInput = h('input', { id: 'range-to', type: 'datetime-local' });
  const custom = h(
    'form',
    { class: 'custom-range' },
    h('label', { for: 'range-from' }, 'From'),
    fromInput,
    h('label', { for: 'range-to' }, 'To'),
    toInput,
    h('button', { type: 'submit', class: 'secondary' }, 'Show'),
  );
  const chartStatus = h('p', { class: 'muted', role: 'status', 'data-testid': 'chart-status' });
  const latestBody = h('tbody', { 'data-testid': 'latest-values' });
  const uploadsBody = h('tbody', { 'data-testid': 'uploads' });
  const gaps = h('div', { 'data-testid': 'nonce-gaps' });
  const eventsBox = h('div', { 'data-testid': 'device-events' });
  const config = configPanel(id);
  const commands = commandsPanel(id);
  const reports = reportsPanel(id);
  let events: SecurityEventView[] = [];

  fill(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Fleet')),
    header,
    info,
    section(
      'Readings',
      'readings-title',
      h('div', { class: 'toolbar' }, rangeButtons, custom),
      chartStatus,
      h(
        'p',
        { class: 'legend-note' },
        h('span', { class: 'flag-dot', 'aria-hidden': 'true' }),
        ' Orange points: approximate or ambiguous values (the compression format could not carry them exactly).',
      ),
      h(
        'div',
        { class: 'charts' },
        charts.map((c) => c.el),
      ),
    ),
    section(
      'Newest values',
      'latest-title',
      dataTable(['Register', 'Value', 'Quality', 'Measured'], [latestBody]),
    ),
    reports.el,
    section(
      'Recent uploads',
      'uploads-title',
      dataTable(
        ['Received', 'Upload', 'Nonce', 'Security', 'Packets', 'Compression', 'Quarantined', 'Nonce gap'],
        [uploadsBody],
      ),
    ),
    config.el,
    commands.el,
    section('Nonce gaps', 'gaps-title', gaps),
    section('Security events', 'events-title', eventsBox),
  );

  const renderHeader = () => {
    if (!device) return;
    const d = device;
    const rejects = Object.entries(d.counters.rejects);
    fill(
      header,
      h('h1', null, d.id),
      h(
        'span',
        { class: 'badges' },
        badge(d.status, d.status === 'active' ? 'ok' : 'bad'),
        d.uses_fleet_key ? badge('fleet key', 'info') : badge('own key', 'ok'),
        d.auto_registered ? badge('auto-registered', 'info') : null,
      ),
    );
    const facts: [string, Child][] = [
      ['Last seen', h('span', { title: dateTime(d.last_seen) }, relative(d.last_seen))],
      ['First seen', dateTime(d.first_seen)],
      ['Firmware generation', d.generation ?? 'not seen yet'],
      ['Last source', d.last_source ?? '–'],
      ['Last authenticated source', d.last_authenticated_source ?? '–'],
      [
        'Unsigned control requests',
        Object.entries(d.counters.unsecured_control ?? {})
          .map(([g, n]) => `${n} (${g})`)
          .join(', ') || '0',
      ],
      ['Last nonce', d.last_nonce ?? '–'],
      ['Replay high', d.replay_high ?? '–'],
      [
        'Policy',
        Object.entries(d.policy)
          .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
          .join(', '),
      ],
      ['Keys', d.keys.length ? d.keys.map((k) => `${k.kid} (${k.status})`).join(', ') : 'fleet key'],
      ['Uploads', d.counters.uploads],
      ['Readings', d.counters.readings],
      ['Quarantined packets', d.counters.quarantined_packets],
      ['Duplicate packets', d.counters.duplicate_packets],
      ['Uploads missed (nonce gaps)', d.counters.nonce_gaps],
      ['Rejected requests', rejects.length ? rejects.map(([k, n]) => `${k}: ${n}`).join(', ') : 'none'],
    ];
    fill(
      info,
      facts.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
    );
  };

  const renderRanges = () => {
    fill(
      rangeButtons,
      RANGES.map((r) =>
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'aria-pressed': String(range === r.key),
            onclick: () => {
              range = r.key;
              from = Date.now() - r.ms;
              to = null;
              renderRanges();
              void loadSeries();
            },
          },
          r.label,
        ),
      ),
    );
  };

  custom.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = Date.parse(fromInput.value);
    const t = toInput.value ? Date.parse(toInput.value) : Date.now();
    if (Number.isNaN(f) || Number.isNaN(t) || f >= t) {
      chartStatus.textContent = 'Choose a start before the end.';
      return;
    }
    range = 'custom';
    from = f;
    to = t;
    renderRanges();
    void loadSeries();
  });

  const rowsFromSeries = (s: Series): ChartRow[][] => {
    const col = new Map(s.registers.map((r, i) => [r.reg_id, i]));
    return GROUPS.map((g) =>
      s.time.map((t, k) => ({
        time: t,
        values: g.regs.map((r) => {
          const c = col.get(r.id);
          return c === undefined ? null : s.values[c][k];
        }),
        flags: g.regs.map((r) => {
          const c = col.get(r.id);
          return c === undefined ? 0 : s.flags[c][k];
        }),
      })),
    );
  };

  const rowsFromReadings = (readings: ReadingView[]): ChartRow[][] => {
    const byTime = new Map<number, Map<number, ReadingView>>();
    for (const r of readings) {
      const t = Date.parse(r.time);
      let m = byTime.get(t);
      if (!m) {
        m = new Map();
        byTime.set(t, m);
      }
      m.set(r.reg_id, r);
    }
    const times = [...byTime.keys()].sort((a, b) => a - b);
    return GROUPS.map((g) =>
      times
        .map((t) => {
          const m = byTime.get(t) as Map<number, ReadingView>;
          return {
            time: t,
            values: g.regs.map((r) => m.get(r.id)?.value ?? null),
            flags: g.regs.map((r) => {
              const qy = m.get(r.id)?.quality;
              return qy === 'ambiguous' ? 2 : qy === 'approximate' ? 1 : 0;
            }),
          };
        })
        .filter((row) => row.values.some((v) => v !== null)),
    );
  };

  let seriesToken = 0;
  const loadSeries = async () => {
    const mine = ++seriesToken;
    const preset = RANGES.find((r) => r.key === range);
    const end = to ?? Date.now();
    const start = preset ? end - preset.ms : from;
    from = start;
    chartStatus.textContent = 'Loading readings…';
    try {
      const s = await api<Series>(
        `/api/devices/${enc(id)}/series${q({
          from: new Date(start).toISOString(),
          to: new Date(end).toISOString(),
          points: preset?.points ?? 1200,
        })}`,
      );
      if (mine !== seriesToken) return;
      const rows = rowsFromSeries(s);
      charts.forEach((c, i) => {
        c.set(rows[i]);
      });
      const secs = Math.round(s.bucket_ms / 1000);
      chartStatus.textContent = `${new Date(start).toLocaleString()} – ${to === null ? 'now (live)' : new Date(end).toLocaleString()}; ${
        secs <= 2 ? 'every sample' : `averaged over ${secs} s`
      }.`;
    } catch (err) {
      if (mine === seriesToken)
        chartStatus.textContent = `Could not load readings: ${(err as Error).message}`;
    }
  };

  let appending = false;
  let appendAgain = false;
  const appendLive = async () => {
    if (to !== null) return; // a fixed custom range does not move
    if (appending) {
      appendAgain = true;
      return;
    }
    appending = true;
    try {
      const since = Math.max(...charts.map((c) => c.lastTime ?? 0), from);
      const page = await api<{ readings: ReadingView[] }>(
        `/api/devices/${enc(id)}/readings${q({ from: String(since + 1), limit: 10000 })}`,
      );
      const rows = rowsFromReadings(page.readings);
      const preset = RANGES.find((r) => r.key === range);
      const keepFrom = preset ? Date.now() - preset.ms : undefined;
      charts.forEach((c, i) => {
        c.append(rows[i], keepFrom);
      });
    } catch {
      // the next upload tries again
    } finally {
      appending = false;
      if (appendAgain) {
        appendAgain = false;
        void appendLive();
      }
    }
  };

  const renderLatest = (values: LatestValue[]) => {
    fill(
      latestBody,
      values.map((v) =>
        h(
          'tr',
          { 'data-register': v.register, 'data-quality': v.quality },
          h('th', { scope: 'row' }, v.register),
          h('td', { class: 'num' }, `${QUALITY_MARK[v.quality] ?? ''}${value(v.value, v.unit)}`),
          h('td', null, qualityBadge(v.quality)),
          h('td', { title: dateTime(v.time) }, relative(v.time)),
        ),
      ),
    );
    if (!values.length)
      fill(latestBody, h('tr', null, h('td', { colspan: '4', class: 'muted' }, 'No readings yet.')));
  };

  const renderUploads = (uploads: UploadSummary[]) => {
    fill(
      uploadsBody,
      uploads.map((u) =>
        h(
          'tr',
          { 'data-upload': u.id, class: u.quarantined.length || u.nonce_gap ? 'attention' : null },
          h('td', { title: dateTime(u.received_at) }, relative(u.received_at)),
          h('td', null, u.id),
          h('td', { class: 'num' }, u.nonce ?? '–'),
          h('td', null, `${u.protocol}${u.encrypted ? ', encrypted' : ''}${u.key ? `, key ${u.key}` : ''}`),
          h(
            'td',
            { class: 'num' },
            `${u.packets} (${u.samples} samples${u.duplicates ? `, ${u.duplicates} dup.` : ''})`,
          ),
          h(
            'td',
            null,
            Object.entries(u.methods)
              .map(([m, n]) => `${m} ×${n}`)
              .join(', '),
          ),
          h(
            'td',
            null,
            u.quarantined.length
              ? h(
                  'ul',
                  { class: 'plain' },
                  u.quarantined.map((p) =>
                    h('li', null, badge(`packet ${p.index}`, 'bad'), ` ${p.reason ?? ''}`),
                  ),
                )
              : 'none',
          ),
          h('td', { class: 'num' }, u.nonce_gap ? badge(`${u.nonce_gap} missed`, 'warn') : '0'),
        ),
      ),
    );
    if (!uploads.length)
      fill(uploadsBody, h('tr', null, h('td', { colspan: '8', class: 'muted' }, 'No uploads yet.')));
  };

  const renderEvents = () => {
    fill(
      eventsBox,
      events.length ? eventsTable(events, false) : h('p', { class: 'muted' }, 'No security events.'),
    );
    const gapEvents = events.filter((e) => e.code === 'nonce_gap');
    fill(
      gaps,
      h(
        'p',
        null,
        `Uploads that never arrived, from nonce gaps: ${device?.counters.nonce_gaps ?? 0}. `,
        gapEvents.length ? '' : 'No large gap was reported.',
      ),
      gapEvents.length
        ? h(
            'ul',
            { class: 'plain' },
            gapEvents.map((e) => h('li', null, `${dateTime(e.time)}: ${e.reason}`)),
          )
        : null,
    );
  };

  const loadDevice = async () => {
    try {
      device = await api<DeviceView>(`/api/devices/${enc(id)}`);
      renderHeader();
      reports.setRegistration(device.registration);
      renderEvents();
    } catch (err) {
      fill(header, h('h1', null, id), h('p', { class: 'error', role: 'alert' }, (err as Error).message));
    }
  };
  const loadLatest = async () => {
    const r = await api<{ readings: LatestValue[] }>(`/api/devices/${enc(id)}/latest`).catch(() => null);
    if (r) renderLatest(r.readings);
  };
  const loadUploads = async () => {
    const r = await api<{ uploads: UploadSummary[] }>(`/api/devices/${enc(id)}/uploads?limit=15`).catch(
      () => null,
    );
    if (r) renderUploads(r.uploads);
  };
  const loadEvents = async () => {
    const r = await api<{ events: SecurityEventView[] }>(
      `/api/security-events${q({ device: id, limit: 50 })}`,
    ).catch(() => null);
    if (r) {
      events = r.events;
      renderEvents();
    }
  };

  const refreshAfterUpload = coalesce(() => {
    void loadUploads();
    void loadDevice();
    void config.refresh();
    reports.refreshSoon();
  });
  const offUpload = live.on('upload', (u: UploadEvent) => {
    if (u.device_id !== id) return;
    if (u.latest.length) void loadLatest();
    void appendLive();
    refreshAfterUpload();
  });
  const offSecurity = live.on('security', (e) => {
    if (e.device_id !== id) return;
    events = [e, ...events].slice(0, 100);
    renderEvents();
  });

  renderRanges();
  fromInput.value = toLocalInput(Date.now() - 3_600_000);
  void loadDevice();
  void loadSeries();
  void loadLatest();
  void loadUploads();
  void loadEvents();
  void config.refresh();
  void commands.refresh();
  void reports.refresh();
  return () => {
    offUpload();
    offSecurity();
    for (const c of charts) c.destroy();
  };
}

export const deviceRoute: Route = {
  pattern: /^\/devices\/([^/]+)$/,
  title: (p) => `Device ${p[0]}`,
  mount: (main, p) => mount(main, p[0]),
};
