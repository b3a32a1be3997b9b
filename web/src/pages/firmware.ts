/**
 * Firmware: the signed catalogue (one image per version and firmware generation), uploading an
 * image, rollouts with per-device progress.
 */
import { ApiFailure, api, authHeaders, enc, session } from '../api';
import { badge, dataTable, fill, h } from '../dom';
import { dateTime, relative } from '../format';
import type { Route } from '../route';

interface ImageView {
  version: string;
  generation?: string;
  original_size: number;
  encrypted_size: number;
  total_chunks: number;
  sha256: string;
  key_id: string | null;
  servable: boolean;
  notes: string | null;
  created_at: string;
}

interface KeySet {
  configured: boolean;
  key_id: string | null;
}

interface Catalogue {
  keys: KeySet;
  key_sets?: Record<string, KeySet>;
  max_bytes: number;
  firmware: ImageView[];
}

interface RolloutView {
  id: number;
  version: string;
  state: string;
  state_reason: string | null;
  target: { kind: string; group?: string; devices?: string[]; steps?: number[]; step_wait_seconds?: number };
  step: { index: number; percent: number | null; started_at: string | null };
  pinned: boolean;
  generations?: string[];
  counts: {
    sessions: number;
    downloading: number;
    downloaded: number;
    verified: number;
    succeeded: number;
    failed: number;
    cancelled: number;
    in_flight: number;
  };
  failure_rate: number | null;
  unauthenticated?: { failed: number; succeeded: number };
  warning?: string | null;
  created_at: string;
  updated_at: string;
}

interface SessionView {
  id: string | number;
  device_id: string;
  generation?: string;
  outcome_authenticated?: boolean | null;
  state: string;
  from_version: string | null;
  progress_percent: number;
  phase: string | null;
  outcome: string | null;
  updated_at: string | null;
}

const STATE_KIND: Record<string, string> = { active: 'ok', paused: 'warn', halted: 'bad', aborted: 'bad' };

function targetText(t: RolloutView['target']): string {
  switch (t.kind) {
    case 'group':
      return `group ${t.group}`;
    case 'devices':
      return `${t.devices?.length ?? 0} devices: ${(t.devices ?? []).join(', ')}`;
    case 'percentage':
      return `${(t.steps ?? []).join(' → ')} % (every ${t.step_wait_seconds} s)`;
    default:
      return 'all devices';
  }
}

async function uploadImage(
  version: string,
  generation: string,
  notes: string,
  force: boolean,
  file: File,
): Promise<void> {
  const query = new URLSearchParams({
    version,
    generation,
    ...(notes ? { notes } : {}),
    ...(force ? { force: 'true' } : {}),
  });
  const res = await fetch(`/api/firmware?${query}`, {
    method: 'POST',
    headers: { ...authHeaders('POST'), 'content-type': 'application/octet-stream' },
    body: file,
  });
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    if (res.status === 401) session.lost();
    throw new ApiFailure(res.status, err.error ?? 'http_error', err.message ?? res.statusText);
  }
}

