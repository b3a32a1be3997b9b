/** Your account: who you are signed in as, and your own password (the server ends your other sessions). */
import { ApiFailure, api, session } from '../api';
import { fill, h } from '../dom';
import type { Route } from '../route';

function passwordInput(id: string, autocomplete: string): HTMLInputElement {
  return h('input', { id, name: id, type: 'password', autocomplete, required: true });
}

function mount(main: HTMLElement): () => void {
  const me = session.me;
  const status = h('p', { role: 'status', 'data-testid': 'account-status' });
  const current = passwordInput('current-password', 'current-password');
  const next = passwordInput('new-password', 'new-password');
  const again = passwordInput('new-password-again', 'new-password');
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Change your password' },
    h('label', { for: 'current-password' }, 'Current password'),
    current,
    h('label', { for: 'new-password' }, 'New password'),
    next,
    h('label', { for: 'new-password-again' }, 'New password again'),
    again,
    h('button', { type: 'submit' }, 'Change password'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (next.value !== again.value) {
      status.textContent = 'The two new passwords differ.';
      return;
    }
    const body = { current_password: current.value, new_password: next.value };
    form.reset();
    void (async () => {
      try {
        await api('/api/session/password', { method: 'PUT', body });
        // The server gave this browser a new session: its CSRF token is new too.
        await session.load();
        status.textContent = 'Password changed. Your other sessions have ended.';
      } catch (err) {
        status.textContent = err instanceof ApiFailure ? err.message : (err as Error).message;
      }
    })();
  });
  fill(
    main,
    h('h1', null, 'Account'),
    h('p', null, `Signed in as ${me?.name ?? '?'} (${me?.role ?? '?'}).`),
    me?.kind === 'user'
      ? h(
          'section',
          { class: 'panel', 'aria-labelledby': 'password-title' },
          h('h2', { id: 'password-title' }, 'Your password'),
          form,
          status,
        )
      : h('p', { class: 'muted' }, 'Signed in with the admin token: it has no password to change.'),
  );
  return () => undefined;
}

export const accountRoute: Route = {
  pattern: /^\/account$/,
  nav: { href: '#/account', label: 'Account' },
  title: () => 'Account',
  mount: (main) => mount(main),
};
