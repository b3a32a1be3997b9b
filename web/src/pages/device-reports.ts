/**
 * What a generation 1.3 device reports besides its readings: its registration at boot (name,
 * firmware, location), its latest energy report (energy saved, time in each power mode) and its
 * recent fault-recovery reports.
 */
import { api, enc } from '../api';
import { badge, type Child, dataTable, fill, h } from '../dom';
import { dateTime, relative } from '../format';
import type { EnergyReportView, FaultReportView, PowerMode, RegistrationView } from '../types';

const MODES: { key: PowerMode; label: string }[] = [
  { key: 'high_perf', label: 'High performance' },
  { key: 'normal', label: 'Normal' },
  { key: 'low_power', label: 'Low power' },
  { key: 'sleep', label: 'Sleep' },
];

/** Reports come every few minutes: a refresh asked for sooner than this is skipped. */
const MIN_REFRESH_MS = 30_000;

function duration(ms: number | null): string {
  if (ms === null) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${m % 60} min`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

const mah = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)} mAh`);
const ma = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)} mA`);

function card(label: string, value: string, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'card', 'data-testid': testid },
    h('span', { class: 'card-label' }, label),
    h('strong', null, value),
  );
}

export function reportsPanel(id: string): {
  el: HTMLElement;
  refresh: () => Promise<void>;
  refreshSoon: () => void;
  setRegistration: (r: RegistrationView | null | undefined) => void;
} {
  const registrationBox = h('div', { 'data-testid': 'registration' });
  const energyBox = h('div', { 'data-testid': 'energy' });
  const faultsBox = h('div', { 'data-testid': 'faults' });
  const el = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'reports-title', 'data-testid': 'device-reports' },
    h('h2', { id: 'reports-title' }, 'Energy and faults'),
    h('h3', null, 'Registration'),
    registrationBox,
    h('h3', null, 'Energy'),
    energyBox,
    h('h3', null, 'Recent faults'),
    faultsBox,
  );
  let last = 0;

  const setRegistration = (r: RegistrationView | null | undefined) => {
    if (!r) {
      fill(registrationBox, h('p', { class: 'muted' }, 'The device has not registered (POST /devices).'));
      return;
    }
    const facts: [string, Child][] = [
      ['Name', r.device_name ?? '–'],
      ['Firmware', r.firmware_version ?? '–'],
      ['Location', r.location ?? '–'],
      ['Description', r.description ?? '–'],
      [
        'Reported',
        h(
          'span',
          null,
          h('span', { title: dateTime(r.received_at) }, relative(r.received_at)),
          ` from ${r.source} `,
          r.verified
            ? badge('verified', 'ok', 'accepted like its other control requests')
            : badge(
                'unverified',
                'warn',
                'sent before the device existed: nothing proves the device sent it',
              ),
          r.from_upload_address === false ? badge('other address than its uploads', 'warn') : null,
        ),
      ],
    ];
    fill(
      registrationBox,
      h(
        'dl',
        { class: 'facts' },
        facts.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
      ),
    );
  };

  const renderEnergy = (e: EnergyReportView | null) => {
    if (!e) {
      fill(energyBox, h('p', { class: 'muted' }, 'No energy report yet.'));
      return;
    }
    fill(
      energyBox,
      h(
        'p',
        { class: 'muted' },
        'Latest report ',
        h('span', { title: dateTime(e.received_at) }, relative(e.received_at)),
        `: power management ${e.enabled ? 'on' : 'off'}`,
        e.technique_names.length ? ` (${e.technique_names.join(', ').replace(/_/g, ' ')})` : '',
        e.techniques ? `, techniques ${e.techniques}.` : '.',
      ),
      h(
        'div',
        { class: 'totals' },
        card('Energy saved', mah(e.energy_saved_mah), 'energy-saved'),
        card('Peripheral savings', mah(e.peripheral_savings_mah), 'peripheral-savings'),
        card('Average current', ma(e.avg_current_ma), 'avg-current'),
        card('Uptime', duration(e.uptime_ms), 'uptime'),
      ),
      dataTable(
        ['Power mode', 'Time', 'Share'],
        [
          h(
            'tbody',
            { 'data-testid': 'power-modes' },
            MODES.map((m) =>
              h(
                'tr',
                { 'data-mode': m.key },
                h('th', { scope: 'row' }, m.label),
                h('td', { class: 'num' }, duration(e.modes_ms[m.key])),
                h(
                  'td',
                  null,
                  h('progress', {
                    class: 'progress',
                    max: 100,
                    value: e.modes_percent[m.key],
                    'aria-label': `${m.label}: ${e.modes_percent[m.key]} %`,
                  }),
                  ` ${e.modes_percent[m.key]} %`,
                ),
              ),
            ),
          ),
        ],
      ),
    );
  };

  const renderFaults = (faults: FaultReportView[]) => {
    if (!faults.length) {
      fill(faultsBox, h('p', { class: 'muted' }, 'No fault reports.'));
      return;
    }
    fill(
      faultsBox,
      dataTable(
        ['Received', 'Fault', 'Recovery', 'Outcome', 'Retries', 'Details'],
        [
          h(
            'tbody',
            { 'data-testid': 'fault-rows' },
            faults.map((f) =>
              h(
                'tr',
                { 'data-fault': f.id, class: f.success ? null : 'attention' },
                h('td', { title: dateTime(f.received_at) }, relative(f.received_at)),
                h('td', null, (f.fault_type ?? '–').replace(/_/g, ' ')),
                h('td', null, (f.recovery_action ?? '–').replace(/_/g, ' ')),
                h('td', null, f.success ? badge('recovered', 'ok') : badge('failed', 'bad')),
                h('td', { class: 'num' }, f.retry_count ?? '–'),
                h('td', { class: 'reason' }, f.details ?? ''),
              ),
            ),
          ),
        ],
      ),
    );
  };

  const refresh = async () => {
    last = Date.now();
    const [energy, faults] = await Promise.all([
      api<{ latest: EnergyReportView | null }>(`/api/devices/${enc(id)}/energy?limit=1`).catch(() => null),
      api<{ faults: FaultReportView[] }>(`/api/devices/${enc(id)}/faults?limit=10`).catch(() => null),
    ]);
    if (energy) renderEnergy(energy.latest);
    if (faults) renderFaults(faults.faults);
  };

  const refreshSoon = () => {
    if (Date.now() - last >= MIN_REFRESH_MS) void refresh();
  };

  return { el, refresh, refreshSoon, setRegistration };
}
