// main.js — the dashboard's shell: sign-in gate, sidebar, hash router.
//
// Routes live in the URL fragment (#/webhooks/wh_…/log?status=failure), so
// herald only ever serves "/" and the static files, and a reload or a shared
// link lands on the same page. The API key is never part of a route.

import { allPages, ApiError, onUnauthorized, session, forgetEventTypes } from './api.js';
import { h, icon, mount, timeZone } from './dom.js';
import { errorState, spinner, toast } from './ui.js';
import { hashFor, navigate, parseHash } from './router.js';
import { renderSignIn } from './pages/signin.js';
import { renderOverview } from './pages/overview.js';
import { renderWebhooks } from './pages/webhooks.js';
import { renderWebhookForm } from './pages/form.js';
import { renderWebhook } from './pages/webhook.js';
import { renderLog } from './pages/log.js';
import { renderEvent } from './pages/event.js';

const ROUTES = [
  [/^\/overview$/, renderOverview, 'overview'],
  [/^\/webhooks$/, renderWebhooks, 'webhooks'],
  [/^\/webhooks\/new$/, renderWebhookForm, 'webhooks'],
  [/^\/webhooks\/([A-Za-z0-9_-]+)$/, renderWebhook, 'webhooks'],
  [/^\/webhooks\/([A-Za-z0-9_-]+)\/edit$/, renderWebhookForm, 'webhooks'],
  [/^\/webhooks\/([A-Za-z0-9_-]+)\/log$/, renderLog, 'webhooks'],
  [/^\/events\/([A-Za-z0-9_-]+)$/, renderEvent, 'webhooks'],
];
const DEFAULT_ROUTE = '#/webhooks';

const root = document.getElementById('app');
let shell = null; // {main, nav links, account select}
let accounts = null; // admin keys: the accounts they may switch to
let current = null; // the running page's AbortController
let pendingFocus = false;

// ---- the shell ----

function buildShell() {
  const navLink = (href, label, ic, key) =>
    h('a', { href, class: 'nav-link', dataset: { nav: key } }, icon(ic), h('span', null, label));
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    h(
      'ul',
      null,
      h('li', null, navLink('#/overview', 'Overview', 'chart', 'overview')),
      h('li', null, navLink('#/webhooks', 'Webhooks', 'webhook', 'webhooks')),
    ),
  );
  const accountBox = h('div', { class: 'account-box' });
  const signOut = h(
    'button',
    { type: 'button', class: 'btn btn-ghost btn-block', onclick: doSignOut },
    icon('logout'),
    'Sign out',
  );
  const sidebar = h(
    'aside',
    { class: 'sidebar', id: 'sidebar' },
    h(
      'div',
      { class: 'brand' },
      h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }),
      h('span', null, 'herald'),
    ),
    nav,
    h(
      'div',
      { class: 'sidebar-foot' },
      accountBox,
      signOut,
      h('p', { class: 'tz muted' }, `Times in ${timeZone}`),
    ),
  );
  const menuBtn = h(
    'button',
    {
      type: 'button',
      class: 'btn-icon menu-btn',
      'aria-controls': 'sidebar',
      'aria-expanded': 'false',
      'aria-label': 'Menu',
      onclick: () => setMenu(!document.body.classList.contains('menu-open')),
    },
    icon('menu'),
  );
  const topbar = h(
    'header',
    { class: 'topbar' },
    menuBtn,
    h(
      'div',
      { class: 'brand' },
      h('img', { src: '/favicon.svg', alt: '', width: 24, height: 24 }),
      h('span', null, 'herald'),
    ),
  );
  const main = h('main', { id: 'main', class: 'main', tabindex: -1 });
  // Behind the folded-out menu on narrow screens; a click on it closes the menu.
  const scrim = h('div', { class: 'scrim', 'aria-hidden': 'true', onclick: () => setMenu(false) });
  const skip = h(
    'a',
    {
      class: 'skip',
      href: '#main',
      onclick: (e) => {
        e.preventDefault();
        main.focus();
      },
    },
    'Skip to content',
  );
  mount(root, skip, h('div', { class: 'layout' }, topbar, sidebar, scrim, main));
  shell = { main, nav, accountBox, menuBtn };
  function setMenu(open) {
    const was = document.body.classList.contains('menu-open');
    document.body.classList.toggle('menu-open', open);
    menuBtn.setAttribute('aria-expanded', String(open));
    if (open && !was) {
      const first = nav.querySelector('a');
      if (first) first.focus();
    }
  }
  shell.setMenu = setMenu;
  sidebar.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('menu-open')) {
      setMenu(false);
      menuBtn.focus();
    }
  });
  renderAccountBox();
}

