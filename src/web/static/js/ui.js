// ui.js — shared pieces: dialogs, toasts, badges, pager, page states.

import { h, icon, mount, prettyJson } from './dom.js';

// ---- toasts (announced to screen readers through an aria-live region) ----

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// ---- dialogs ----
//
// A native <dialog> opened with showModal(): the browser keeps focus inside
// and Escape closes it. Focus goes to the first field (or the safe button)
// on open and back to the element that opened it on close.

export function openDialog({ title, body, actions, onClose, initialFocus }) {
  const opener = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dlg = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': titleId },
    h(
      'div',
      { class: 'dialog-head' },
      h('h2', { id: titleId }, title),
      h(
        'button',
        { type: 'button', class: 'btn-icon', 'aria-label': 'Close', onclick: () => close() },
        icon('close'),
      ),
    ),
    h('div', { class: 'dialog-body' }, body),
    actions ? h('div', { class: 'dialog-actions' }, actions) : null,
  );
  let closed = false;
  function close(result) {
    if (closed) return;
    closed = true;
    if (dlg.open) dlg.close();
    dlg.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    if (onClose) onClose(result);
  }
  dlg.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) close();
  });
  document.body.append(dlg);
  dlg.showModal();
  const first = initialFocus
    ? dlg.querySelector(initialFocus)
    : dlg.querySelector('.dialog-body input, .dialog-body select, .dialog-body textarea');
  (first || dlg.querySelector('.dialog-actions button') || dlg).focus();
  return { close, el: dlg };
}

// Asks for confirmation; resolves true or false. The safe choice (Cancel)
// has the focus, so a stray Enter does nothing destructive.
export function confirmDialog({ title, message, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const cancelBtn = h('button', { type: 'button', class: 'btn', onclick: () => d.close() }, 'Cancel');
    const okBtn = h(
      'button',
      {
        type: 'button',
        class: danger ? 'btn btn-danger' : 'btn btn-primary',
        onclick: () => {
          answer = true;
          d.close();
        },
      },
      confirm,
    );
    const d = openDialog({
      title,
      body: h('p', null, message),
      actions: [cancelBtn, okBtn],
      onClose: () => resolve(answer),
      initialFocus: '.dialog-actions .btn:not(.btn-primary):not(.btn-danger)',
    });
  });
}

// ---- small pieces ----

export function badge(text, kind = 'neutral', title) {
  return h('span', { class: `badge badge-${kind}`, title: title || null }, text);
}

export function statusBadge(enabled) {
  return enabled ? badge('Active', 'ok') : badge('Inactive', 'neutral');
}

// The HTTP code of an attempt, colored by outcome; "—" when there was no
// response (timeout, connection refused, blocked address…).
export function codeBadge(code, ok) {
  if (!code) return badge('no response', 'bad');
  return badge(String(code), ok ? 'ok' : 'bad');
}

export function chips(list, max = 3) {
  const items = list || [];
  const shown = items.slice(0, max).map((e) => h('span', { class: 'chip' }, e));
  if (items.length > max)
    shown.push(
      h('span', { class: 'chip chip-more', title: items.slice(max).join(', ') }, `+${items.length - max}`),
    );
  return h('span', { class: 'chips' }, shown);
}

export function codeBlock(value, label) {
  const text = prettyJson(value);
  return h(
    'pre',
    { class: 'code', tabindex: 0, 'aria-label': label || null },
    text === '' ? '(empty)' : text,
  );
}

// Copies text; the async Clipboard API first, a hidden textarea otherwise
// (plain-http origins that are not localhost have no navigator.clipboard).
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through */
  }
  const ta = h('textarea', { class: 'offscreen', readonly: true }, text);
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function spinner(label = 'Loading…') {
  return h(
    'div',
    { class: 'state state-loading', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    label,
  );
}

export function emptyState(title, text, action) {
  return h(
    'div',
    { class: 'state state-empty' },
    h('div', { class: 'state-art', 'aria-hidden': 'true' }, icon('webhook')),
    h('h3', null, title),
    text ? h('p', null, text) : null,
    action || null,
  );
}

// The error box for a failed load: what happened in words and a way on.
export function errorState(err, retry) {
  let title = 'Something went wrong';
  let text = err && err.message ? err.message : String(err);
  if (err && err.status === 0) title = 'herald cannot be reached';
  else if (err && err.status === 404) {
    title = 'Not found';
    text = 'It may have been deleted, or it belongs to another account.';
  } else if (err && err.status === 403) title = 'Not allowed';
  return h(
    'div',
    { class: 'state state-error', role: 'alert' },
    h('h3', null, title),
    h('p', null, text),
    retry
      ? h('button', { type: 'button', class: 'btn', onclick: retry }, icon('refresh'), 'Try again')
      : null,
  );
}

// "Showing 21–40 of 57" with Previous and Next.
export function pager({ page, count, total, onPage }) {
  const from = total === 0 ? 0 : page * count + 1;
  const to = Math.min(total, (page + 1) * count);
  const last = Math.max(0, Math.ceil(total / count) - 1);
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h('span', { class: 'muted' }, total === 0 ? 'No results' : `Showing ${from}–${to} of ${total}`),
    h(
      'span',
      { class: 'pager-buttons' },
      h(
        'button',
        { type: 'button', class: 'btn btn-sm', disabled: page <= 0, onclick: () => onPage(page - 1) },
        'Previous',
      ),
      h('span', { class: 'pager-page', 'aria-current': 'page' }, `Page ${page + 1} of ${last + 1}`),
      h(
        'button',
        { type: 'button', class: 'btn btn-sm', disabled: page >= last, onclick: () => onPage(page + 1) },
        'Next',
      ),
    ),
  );
}

// A labelled form control with a hint and a slot for the API's error
// message. Returns {wrap, input, setError}.
let fieldSeq = 0;
export function field({ label, input, hint, required = false, name }) {
  const id = input.id || `f-${name || 'x'}-${++fieldSeq}`;
  input.id = id;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  const describedBy = [hint ? hintId : null, errId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  if (required) input.setAttribute('aria-required', 'true');
  const wrap = h(
    'div',
    { class: 'field', dataset: { field: name || '' } },
    h(
      'label',
      { for: id },
      label,
      required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
    ),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    err,
  );
  function setError(msg) {
    if (msg) {
      mount(err, msg);
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      wrap.classList.add('has-error');
    } else {
      err.hidden = true;
      input.removeAttribute('aria-invalid');
      wrap.classList.remove('has-error');
    }
  }
  return { wrap, input, setError };
}

export function select(options, value, attrs = {}) {
  return h(
    'select',
    attrs,
    options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value) }, label)),
  );
}

export function pageHeader(title, { subtitle, actions, crumbs } = {}) {
  return h(
    'header',
    { class: 'page-head' },
    crumbs
      ? h(
          'nav',
          { class: 'crumbs', 'aria-label': 'Breadcrumb' },
          h(
            'ol',
            null,
            crumbs.map(([label, href], i) =>
              h(
                'li',
                null,
                href
                  ? h('a', { href }, label)
                  : h('span', { 'aria-current': i === crumbs.length - 1 ? 'page' : null }, label),
              ),
            ),
          ),
        )
      : null,
    h(
      'div',
      { class: 'page-head-row' },
      h(
        'div',
        { class: 'page-title' },
        h('h1', { tabindex: -1 }, title),
        subtitle ? h('p', { class: 'muted' }, subtitle) : null,
      ),
      actions ? h('div', { class: 'page-actions' }, actions) : null,
    ),
  );
}
