// webhook.js — one webhook: its settings, enable/disable, delete, the
// signing secret (reveal, copy, rotate) and "Send test event".

import { api, attemptOk, eventTypes } from '../api.js';
import { h, icon, fmtMs, mount, timeEl } from '../dom.js';
import {
  badge,
  chips,
  codeBadge,
  codeBlock,
  confirmDialog,
  copyText,
  pageHeader,
  select,
  statusBadge,
  toast,
} from '../ui.js';

export function webhookTabs(id, active) {
  const enc = encodeURIComponent(id);
  const tab = (href, label, key) =>
    h('a', { href, class: 'tab', 'aria-current': key === active ? 'page' : null }, label);
  return h(
    'nav',
    { class: 'tabs', 'aria-label': 'Webhook' },
    tab(`#/webhooks/${enc}`, 'Details', 'details'),
    tab(`#/webhooks/${enc}/log`, 'Delivery log', 'log'),
  );
}

function dl(rows) {
  return h(
    'dl',
    { class: 'props' },
    rows.filter(Boolean).map(([k, v]) => h('div', { class: 'prop' }, h('dt', null, k), h('dd', null, v))),
  );
}

export async function renderWebhook(main, ctx) {
  const id = ctx.params[0];
  const enc = encodeURIComponent(id);
  const [w, types] = await Promise.all([
    api('GET', `/v1/webhooks/${enc}`, { signal: ctx.signal }),
    eventTypes(ctx.signal).catch(() => []),
  ]);
  if (!ctx.alive()) return;
  document.title = `${w.name} · herald`;

  // ---- header actions ----
  const statusSlot = h('span', null, statusBadge(w.enabled));
  const toggleBtn = h('button', { type: 'button', class: 'btn', onclick: toggle });
  function paintToggle() {
    toggleBtn.textContent = w.enabled ? 'Disable' : 'Enable';
    mount(statusSlot, statusBadge(w.enabled));
  }
  paintToggle();
  async function toggle() {
    toggleBtn.disabled = true;
    try {
      const nw = await api('PATCH', `/v1/webhooks/${enc}`, { body: { enabled: !w.enabled } });
      w.enabled = nw && typeof nw.enabled === 'boolean' ? nw.enabled : !w.enabled;
      w.disabled_reason = nw ? nw.disabled_reason : w.disabled_reason;
      paintToggle();
      if (reasonBox && !w.disabled_reason) reasonBox.remove();
      toast(`Webhook ${w.enabled ? 'enabled' : 'disabled'}`, 'ok');
    } catch (e) {
      if (e.status !== 401) toast(`Could not change the webhook: ${e.message}`, 'error');
    } finally {
      toggleBtn.disabled = false;
    }
  }
  const deleteBtn = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-danger-outline',
      onclick: async () => {
        const ok = await confirmDialog({
          title: 'Delete webhook?',
          confirm: 'Delete webhook',
          danger: true,
          message: `“${w.name}” stops receiving events and its pending deliveries are cancelled. This cannot be undone.`,
        });
        if (!ok) return;
        try {
          await api('DELETE', `/v1/webhooks/${enc}`);
          toast(`Webhook “${w.name}” deleted`, 'ok');
          ctx.navigate('#/webhooks');
        } catch (e) {
          if (e.status !== 401) toast(`Could not delete: ${e.message}`, 'error');
        }
      },
    },
    'Delete',
  );

  const reasonBox = w.disabled_reason
    ? h(
        'div',
        { class: 'alert alert-warn', role: 'status' },
        h('strong', null, 'Disabled by herald: '),
        w.disabled_reason,
      )
    : null;

  const headers = Object.entries(w.headers || {});
  const config = h(
    'section',
    { class: 'card' },
    h('h2', null, 'Configuration'),
    dl([
      ['Callback URL', h('code', { class: 'break' }, w.url)],
      ['Description', w.description || h('span', { class: 'muted' }, 'None')],
      ['Method', w.method],
      ['Content-Type', h('code', null, w.content_type)],
      ['Max attempts', String(w.max_attempts)],
      ['Events', chips(w.events, 50)],
      [
        'Custom headers',
        headers.length
          ? h(
              'ul',
              { class: 'plain' },
              headers.map(([k, v]) => h('li', null, h('code', null, `${k}: ${v}`))),
            )
          : h('span', { class: 'muted' }, 'None'),
      ],
      ['Rate limit', w.rate_limit ? `${w.rate_limit} requests/s` : 'None'],
      ['Max in flight', String(w.max_in_flight ?? '—')],
      w.kind && w.kind !== 'webhook' ? ['Kind', w.kind] : null,
      ['Signature scheme', w.signature_scheme || 'standard'],
      ['Created', timeEl(w.created_at)],
      ['Modified', timeEl(w.modified_at)],
      ['Last execution', timeEl(w.last_execution_at)],
      ['ID', h('code', null, w.id)],
    ]),
  );

  mount(
    main,
    pageHeader(w.name, {
      crumbs: [['Webhooks', '#/webhooks'], [w.name]],
      subtitle: statusSlot,
      actions: [h('a', { class: 'btn', href: `#/webhooks/${enc}/edit` }, 'Edit'), toggleBtn, deleteBtn],
    }),
    webhookTabs(id, 'details'),
    reasonBox,
    h(
      'div',
      { class: 'cols' },
      h('div', { class: 'col-main' }, config),
      h('div', { class: 'col-side' }, secretCard(w, enc), testCard(w, enc, types)),
    ),
  );
}

