/**
 * Sign-in with an account's name and password (the server sets an httpOnly session cookie), or,
 * as a break-glass, with the admin token (kept in this tab's sessionStorage only).
 */
import { ApiFailure, api, session } from '../api';
import { fill, h } from '../dom';

export function signInPage(app: HTMLElement, done: () => void): () => void {
  const name = h('input', {
    id: 'signin-name',
    name: 'username',
    autocomplete: 'username',
    required: true,
    spellcheck: 'false',
  });
  const password = h('input', {
    id: 'signin-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const tokenButton = h('button', { type: 'button', class: 'secondary' }, 'Sign in with the token');
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'EcoWatt Cloud'),
    h('label', { for: 'signin-name' }, 'Name'),
    name,
    h('label', { for: 'signin-password' }, 'Password'),
    password,
    error,
    button,
    h(
      'details',
      { class: 'break-glass' },
      h('summary', null, 'Use the admin token instead'),
      h('label', { for: 'token' }, 'Admin token'),
      token,
      h(
        'p',
        { id: 'token-help', class: 'help' },
        'The break-glass credential the server prints at start-up (data/admin-token). It stays in this tab only.',
      ),
      tokenButton,
    ),
  );
  const failed = (err: unknown, what: string, focus: HTMLInputElement) => {
    if (err instanceof ApiFailure && err.status === 401) error.textContent = `That ${what} was not accepted.`;
    else if (err instanceof ApiFailure && err.code === 'sign_in_locked') error.textContent = err.message;
    else if (err instanceof ApiFailure) error.textContent = err.message;
    else error.textContent = `Cannot reach the server: ${(err as Error).message}`;
    button.disabled = tokenButton.disabled = false;
    focus.focus();
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!name.value.trim() || !password.value) return;
    button.disabled = true;
    error.textContent = '';
    try {
      await api('/api/session', {
        method: 'POST',
        body: { name: name.value.trim(), password: password.value },
        quiet: true,
      });
      password.value = '';
      if (!(await session.load())) throw new Error('the session was not kept (are cookies allowed?)');
      done();
    } catch (err) {
      failed(err, 'name and password', password);
    }
  });
  tokenButton.addEventListener('click', async () => {
    const t = token.value.trim();
    if (!t) return;
    tokenButton.disabled = true;
    error.textContent = '';
    try {
      await api('/api/session', { token: t });
      session.signInWithToken(t);
      await session.load();
      done();
    } catch (err) {
      failed(err, 'token', token);
    }
  });
  fill(app, h('main', { class: 'signin-page' }, form));
  name.focus();
  return () => undefined;
}
