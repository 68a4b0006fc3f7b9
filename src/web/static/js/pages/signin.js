// signin.js — the sign-in screen: an API key, checked against the API
// before it is kept (in this tab's sessionStorage only).

import { api, ApiError, session } from '../api.js';
import { h, mount } from '../dom.js';
import { field } from '../ui.js';

export function renderSignIn(root, { notice, onSignedIn }) {
  document.title = 'Sign in · herald';
  const input = h('input', {
    type: 'password',
    name: 'api_key',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    required: true,
  });
  const keyField = field({
    label: 'API key',
    input,
    name: 'key',
    required: true,
    hint: 'herald printed the admin key at first start and saved it as admin.key next to the database (var/admin.key with make run).',
  });
  const show = h('input', {
    type: 'checkbox',
    id: 'show-key',
    onchange: () => {
      input.type = show.checked ? 'text' : 'password';
    },
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  const formError = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });

  const form = h(
    'form',
    { class: 'signin-form', novalidate: true, onsubmit: onSubmit },
    keyField.wrap,
    h('div', { class: 'check' }, show, h('label', { for: 'show-key' }, 'Show key')),
    formError,
    submit,
  );

  async function onSubmit(e) {
    e.preventDefault();
    const key = input.value.trim();
    keyField.setError('');
    formError.hidden = true;
    if (!key) {
      keyField.setError('Enter an API key.');
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      // GET /v1/me names the key's account and role; only admin keys may
      // switch account. Should it be missing (an older herald), listing the
      // accounts tells the same.
      let admin = false;
      let home = '';
      try {
        const me = await api('GET', '/v1/me', { key, account: '', quiet401: true });
        admin = me && me.role === 'admin';
        home = (me && me.account_id) || '';
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        await api('GET', '/v1/webhooks', { key, account: '', query: { count: 20 }, quiet401: true });
        try {
          await api('GET', '/v1/accounts', { key, account: '', quiet401: true });
          admin = true;
        } catch (e2) {
          if (!(e2 instanceof ApiError) || (e2.status !== 403 && e2.status !== 404)) throw e2;
        }
      }
      session.signIn(key, admin, home);
      await onSignedIn();
    } catch (err) {
      submit.disabled = false;
      submit.textContent = 'Sign in';
      if (err instanceof ApiError && err.status === 401) {
        keyField.setError('This key was not accepted. Check it and try again.');
        input.focus();
      } else {
        mount(formError, err.message || String(err));
        formError.hidden = false;
      }
    }
  }

  mount(
    root,
    h(
      'div',
      { class: 'signin' },
      h(
        'main',
        { class: 'signin-card', id: 'main' },
        h(
          'div',
          { class: 'brand brand-lg' },
          h('img', { src: '/favicon.svg', alt: '', width: 36, height: 36 }),
          h('span', null, 'herald'),
        ),
        h('h1', null, 'Sign in'),
        h('p', { class: 'muted' }, 'Manage webhooks and read their delivery log.'),
        notice ? h('div', { class: 'alert alert-info', role: 'status' }, notice) : null,
        form,
      ),
    ),
  );
  input.focus();
}