// The signing secret: masked until revealed; copy and rotate.
function secretCard(w, enc) {
  let secret = null;
  const value = h('input', {
    type: 'text',
    readonly: true,
    id: 'secret-value',
    class: 'mono',
    value: 'whsec_••••••••••••••••',
    'aria-label': 'Signing secret',
  });
  const revealBtn = h(
    'button',
    { type: 'button', class: 'btn btn-sm', 'aria-controls': 'secret-value', onclick: reveal },
    'Reveal',
  );
  const copyBtn = h('button', { type: 'button', class: 'btn btn-sm', onclick: copy }, icon('copy'), 'Copy');
  const rotateBtn = h(
    'button',
    { type: 'button', class: 'btn btn-sm', onclick: rotate },
    icon('refresh'),
    'Rotate',
  );
  const note = h(
    'p',
    { class: 'muted small', 'aria-live': 'polite' },
    'Receivers verify the webhook-signature header with it.',
  );

  async function fetchSecret() {
    if (secret === null) secret = (await api('GET', `/v1/webhooks/${enc}/secret`)).secret;
    return secret;
  }
  function show(on) {
    value.value = on ? secret : 'whsec_••••••••••••••••';
    revealBtn.textContent = on ? 'Hide' : 'Reveal';
    revealBtn.setAttribute('aria-pressed', String(on));
  }
  async function reveal() {
    if (revealBtn.getAttribute('aria-pressed') === 'true') {
      show(false);
      return;
    }
    try {
      await fetchSecret();
      show(true);
    } catch (e) {
      if (e.status !== 401) toast(`Could not reveal: ${e.message}`, 'error');
    }
  }
  async function copy() {
    try {
      const ok = await copyText(await fetchSecret());
      toast(
        ok ? 'Secret copied to the clipboard' : 'Copy failed: reveal the secret and copy it by hand',
        ok ? 'ok' : 'error',
      );
    } catch (e) {
      if (e.status !== 401) toast(`Could not copy: ${e.message}`, 'error');
    }
  }
  async function rotate() {
    const ok = await confirmDialog({
      title: 'Rotate secret?',
      confirm: 'Rotate secret',
      message:
        'herald signs with a new secret from now on. The current one keeps signing too for 24 hours, so receivers have time to switch.',
    });
    if (!ok) return;
    try {
      secret = (await api('POST', `/v1/webhooks/${enc}/secret/rotate`)).secret;
      show(true);
      mount(note, 'New secret in use. The previous one also signs for the next 24 hours.');
      toast('Secret rotated', 'ok');
    } catch (e) {
      if (e.status !== 401) toast(`Could not rotate: ${e.message}`, 'error');
    }
  }
  return h(
    'section',
    { class: 'card' },
    h('h2', null, icon('key'), ' Signing secret'),
    h('div', { class: 'secret-row' }, value),
    h('div', { class: 'btn-row' }, revealBtn, copyBtn, rotateBtn),
    note,
  );
}

// "Send test event": the chosen type's sample, sent now; shows the outcome.
function testCard(w, enc, types) {
  const names = types.map((t) => t.name);
  const subscribed = (w.events || []).filter((e) => names.includes(e));
  const preferred = subscribed[0] || (names.includes('webhook.test') ? 'webhook.test' : names[0] || '');
  const ordered = [...subscribed, ...names.filter((n) => !subscribed.includes(n))];
  const typeSel = ordered.length
    ? select(
        ordered.map((n) => [n, n]),
        preferred,
        { id: 'test-type' },
      )
    : h('input', { type: 'text', id: 'test-type', value: 'webhook.test' });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('send'), 'Send test event');
  const out = h('div', { class: 'test-result', 'aria-live': 'polite' });

  async function send(e) {
    e.preventDefault();
    sendBtn.disabled = true;
    mount(out, h('p', { class: 'muted' }, 'Sending…'));
    try {
      const r = await api('POST', `/v1/webhooks/${enc}/test`, { body: { event_type: typeSel.value } });
      mount(out, testOutcome(r || {}, enc));
    } catch (err) {
      if (err.status === 401) return;
      mount(out, h('div', { class: 'alert alert-error', role: 'alert' }, err.message));
    } finally {
      sendBtn.disabled = false;
    }
  }
  return h(
    'section',
    { class: 'card' },
    h('h2', null, 'Send test event'),
    h(
      'p',
      { class: 'muted small' },
      'Sends the type’s sample payload to the callback URL now, signed like a real delivery.',
    ),
    h(
      'form',
      { class: 'test-form', onsubmit: send },
      h('div', { class: 'field' }, h('label', { for: 'test-type' }, 'Event type'), typeSel),
      sendBtn,
    ),
    out,
  );
}

function testOutcome(r, enc) {
  const a = r.attempt || {};
  const ok = attemptOk(a);
  return h(
    'div',
    { class: `outcome ${ok ? 'outcome-ok' : 'outcome-bad'}`, dataset: { testOutcome: ok ? 'ok' : 'fail' } },
    h(
      'div',
      { class: 'outcome-head' },
      ok ? badge('Delivered', 'ok') : badge('Failed', 'bad'),
      codeBadge(a.response_code, ok),
      h('span', { class: 'muted' }, fmtMs(a.duration_ms)),
      a.error ? h('span', { class: 'text-bad' }, a.error) : null,
    ),
    h('h3', { class: 'small-head' }, 'Response body'),
    codeBlock(a.response_body ?? '', 'Response body'),
    h(
      'p',
      { class: 'small' },
      r.event_id ? h('a', { href: `#/events/${encodeURIComponent(r.event_id)}` }, 'View event') : null,
      r.event_id ? ' · ' : null,
      h('a', { href: `#/webhooks/${enc}/log` }, 'Open delivery log'),
    ),
  );
}
