/** Users (admins only): operator accounts with their role, state and last sign-in; add, change role, reset password, disable. */
import { ApiFailure, api, enc, session } from '../api';
import { badge, dataTable, fill, h } from '../dom';
import { dateTime, relative } from '../format';
import type { Route } from '../route';

interface UserView {
  name: string;
  role: string;
  enabled: boolean;
  created_at: string;
  last_sign_in_at: string | null;
  failed_sign_ins: number;
  locked_until: string | null;
}

const ROLE_OPTIONS = ['viewer', 'operator', 'admin'];

function mount(main: HTMLElement): () => void {
  const status = h('p', { class: 'error', role: 'alert' });
  const list = h('div', { 'data-testid': 'users' });
  const name = h('input', {
    id: 'user-name',
    name: 'name',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const role = h(
    'select',
    { id: 'user-role', name: 'role' },
    ROLE_OPTIONS.map((r) => h('option', { value: r }, r)),
  );
  const password = h('input', {
    id: 'user-password',
    name: 'new-password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    minlength: 10,
  });
  const add = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Add an account' },
    h('label', { for: 'user-name' }, 'Name'),
    name,
    h('label', { for: 'user-role' }, 'Role'),
    role,
    h('label', { for: 'user-password' }, 'Password'),
    password,
    h('button', { type: 'submit' }, 'Add account'),
  );

  const run = async (what: () => Promise<unknown>) => {
    try {
      await what();
      status.textContent = '';
    } catch (err) {
      status.textContent = err instanceof ApiFailure ? err.message : (err as Error).message;
    }
    await refresh();
  };

  /** A new password, typed into a hidden field (never shown): the account's sessions end. */
  const passwordForm = (user: string) => {
    const input = h('input', {
      type: 'password',
      autocomplete: 'new-password',
      minlength: 10,
      required: true,
      'aria-label': `New password for ${user}`,
    });
    const f = h(
      'form',
      { class: 'inline' },
      input,
      h(
        'button',
        { type: 'submit', class: 'secondary', 'aria-label': `Set the new password of ${user}` },
        'Set password',
      ),
    );
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const password = input.value;
      input.value = '';
      void run(() => api(`/api/users/${enc(user)}/password`, { method: 'PUT', body: { password } }));
    });
    return f;
  };

  const row = (u: UserView) => {
    const roleSelect = h(
      'select',
      { 'aria-label': `Role of ${u.name}` },
      ROLE_OPTIONS.map((r) => h('option', { value: r, selected: r === u.role }, r)),
    );
    roleSelect.addEventListener(
      'change',
      () =>
        void run(() =>
          api(`/api/users/${enc(u.name)}`, { method: 'PATCH', body: { role: roleSelect.value } }),
        ),
    );
    const self = session.me?.kind === 'user' && session.me.name === u.name;
    return h(
      'tr',
      { 'data-user': u.name, 'data-enabled': String(u.enabled) },
      h('td', null, u.name, self ? ' (you)' : ''),
      h('td', null, roleSelect),
      h(
        'td',
        null,
        u.enabled
          ? u.locked_until
            ? badge(`locked until ${dateTime(u.locked_until)}`, 'warn')
            : badge('enabled', 'ok')
          : badge('disabled', 'bad'),
      ),
      h(
        'td',
        { title: u.last_sign_in_at ? dateTime(u.last_sign_in_at) : '' },
        u.last_sign_in_at ? relative(u.last_sign_in_at) : 'never',
      ),
      h(
        'td',
        null,
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'aria-label': `${u.enabled ? 'Disable' : 'Enable'} ${u.name}`,
            onclick: () =>
              void run(() =>
                api(`/api/users/${enc(u.name)}/${u.enabled ? 'disable' : 'enable'}`, { method: 'POST' }),
              ),
          },
          u.enabled ? 'Disable' : 'Enable',
        ),
        ' ',
        passwordForm(u.name),
      ),
    );
  };

  const refresh = async () => {
    const r = await api<{ users: UserView[] }>('/api/users').catch((err: Error) => {
      fill(list, h('p', { class: 'error' }, `Could not load the accounts: ${err.message}`));
      return null;
    });
    if (!r) return;
    fill(
      list,
      r.users.length
        ? dataTable(['Name', 'Role', 'State', 'Last sign-in', ''], [h('tbody', null, r.users.map(row))])
        : h('p', { class: 'muted' }, 'No accounts yet: add the first one below.'),
    );
  };

  add.addEventListener('submit', (e) => {
    e.preventDefault();
    void run(async () => {
      await api('/api/users', {
        method: 'POST',
        body: { name: name.value.trim(), role: role.value, password: password.value },
      });
      add.reset();
    });
  });

  fill(
    main,
    h('h1', null, 'Users'),
    status,
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'users-title' },
      h('h2', { id: 'users-title' }, 'Accounts'),
      h(
        'p',
        { class: 'help' },
        'Viewers read everything; operators also change configuration, send commands, enable or disable devices and pause or resume rollouts; admins also manage devices, keys, firmware, rollouts, accounts and API keys.',
      ),
      list,
      h('h3', null, 'Add an account'),
      add,
    ),
  );
  void refresh();
  return () => undefined;
}

export const usersRoute: Route = {
  pattern: /^\/users$/,
  nav: { href: '#/users', label: 'Users' },
  role: 'admin',
  title: () => 'Users',
  mount: (main) => mount(main),
};
