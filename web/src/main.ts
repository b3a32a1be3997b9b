/** The dashboard shell: sign-in, who is signed in, navigation by role, hash routes and the live-stream indicator. */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { session } from './api';
import { fill, h } from './dom';
import { live } from './live';
import { accountRoute } from './pages/account';
import { apiKeysRoute } from './pages/api-keys';
import { deviceRoute } from './pages/device';
import { firmwareRoute } from './pages/firmware';
import { fleetRoute } from './pages/fleet';
import { securityRoute } from './pages/security';
import { signInPage } from './pages/signin';
import { usersRoute } from './pages/users';
import { pageTitle, type Route } from './route';

const ROUTES: Route[] = [
  fleetRoute,
  deviceRoute,
  securityRoute,
  firmwareRoute,
  usersRoute,
  apiKeysRoute,
  accountRoute,
];
const allowed = (r: Route) => r.role === undefined || session.can(r.role);

const app = document.getElementById('app') as HTMLElement;
let unmount: (() => void) | null = null;

function match(hash: string): { route: Route; params: string[] } {
  const path = hash.replace(/^#/, '') || '/';
  for (const route of ROUTES.filter(allowed)) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  return { route: fleetRoute, params: [] };
}

function liveIndicator(): HTMLElement {
  const el = h('span', { class: 'live', role: 'status', 'aria-live': 'polite', 'data-testid': 'live-state' });
  live.onState((s) => {
    el.dataset.state = s;
    el.textContent = s === 'live' ? '● Live' : s === 'stopped' ? 'Offline' : '○ Connecting…';
  });
  return el;
}

function shell(): { main: HTMLElement; nav: HTMLElement } {
  const nav = h(
    'nav',
    { 'aria-label': 'Main' },
    h(
      'ul',
      null,
      ROUTES.filter((r) => r.nav && allowed(r)).map((r) =>
        h('li', null, h('a', { href: r.nav?.href ?? '#/' }, r.nav?.label)),
      ),
    ),
  );
  const main = h('main', { id: 'main', tabindex: '-1' });
  fill(
    app,
    h('a', { class: 'skip', href: '#main', onclick: skipToMain }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, 'EcoWatt Cloud'),
      nav,
      h(
        'div',
        { class: 'top-right' },
        liveIndicator(),
        h(
          'span',
          { class: 'who', 'data-testid': 'signed-in-as', title: session.me?.actor ?? '' },
          session.me
            ? `${session.me.kind === 'token' ? 'admin token' : session.me.name} · ${session.me.role}`
            : '',
        ),
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => void session.signOut() },
          'Sign out',
        ),
      ),
    ),
    main,
  );
  return { main, nav };
}

function skipToMain(e: Event): void {
  e.preventDefault();
  document.getElementById('main')?.focus();
}

let frame: { main: HTMLElement; nav: HTMLElement } | null = null;

function render(): void {
  unmount?.();
  unmount = null;
  if (!session.me) {
    frame = null;
    live.stop();
    document.title = 'Sign in · EcoWatt Cloud';
    unmount = signInPage(app, () => {
      render();
    });
    return;
  }
  if (!frame) frame = shell();
  live.start();
  const { route, params } = match(location.hash);
  for (const a of frame.nav.querySelectorAll('a')) {
    const current = route.nav !== undefined && a.getAttribute('href') === route.nav.href;
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  frame.main.replaceChildren();
  document.title = pageTitle(route.title(params));
  unmount = route.mount(frame.main, params);
}

window.addEventListener('hashchange', () => {
  render();
  frame?.main.focus({ preventScroll: true });
});
window.addEventListener('ecowatt:signed-out', () => {
  location.hash = '#/';
  render();
});
// Signed in already? (a session cookie, or a token kept in this tab)
void session.load().then(render);