function renderAccountBox() {
  if (!shell) return;
  if (!session.admin || !accounts) {
    mount(shell.accountBox);
    return;
  }
  const sel = h(
    'select',
    { id: 'account-select', onchange: () => switchAccount(sel.value) },
    session.home ? null : h('option', { value: '' }, "This key's account"),
    accounts.map((a) =>
      h(
        'option',
        {
          value: a.id === session.home ? '' : a.id,
          selected: a.id === (session.account || session.home),
        },
        `${a.name || a.id}${a.id === session.home ? ' (this key)' : ''}`,
      ),
    ),
  );
  mount(shell.accountBox, h('label', { for: 'account-select', class: 'account-label' }, 'Account'), sel);
}

function switchAccount(id) {
  session.setAccount(id);
  forgetEventTypes();
  const acct = (accounts || []).find((a) => a.id === (id || session.home));
  toast(`Switched to account ${acct ? acct.name : id || 'of this key'}`);
  // Ids belong to one account: go back to the lists.
  const { path } = parseHash();
  navigate(path.startsWith('/overview') ? '#/overview' : DEFAULT_ROUTE);
}

async function loadAccounts() {
  if (!session.admin) {
    accounts = null;
    return;
  }
  try {
    accounts = await allPages('/v1/accounts');
  } catch (e) {
    accounts = null;
    if (!(e instanceof ApiError) || e.status !== 401)
      toast(`Accounts could not be loaded: ${e.message}`, 'error');
  }
  renderAccountBox();
}

function doSignOut() {
  session.clear();
  forgetEventTypes();
  accounts = null;
  shell = null;
  history.replaceState(null, '', DEFAULT_ROUTE);
  showSignIn('You are signed out.');
}

// ---- sign-in gate ----

let afterSignIn = DEFAULT_ROUTE;

function showSignIn(notice) {
  if (current) current.abort();
  shell = null;
  renderSignIn(root, {
    notice,
    onSignedIn: async () => {
      buildShell();
      await loadAccounts();
      const target = afterSignIn;
      afterSignIn = DEFAULT_ROUTE;
      if (location.hash === target) route();
      else location.hash = target;
    },
  });
}

onUnauthorized(() => {
  afterSignIn = location.hash && location.hash !== '#' ? location.hash : DEFAULT_ROUTE;
  accounts = null;
  showSignIn('Your API key was not accepted (it may have been revoked). Sign in again.');
});

// ---- routing ----

async function route() {
  const { path, query } = parseHash();
  if (!session.key) {
    afterSignIn = path === '/' ? DEFAULT_ROUTE : location.hash;
    showSignIn();
    return;
  }
  if (path === '/') {
    history.replaceState(null, '', DEFAULT_ROUTE);
    return route();
  }
  if (!shell) {
    buildShell();
    loadAccounts();
  }
  shell.setMenu(false);
  if (current) current.abort();
  const ctrl = new AbortController();
  current = ctrl;

  let match = null;
  for (const [re, fn, section] of ROUTES) {
    const m = path.match(re);
    if (m) {
      match = { fn, section, params: m.slice(1) };
      break;
    }
  }
  for (const a of shell.nav.querySelectorAll('a')) {
    if (match && a.dataset.nav === match.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = shell.main;
  if (!match) {
    document.title = 'Not found · herald';
    mount(
      main,
      errorState(new ApiError(404, 'not_found', 'No such page.')),
      h('p', { class: 'center' }, h('a', { href: DEFAULT_ROUTE }, 'Go to webhooks')),
    );
    return;
  }
  mount(main, spinner());
  const ctx = {
    params: match.params,
    query,
    path,
    signal: ctrl.signal,
    alive: () => current === ctrl && !ctrl.signal.aborted,
    navigate,
    // Updates the fragment's query without a new history entry or a re-render
    // (filters that change as the user types keep their focus).
    setQuery: (q) => history.replaceState(null, '', hashFor(path, q)),
  };
  try {
    await match.fn(main, ctx);
  } catch (e) {
    if (e.name === 'AbortError' || !ctx.alive()) return;
    if (e instanceof ApiError && e.status === 401) return; // back at sign-in
    mount(
      main,
      errorState(e, () => route()),
    );
  }
  if (pendingFocus && ctx.alive()) {
    pendingFocus = false;
    const h1 = main.querySelector('h1');
    if (h1 && !main.contains(document.activeElement)) h1.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', () => {
  pendingFocus = true;
  route();
});
route();