function mount(main: HTMLElement): () => void {
  let catalogue: Catalogue | null = null;
  let rollouts: RolloutView[] = [];
  let selected: number | null = null;

  const keysNote = h('p', { class: 'muted', 'data-testid': 'firmware-keys' });
  const imagesBox = h('div', { 'data-testid': 'firmware-images' });
  const rolloutsBox = h('div', { 'data-testid': 'rollouts' });
  const sessionsBox = h('div', { 'data-testid': 'rollout-sessions' });
  const status = h('p', { class: 'error', role: 'alert' });

  // Upload
  const upVersion = h('input', {
    id: 'fw-version',
    name: 'version',
    required: true,
    placeholder: '1.2.0',
    pattern: '\\d+\\.\\d+\\.\\d+',
  });
  const upGeneration = h(
    'select',
    { id: 'fw-generation', name: 'generation', title: 'the firmware generation that will download it' },
    h('option', { value: 'e84f720' }, 'e84f720'),
    h('option', { value: '1.3' }, '1.3'),
  );
  const upNotes = h('input', { id: 'fw-notes', name: 'notes', autocomplete: 'off' });
  const upFile = h('input', { id: 'fw-file', name: 'file', type: 'file', required: true });
  const upForce = h('input', { id: 'fw-force', name: 'force', type: 'checkbox' });
  const upload = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Upload a firmware image' },
    h('label', { for: 'fw-version' }, 'Version'),
    upVersion,
    h('label', { for: 'fw-generation' }, 'Generation'),
    upGeneration,
    h('label', { for: 'fw-notes' }, 'Notes'),
    upNotes,
    h('label', { for: 'fw-file' }, 'Image'),
    upFile,
    h(
      'label',
      { for: 'fw-force', title: 'add an image that fails the ESP32 image checks' },
      upForce,
      ' Force',
    ),
    h('button', { type: 'submit' }, 'Upload'),
  );

  // New rollout
  const roVersion = h('select', { id: 'ro-version', name: 'version' });
  const roKind = h(
    'select',
    { id: 'ro-kind', name: 'kind' },
    h('option', { value: 'all' }, 'All devices'),
    h('option', { value: 'devices' }, 'Listed devices'),
    h('option', { value: 'group' }, 'A group'),
    h('option', { value: 'percentage' }, 'Percentage steps'),
  );
  const roDetail = h('input', { id: 'ro-detail', name: 'detail', autocomplete: 'off' });
  const roDetailLabel = h('label', { for: 'ro-detail' }, 'Devices');
  const roWait = h('input', { id: 'ro-wait', name: 'wait', type: 'number', min: 0, step: 1, value: 3600 });
  const roWaitBox = h(
    'span',
    { class: 'toolbar' },
    h('label', { for: 'ro-wait' }, 'Wait per step (s)'),
    roWait,
  );
  const roPinned = h('input', { id: 'ro-pinned', name: 'pinned', type: 'checkbox' });
  const roReason = h('input', { id: 'ro-reason', name: 'reason', autocomplete: 'off' });
  const create = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Start a rollout' },
    h('label', { for: 'ro-version' }, 'Version'),
    roVersion,
    h('label', { for: 'ro-kind' }, 'Target'),
    roKind,
    roDetailLabel,
    roDetail,
    roWaitBox,
    h('label', { for: 'ro-pinned' }, roPinned, ' Pinned'),
    h('label', { for: 'ro-reason' }, 'Reason'),
    roReason,
    h('button', { type: 'submit' }, 'Start rollout'),
  );
  const retarget = () => {
    const k = roKind.value;
    roDetail.hidden = roDetailLabel.hidden = k === 'all';
    roWaitBox.hidden = k !== 'percentage';
    roDetailLabel.textContent = k === 'group' ? 'Group name' : k === 'percentage' ? 'Steps (%)' : 'Devices';
    roDetail.placeholder = k === 'percentage' ? '10, 50, 100' : k === 'devices' ? 'dev-1, dev-2' : '';
  };
  roKind.addEventListener('change', retarget);
  retarget();

  fill(
    main,
    h('h1', null, 'Firmware'),
    status,
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'cat-title' },
      h('h2', { id: 'cat-title' }, 'Catalogue'),
      keysNote,
      imagesBox,
      // What the role may not do is not shown (the server refuses it anyway).
      session.can('admin') ? [h('h3', null, 'Upload an image'), upload] : null,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'ro-title' },
      h('h2', { id: 'ro-title' }, 'Rollouts'),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', class: 'secondary', onclick: () => void refresh() }, 'Refresh'),
      ),
      rolloutsBox,
      sessionsBox,
      session.can('admin') ? [h('h3', null, 'Start a rollout'), create] : null,
    ),
  );

  const renderImages = () => {
    if (!catalogue) return;
    const sets = catalogue.key_sets ?? { e84f720: catalogue.keys };
    const configured = Object.entries(sets).filter(([, k]) => k.configured);
    keysNote.textContent = configured.length
      ? `Signing keys ${configured.map(([g, k]) => `${g}: ${k.key_id}`).join(', ')}; images up to ${(catalogue.max_bytes / 1048576).toFixed(1)} MiB.`
      : 'No firmware keys on the server: run `ecowatt keys generate [--generation 1.3]` (or `keys import`) and restart it before uploading.';
    fill(
      imagesBox,
      catalogue.firmware.length
        ? dataTable(
            ['Version', 'Generation', 'Size', 'Chunks', 'SHA-256', 'Servable', 'Notes', 'Added'],
            [
              h(
                'tbody',
                null,
                catalogue.firmware.map((i) =>
                  h(
                    'tr',
                    { 'data-version': i.version, 'data-generation': i.generation ?? 'e84f720' },
                    h('th', { scope: 'row' }, i.version),
                    h('td', null, i.generation ?? 'e84f720'),
                    h('td', { class: 'num' }, `${i.original_size} B`),
                    h('td', { class: 'num' }, i.total_chunks),
                    h('td', { title: i.sha256 }, `${i.sha256.slice(0, 12)}…`),
                    h(
                      'td',
                      null,
                      i.servable ? badge('yes', 'ok') : badge('no', 'bad', 'signed with other keys'),
                    ),
                    h('td', null, i.notes ?? ''),
                    h('td', { title: dateTime(i.created_at) }, relative(i.created_at)),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No images yet.'),
    );
    const current = roVersion.value;
    // One rollout of a version offers each device its own generation's image.
    const versions = new Map<string, string[]>();
    for (const i of catalogue.firmware.filter((x) => x.servable)) {
      versions.set(i.version, [...(versions.get(i.version) ?? []), i.generation ?? 'e84f720']);
    }
    fill(
      roVersion,
      [...versions].map(([v, gens]) => h('option', { value: v }, `${v} (${gens.join(', ')})`)),
    );
    if (current) roVersion.value = current;
  };

  const action = async (id: number, what: 'pause' | 'resume' | 'abort') => {
    try {
      await api(`/api/rollouts/${id}/${what}`, {
        method: 'POST',
        body: { reason: `${what} from the dashboard` },
      });
      status.textContent = '';
    } catch (err) {
      status.textContent = (err as Error).message;
    }
    await refresh();
  };

  const renderRollouts = () => {
    fill(
      rolloutsBox,
      rollouts.length
        ? dataTable(
            ['Rollout', 'Version', 'Target', 'State', 'Progress', 'Failure rate', 'Actions'],
            [
              h(
                'tbody',
                null,
                rollouts.map((r) => {
                  const c = r.counts;
                  const done = c.succeeded + c.failed + c.cancelled;
                  const buttons: HTMLElement[] = [];
                  const btn = (label: string, what: 'pause' | 'resume' | 'abort') =>
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'secondary',
                        'aria-label': `${label} rollout ${r.id}`,
                        onclick: () => void action(r.id, what),
                      },
                      label,
                    );
                  if (session.can('operator')) {
                    if (r.state === 'active') buttons.push(btn('Pause', 'pause'));
                    if (r.state === 'paused' || r.state === 'halted') buttons.push(btn('Resume', 'resume'));
                  }
                  if (session.can('admin') && r.state !== 'aborted') buttons.push(btn('Abort', 'abort'));
                  buttons.push(
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'secondary',
                        'aria-expanded': String(selected === r.id),
                        'aria-controls': 'rollout-sessions',
                        onclick: () => {
                          selected = selected === r.id ? null : r.id;
                          renderRollouts();
                          void loadSessions();
                        },
                      },
                      'Devices',
                    ),
                  );
                  return h(
                    'tr',
                    { 'data-rollout': r.id, 'data-state': r.state },
                    h('th', { scope: 'row' }, `#${r.id}`),
                    h(
                      'td',
                      null,
                      r.version,
                      r.pinned ? ' (pinned)' : '',
                      r.generations ? ` · ${r.generations.join(', ')}` : '',
                    ),
                    h(
                      'td',
                      null,
                      targetText(r.target),
                      r.step.percent !== null ? ` · now ${r.step.percent} %` : '',
                    ),
                    h(
                      'td',
                      null,
                      badge(r.state, STATE_KIND[r.state] ?? 'info'),
                      r.state_reason ? ` ${r.state_reason}` : '',
                      r.warning ? h('span', { class: 'muted', title: r.warning }, ' ⚠ held') : '',
                    ),
                    h(
                      'td',
                      null,
                      h('progress', {
                        class: 'progress',
                        max: Math.max(1, c.sessions),
                        value: done,
                        'aria-label': `rollout ${r.id}: ${c.succeeded} of ${c.sessions} devices updated`,
                      }),
                      ` ${c.succeeded} updated, ${c.failed} failed, ${c.in_flight} in progress of ${c.sessions}`,
                      r.unauthenticated && r.unauthenticated.failed + r.unauthenticated.succeeded > 0
                        ? h(
                            'span',
                            {
                              class: 'muted',
                              title: 'reported by unsigned requests: shown, never counted toward a halt',
                            },
                            ` (unauthenticated: ${r.unauthenticated.succeeded} ok, ${r.unauthenticated.failed} failed)`,
                          )
                        : '',
                    ),
                    h(
                      'td',
                      { class: 'num' },
                      r.failure_rate === null ? '–' : `${(r.failure_rate * 100).toFixed(1)} %`,
                    ),
                    h('td', null, h('span', { class: 'badges' }, buttons)),
                  );
                }),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No rollouts yet.'),
    );
  };

  const loadSessions = async () => {
    if (selected === null) {
      fill(sessionsBox);
      return;
    }
    const id = selected;
    const r = await api<{ sessions: SessionView[] }>(`/api/rollouts/${id}`).catch(() => null);
    if (!r || selected !== id) return;
    fill(
      sessionsBox,
      h('h3', { id: 'rollout-sessions' }, `Devices of rollout #${id}`),
      r.sessions.length
        ? dataTable(
            ['Device', 'Generation', 'From', 'State', 'Progress', 'Outcome', 'Updated'],
            [
              h(
                'tbody',
                null,
                r.sessions.map((s) =>
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'row' }, h('a', { href: `#/devices/${enc(s.device_id)}` }, s.device_id)),
                    h('td', null, s.generation ?? '–'),
                    h('td', null, s.from_version ?? '–'),
                    h('td', null, s.state, s.phase ? ` (${s.phase})` : ''),
                    h(
                      'td',
                      null,
                      h('progress', {
                        class: 'progress',
                        max: 100,
                        value: s.progress_percent,
                        'aria-label': `${s.device_id}: ${s.progress_percent} %`,
                      }),
                      ` ${s.progress_percent} %`,
                    ),
                    h(
                      'td',
                      null,
                      s.outcome ?? '–',
                      s.outcome_authenticated === false
                        ? h(
                            'span',
                            { title: 'reported by an unsigned request' },
                            ' ',
                            badge('unauthenticated', 'warn'),
                          )
                        : '',
                    ),
                    h('td', null, relative(s.updated_at)),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No device has started downloading yet.'),
    );
  };

  const refresh = async () => {
    try {
      const [cat, ro] = await Promise.all([
        api<Catalogue>('/api/firmware'),
        api<{ rollouts: RolloutView[] }>('/api/rollouts'),
      ]);
      catalogue = cat;
      rollouts = ro.rollouts;
    } catch (err) {
      status.textContent = `Could not load firmware: ${(err as Error).message}`;
      return;
    }
    renderImages();
    renderRollouts();
    await loadSessions();
  };

  upload.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = upFile.files?.[0];
    if (!file || !upVersion.value.trim()) {
      status.textContent = 'Give a version and choose an image file.';
      return;
    }
    try {
      await uploadImage(
        upVersion.value.trim(),
        upGeneration.value,
        upNotes.value.trim(),
        upForce.checked,
        file,
      );
      status.textContent = '';
      upload.reset();
    } catch (err) {
      status.textContent = (err as Error).message;
    }
    await refresh();
  });

  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const kind = roKind.value;
    const list = roDetail.value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const target =
      kind === 'all'
        ? 'all'
        : kind === 'group'
          ? { kind, group: roDetail.value.trim() }
          : kind === 'devices'
            ? { kind, devices: list }
            : { kind, steps: list.map(Number), step_wait_seconds: Number(roWait.value) };
    if (!roVersion.value) {
      status.textContent = 'Upload an image first: a rollout needs a version from the catalogue.';
      return;
    }
    try {
      await api('/api/rollouts', {
        method: 'POST',
        body: {
          version: roVersion.value,
          target,
          pinned: roPinned.checked,
          ...(roReason.value.trim() ? { reason: roReason.value.trim() } : {}),
        },
      });
      status.textContent = '';
      roReason.value = '';
    } catch (err) {
      status.textContent = (err as Error).message;
    }
    await refresh();
  });

  void refresh();
  return () => undefined;
}

export const firmwareRoute: Route = {
  pattern: /^\/firmware$/,
  nav: { href: '#/firmware', label: 'Firmware' },
  title: () => 'Firmware',
  mount: (main) => mount(main),
};
