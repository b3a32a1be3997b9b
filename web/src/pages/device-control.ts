/**
 * A device's remote configuration (editor with validation, per-key pending/delivered/applied
 * state, history) and its control commands (send, cancel, history). Validation runs the
 * server's own rules first, so most mistakes are caught before anything is sent; the server's
 * answer is shown field by field when it still refuses.
 */
import { parseCommand } from '../../../src/commands/command-schema';
import {
  applyPatch,
  checkConfig,
  FIRMWARE_DEFAULTS,
  INTERVAL_RANGES,
  mergeConfig,
  parseConfigPatch,
} from '../../../src/config/config-schema';
import { COMMAND_TYPES, type CommandType } from '../../../src/model/command';
import {
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigPatch,
  type DeviceConfig,
  INTERVAL_KEYS,
  type IntervalKey,
} from '../../../src/model/config';
import { ApiFailure, api, enc, session } from '../api';
import { badge, dataTable, fill, h } from '../dom';
import { dateTime, relative } from '../format';

type ConfigValue = number | boolean | string[];

interface KeyView {
  desired: ConfigValue;
  source: 'fleet' | 'device';
  version: number;
  state: string;
  running: ConfigValue | null;
  delivered_at: string | null;
  last_offered_at: string | null;
  offers: number;
  offered_next: boolean;
  note?: string;
}

export interface DeviceConfigView {
  device_id: string;
  firmware: string;
  version: number;
  state: string;
  desired: DeviceConfig;
  fleet: DeviceConfig;
  overrides: DeviceConfig;
  running: Record<string, { value: ConfigValue; basis: string } | null>;
  keys: Record<string, KeyView>;
}

interface VersionView {
  version: number;
  scope: 'fleet' | 'device';
  changes: Record<string, ConfigValue | null>;
  actor: string;
  reason: string | null;
  source: string;
  time: string;
}

interface CommandView {
  id: string;
  type: string;
  params: Record<string, number>;
  export_limit_percent: number;
  status: string;
  attempts: number;
  max_attempts: number;
  created_at: string;
  created_by: string;
  reason: string | null;
  delivered_at: string | null;
  completed_at: string | null;
  detail: string | null;
}

const LABELS: Record<ConfigKey, string> = {
  sampling_interval: 'Sampling interval (s)',
  upload_interval: 'Upload interval (s)',
  registers: 'Registers',
  firmware_check_interval: 'Firmware check interval (s)',
  command_poll_interval: 'Command poll interval (s)',
  config_poll_interval: 'Configuration poll interval (s)',
  energy_poll_interval: 'Energy poll interval (s)',
  power_management: 'Power management',
};

const STATE_KIND: Record<string, string> = {
  applied: 'ok',
  delivered: 'info',
  pending: 'warn',
  failed: 'bad',
  unsupported: 'info',
};

const show = (v: ConfigValue | null | undefined): string =>
  v === null || v === undefined ? '–' : Array.isArray(v) ? v.join(', ') : String(v);

const isInterval = (k: ConfigKey): k is IntervalKey => (INTERVAL_KEYS as readonly string[]).includes(k);

/** Field-by-field messages next to their inputs (and an overall alert). */
function errorSlots(form: HTMLFormElement, summary: HTMLElement) {
  return (errors: Record<string, string>, overall = '') => {
    for (const el of form.querySelectorAll<HTMLElement>('[data-error-for]')) {
      const key = el.dataset.errorFor ?? '';
      el.textContent = errors[key] ?? '';
      const input = form.querySelector<HTMLElement>(`[name="${key}"]`);
      if (errors[key]) input?.setAttribute('aria-invalid', 'true');
      else input?.removeAttribute('aria-invalid');
    }
    const unplaced = Object.entries(errors).filter(([k]) => !form.querySelector(`[data-error-for="${k}"]`));
    summary.textContent = overall || unplaced.map(([k, m]) => `${k}: ${m}`).join('; ');
  };
}

