/** Sign-in with the admin token (checked against the API, then kept in sessionStorage). */
import { ApiFailure, api, session } from '../api';
import { fill, h } from '../dom';

export function signInPage(app: HTMLElement, done: () => void): () => void {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'EcoWatt Cloud'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'The server prints it at start-up and keeps it in data/admin-token. It stays in this tab only.',
    ),
    error,
    button,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    error.textContent = '';
    try {
      await api('/api/devices', { token });
      session.signIn(token);
      done();
    } catch (err) {
      error.textContent =
        err instanceof ApiFailure && err.status === 401
          ? 'That token was not accepted.'
          : `Cannot reach the server: ${(err as Error).message}`;
      button.disabled = false;
      input.focus();
    }
  });
  fill(app, h('main', { class: 'signin-page' }, form));
  input.focus();
  return () => undefined;
}
