/** API keys (admins only): named, role-scoped keys for scripts; the secret is shown once at creation. */
import { ApiFailure, api, enc } from '../api';
import { badge, dataTable, fill, h } from '../dom';
import { dateTime, relative } from '../format';
import type { Route } from '../route';

interface KeyView {
  name: string;
  role: string;
  prefix: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  state: 'active' | 'expired' | 'revoked';
}

const STATE_KIND: Record<string, string> = { active: 'ok', expired: 'warn', revoked: 'bad' };

function mount(main: HTMLElement): () => void {
  const status = h('p', { class: 'error', role: 'alert' });
  const created = h('div', { 'data-testid': 'new-key', 'aria-live': 'polite' });
  const list = h('div', { 'data-testid': 'api-keys' });
  const name = h('input', {
    id: 'key-name',
    name: 'name',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const role = h(
    'select',
    { id: 'key-role', name: 'role' },
    ['viewer', 'operator', 'admin'].map((r) => h('option', { value: r }, r)),
  );
  const days = h('input', { id: 'key-days', name: 'expires', type: 'number', min: 1, max: 3650, step: 1 });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Create an API key' },
    h('label', { for: 'key-name' }, 'Name'),
    name,
    h('label', { for: 'key-role' }, 'Role'),
    role,
    h('label', { for: 'key-days' }, 'Expires after (days, optional)'),
    days,
    h('button', { type: 'submit' }, 'Create key'),
  );

  const refresh = async () => {
    const r = await api<{ api_keys: KeyView[] }>('/api/api-keys').catch((err: Error) => {
      fill(list, h('p', { class: 'error' }, `Could not load the API keys: ${err.message}`));
      return null;
    });
    if (!r) return;
    fill(
      list,
      r.api_keys.length
        ? dataTable(
            ['Name', 'Role', 'Key starts', 'State', 'Expires', 'Last used', 'Created by', ''],
            [
              h(
                'tbody',
                null,
                r.api_keys.map((k) =>
                  h(
                    'tr',
                    { 'data-key': k.name, 'data-state': k.state },
                    h('td', null, k.name),
                    h('td', null, k.role),
                    h('td', null, h('code', null, `${k.prefix}…`)),
                    h('td', null, badge(k.state, STATE_KIND[k.state] ?? 'info')),
                    h('td', null, k.expires_at ? dateTime(k.expires_at) : 'never'),
                    h('td', null, k.last_used_at ? relative(k.last_used_at) : 'never'),
                    h('td', null, k.created_by),
                    h(
                      'td',
                      null,
                      k.state === 'active'
                        ? h(
                            'button',
                            {
                              type: 'button',
                              class: 'secondary',
                              'aria-label': `Revoke ${k.name}`,
                              onclick: () => void revoke(k.name),
                            },
                            'Revoke',
                          )
                        : null,
                    ),
                  ),
                ),
              ),
            ],
          )
        : h('p', { class: 'muted' }, 'No API keys yet.'),
    );
  };

  const revoke = async (keyName: string) => {
    try {
      await api(`/api/api-keys/${enc(keyName)}`, { method: 'DELETE' });
      status.textContent = '';
    } catch (err) {
      status.textContent = (err as Error).message;
    }
    await refresh();
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const d = days.value.trim();
      const r = await api<{ name: string; key: string }>('/api/api-keys', {
        method: 'POST',
        body: { name: name.value.trim(), role: role.value, ...(d ? { expires_days: Number(d) } : {}) },
      });
      status.textContent = '';
      fill(
        created,
        h(
          'p',
          { class: 'notice' },
          `The key "${r.name}" (shown only now: copy it): `,
          h('code', { 'data-testid': 'new-key-secret' }, r.key),
        ),
      );
      form.reset();
    } catch (err) {
      status.textContent = err instanceof ApiFailure ? err.message : (err as Error).message;
    }
    await refresh();
  });

  fill(
    main,
    h('h1', null, 'API keys'),
    status,
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'keys-title' },
      h('h2', { id: 'keys-title' }, 'Keys'),
      h(
        'p',
        { class: 'help' },
        'Scripts send a key as Authorization: Bearer <key>. Keys are stored only as a hash.',
      ),
      created,
      list,
      h('h3', null, 'Create a key'),
      form,
    ),
  );
  void refresh();
  return () => undefined;
}

export const apiKeysRoute: Route = {
  pattern: /^\/api-keys$/,
  nav: { href: '#/api-keys', label: 'API keys' },
  role: 'admin',
  title: () => 'API keys',
  mount: (main) => mount(main),
};