export function configPanel(id: string): { el: HTMLElement; refresh: () => Promise<void> } {
  let status: DeviceConfigView | null = null;
  const stateBox = h('div', { 'data-testid': 'config-state' });
  const historyBox = h('div', { 'data-testid': 'config-history' });
  const summary = h('p', { class: 'error', role: 'alert' });
  const saved = h('p', { class: 'muted', role: 'status' });
  const inputs = new Map<ConfigKey, HTMLInputElement | HTMLSelectElement>();
  const reason = h('input', { id: 'cfg-reason', name: 'reason', type: 'text', autocomplete: 'off' });

  const field = (key: ConfigKey) => {
    const idAttr = `cfg-${key}`;
    let input: HTMLInputElement | HTMLSelectElement;
    if (isInterval(key)) {
      const r = INTERVAL_RANGES[key];
      input = h('input', {
        id: idAttr,
        name: key,
        type: 'number',
        inputmode: 'numeric',
        min: r.min,
        max: r.max,
        step: 1,
        'aria-describedby': `${idAttr}-err`,
      });
    } else if (key === 'registers') {
      input = h('input', {
        id: idAttr,
        name: key,
        type: 'text',
        autocomplete: 'off',
        'aria-describedby': `${idAttr}-help ${idAttr}-err`,
      });
    } else {
      input = h(
        'select',
        { id: idAttr, name: key, 'aria-describedby': `${idAttr}-err` },
        h('option', { value: '' }, 'fleet default'),
        h('option', { value: 'true' }, 'on'),
        h('option', { value: 'false' }, 'off'),
      );
    }
    inputs.set(key, input);
    return h(
      'div',
      { class: 'field' },
      h('label', { for: idAttr }, LABELS[key]),
      input,
      key === 'registers'
        ? h(
            'span',
            { id: `${idAttr}-help`, class: 'help' },
            'Names separated by commas, e.g. Vac1, Pac, Temp',
          )
        : null,
      h('span', { id: `${idAttr}-err`, class: 'error field-error', 'data-error-for': key }),
    );
  };

  const form = h(
    'form',
    { class: 'config-form', 'aria-label': `Configuration of ${id}`, novalidate: true },
    h('div', { class: 'fields' }, CONFIG_KEYS.map(field)),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'cfg-reason' }, 'Reason (audit log)'),
      reason,
      h('span', { class: 'error field-error', 'data-error-for': 'reason' }),
    ),
    summary,
    h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'submit' }, 'Save configuration'),
      h(
        'button',
        { type: 'button', class: 'secondary', onclick: () => void withdraw() },
        'Withdraw device overrides',
      ),
    ),
    saved,
  );
  // A viewer sees the configuration, not the editor.
  form.hidden = !session.can('operator');
  const showErrors = errorSlots(form, summary);

  /** Fleet default (or what the firmware runs) shown where the device has no value of its own. */
  const placeholderOf = (key: ConfigKey): string => {
    const fleet = status?.fleet[key];
    if (fleet !== undefined) return `fleet: ${show(fleet)}`;
    // FIRMWARE_DEFAULTS are e84f720's; a 1.3 device reports what it runs instead (`running`).
    const running = status?.firmware === '1.3' ? status.running[key]?.value : undefined;
    if (running !== undefined) return `running: ${show(running)}`;
    const defaults: Partial<Record<ConfigKey, number | readonly string[]>> =
      status?.firmware === '1.3' ? {} : FIRMWARE_DEFAULTS;
    const fw = defaults[key];
    return fw !== undefined ? `firmware: ${show(typeof fw === 'number' ? fw : [...fw])}` : 'not set';
  };

  const fillForm = () => {
    for (const [key, input] of inputs) {
      const own = status?.overrides[key];
      if (input instanceof HTMLSelectElement) input.value = own === undefined ? '' : String(own);
      else {
        input.value = own === undefined ? '' : show(own);
        input.placeholder = placeholderOf(key);
      }
    }
  };

  /** The form as a patch of the device's own values: cleared fields remove an override. */
  const readPatch = (): Record<string, unknown> => {
    const body: Record<string, unknown> = {};
    for (const [key, input] of inputs) {
      const own = status?.overrides[key];
      const raw = input.value.trim();
      let next: unknown;
      if (raw === '') next = null;
      else if (isInterval(key)) next = Number(raw);
      else if (key === 'registers')
        next = raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      else next = raw === 'true';
      const same = next === null ? own === undefined : show(next as ConfigValue) === show(own);
      if (!same) body[key] = next;
    }
    return body;
  };

  const renderState = () => {
    if (!status) return;
    const s = status;
    const keys = Object.entries(s.keys);
    fill(
      stateBox,
      h(
        'p',
        null,
        'Overall: ',
        badge(s.state, STATE_KIND[s.state] ?? 'info'),
        ` version ${s.version}, firmware ${s.firmware}`,
      ),
      keys.length
        ? dataTable(
            ['Key', 'Desired', 'From', 'Running', 'State', 'Delivered', 'Note'],
            [
              h(
                'tbody',
                null,
                keys.map(([key, k]) =>
                  h(
                    'tr',
                    { 'data-key': key, 'data-state': k.state },
                    h('th', { scope: 'row' }, key),
                    h('td', null, show(k.desired)),
                    h('td', null, k.source),
                    h('td', null, show(k.running)),
                    h('td', null, badge(k.state, STATE_KIND[k.state] ?? 'info')),
                    h(
                      'td',
                      null,
                      k.delivered_at ? relative(k.delivered_at) : k.offered_next ? 'next poll' : '–',
                    ),
                    h('td', null, k.note ?? ''),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'Nothing configured: the device runs its firmware defaults.'),
      h(
        'p',
        { class: 'muted' },
        'Running now: ',
        Object.entries(s.running)
          .filter(([, r]) => r)
          .map(([k, r]) => `${k} ${show(r?.value)} (${r?.basis})`)
          .join('; ') || 'not observed yet',
      ),
    );
  };

  const loadHistory = async () => {
    const r = await api<{ versions: VersionView[] }>(`/api/devices/${enc(id)}/config/history?limit=20`).catch(
      () => null,
    );
    if (!r) return;
    fill(
      historyBox,
      r.versions.length
        ? h(
            'ul',
            { class: 'plain history' },
            r.versions.map((v) =>
              h(
                'li',
                null,
                h('strong', null, `v${v.version}`),
                ` ${dateTime(v.time)} · ${v.scope} · `,
                Object.entries(v.changes)
                  .map(([k, val]) => `${k} → ${val === null ? 'removed' : show(val)}`)
                  .join(', '),
                ` · ${v.actor}${v.reason ? ` (“${v.reason}”)` : ''}`,
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No changes yet.'),
    );
  };

  const refresh = async () => {
    try {
      status = await api<DeviceConfigView>(`/api/devices/${enc(id)}/config`);
    } catch (err) {
      fill(
        stateBox,
        h('p', { class: 'error' }, `Could not load the configuration: ${(err as Error).message}`),
      );
      return;
    }
    renderState();
    if (!form.contains(document.activeElement)) fillForm();
    await loadHistory();
  };

  const submitted = async (body: Record<string, unknown>, path: string, method: string) => {
    try {
      await api(path, { method, body });
      showErrors({});
      saved.textContent = `Saved ${new Date().toLocaleTimeString()}.`;
      reason.value = '';
      status = null;
      await refresh();
      fillForm();
    } catch (err) {
      saved.textContent = '';
      if (err instanceof ApiFailure) {
        const fields = err.details.fields;
        showErrors(fields ?? {}, fields ? '' : err.message);
      } else showErrors({}, (err as Error).message);
    }
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = readPatch();
    if (Object.keys(body).length === 0) {
      showErrors({}, 'Nothing changed.');
      return;
    }
    const { patch, errors } = parseConfigPatch(body);
    if (Object.keys(errors).length === 0 && status) {
      const merged = mergeConfig(status.fleet, applyPatch(status.overrides, patch as ConfigPatch));
      Object.assign(errors, checkConfig(merged, Object.keys(body)));
    }
    if (Object.keys(errors).length > 0) {
      showErrors(errors);
      return;
    }
    const r = reason.value.trim();
    void submitted({ ...body, ...(r ? { reason: r } : {}) }, `/api/devices/${enc(id)}/config`, 'PUT');
  });

  const withdraw = async () => {
    const r = reason.value.trim();
    await submitted(r ? { reason: r } : {}, `/api/devices/${enc(id)}/config/withdraw`, 'POST');
  };

  const el = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'config-title' },
    h('h2', { id: 'config-title' }, 'Configuration'),
    stateBox,
    h('h3', null, 'Change'),
    h(
      'p',
      { class: 'help' },
      'Leave a field empty to follow the fleet default. The device picks a change up at its next configuration poll and applies it after its next upload.',
    ),
    form,
    h('h3', null, 'History'),
    historyBox,
  );
  return { el, refresh };
}

const COMMAND_LABELS: Record<CommandType, string> = {
  set_power_percentage: 'Export limit in percent',
  set_power: 'Export limit in watts',
  write_register: 'Write the export limit register',
};

const COMMAND_KIND: Record<string, string> = {
  pending: 'warn',
  in_flight: 'info',
  succeeded: 'ok',
  failed: 'bad',
  cancelled: 'info',
  expired: 'bad',
};

export function commandsPanel(id: string): { el: HTMLElement; refresh: () => Promise<void> } {
  const type = h(
    'select',
    { id: 'cmd-type', name: 'type' },
    COMMAND_TYPES.map((t) => h('option', { value: t }, COMMAND_LABELS[t])),
  );
  const amount = h('input', {
    id: 'cmd-amount',
    name: 'amount',
    type: 'number',
    inputmode: 'numeric',
    step: 1,
    min: 0,
  });
  const amountLabel = h('label', { for: 'cmd-amount' }, 'Percent');
  const reason = h('input', { id: 'cmd-reason', name: 'reason', type: 'text', autocomplete: 'off' });
  const summary = h('p', { class: 'error', role: 'alert' });
  const list = h('div', { 'data-testid': 'commands' });
  const form = h(
    'form',
    { class: 'toolbar command-form', 'aria-label': `Send a command to ${id}`, novalidate: true },
    h('label', { for: 'cmd-type' }, 'Command'),
    type,
    amountLabel,
    amount,
    h('label', { for: 'cmd-reason' }, 'Reason'),
    reason,
    h('button', { type: 'submit' }, 'Send'),
  );
  form.hidden = !session.can('operator');
  const relabel = () => {
    amountLabel.textContent = type.value === 'set_power' ? 'Watts' : 'Percent';
    amount.step = type.value === 'set_power' ? '100' : '1';
  };
  type.addEventListener('change', relabel);
  relabel();

  const body = (): Record<string, unknown> => {
    const n = amount.value.trim() === '' ? Number.NaN : Number(amount.value);
    const t = type.value as CommandType;
    const r = reason.value.trim();
    const base: Record<string, unknown> = { type: t, ...(r ? { reason: r } : {}) };
    if (t === 'set_power') return { ...base, power_value: n };
    if (t === 'set_power_percentage') return { ...base, percentage: n };
    return { ...base, register: 'Pow', value: n };
  };

  const refresh = async () => {
    const r = await api<{ commands: CommandView[] }>(`/api/devices/${enc(id)}/commands?limit=20`).catch(
      (err: Error) => {
        fill(list, h('p', { class: 'error' }, `Could not load commands: ${err.message}`));
        return null;
      },
    );
    if (!r) return;
    fill(
      list,
      r.commands.length
        ? dataTable(
            ['Sent', 'Command', 'Limit', 'Status', 'Attempts', 'Outcome', ''],
            [
              h(
                'tbody',
                null,
                r.commands.map((c) =>
                  h(
                    'tr',
                    { 'data-command': c.id, 'data-status': c.status },
                    h('td', { title: dateTime(c.created_at) }, relative(c.created_at)),
                    h(
                      'td',
                      null,
                      `${c.type} ${Object.entries(c.params)
                        .map(([k, v]) => `${k}=${v}`)
                        .join(' ')}`,
                    ),
                    h('td', { class: 'num' }, `${c.export_limit_percent} %`),
                    h('td', null, badge(c.status, COMMAND_KIND[c.status] ?? 'info')),
                    h('td', { class: 'num' }, `${c.attempts}/${c.max_attempts}`),
                    h('td', null, c.detail ?? (c.completed_at ? dateTime(c.completed_at) : '–')),
                    h(
                      'td',
                      null,
                      session.can('operator') && (c.status === 'pending' || c.status === 'in_flight')
                        ? h(
                            'button',
                            {
                              type: 'button',
                              class: 'secondary',
                              'aria-label': `Cancel command ${c.id}`,
                              onclick: () => void cancel(c.id),
                            },
                            'Cancel',
                          )
                        : null,
                    ),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No commands sent yet.'),
    );
  };

  const cancel = async (cid: string) => {
    try {
      await api(`/api/devices/${enc(id)}/commands/${enc(cid)}`, {
        method: 'DELETE',
        body: { reason: 'cancelled from the dashboard' },
      });
      summary.textContent = '';
    } catch (err) {
      summary.textContent = (err as Error).message;
    }
    await refresh();
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const b = body();
    const parsed = parseCommand(b);
    if ('errors' in parsed) {
      summary.textContent = Object.entries(parsed.errors)
        .map(
          ([k, m]) =>
            `${k === 'power_value' || k === 'percentage' || k === 'value' ? amountLabel.textContent : k}: ${m}`,
        )
        .join('; ');
      amount.setAttribute('aria-invalid', 'true');
      return;
    }
    amount.removeAttribute('aria-invalid');
    try {
      await api(`/api/devices/${enc(id)}/commands`, { method: 'POST', body: b });
      summary.textContent = '';
      reason.value = '';
    } catch (err) {
      summary.textContent = (err as Error).message;
    }
    await refresh();
  });

  const el = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'commands-title' },
    h('h2', { id: 'commands-title' }, 'Commands'),
    h(
      'p',
      { class: 'help' },
      'The inverter has one writable setting, the export power limit (register Pow). The device fetches a command when it polls for commands.',
    ),
    form,
    summary,
    list,
  );
  return { el, refresh };
}
