// log.js — the delivery log of a webhook (seed 004's webhook log): every
// attempt with its time, response code, execution time, error class,
// request headers, payload and response excerpt; filters; resend one
// delivery; recover every failed delivery since a time.

import { api, attemptOk, eventTypes } from '../api.js';
import { fmtMs, fromLocalInput, h, icon, mount, timeEl, toLocalInput } from '../dom.js';
import {
  codeBadge,
  codeBlock,
  emptyState,
  errorState,
  field,
  openDialog,
  pageHeader,
  pager,
  select,
  spinner,
  toast,
} from '../ui.js';
import { webhookTabs } from './webhook.js';

const COUNTS = [20, 25, 50, 100];

// Request headers as a two-column table (values are the sender's own).
function headersTable(obj) {
  let headers = obj;
  if (typeof headers === 'string') {
    try {
      headers = JSON.parse(headers);
    } catch {
      headers = {};
    }
  }
  const entries = Object.entries(headers || {});
  if (entries.length === 0) return h('p', { class: 'muted' }, 'None recorded');
  return h(
    'table',
    { class: 'kv' },
    h(
      'tbody',
      null,
      entries.map(([k, v]) =>
        h(
          'tr',
          null,
          h('th', { scope: 'row' }, k),
          h('td', null, h('code', { class: 'break' }, Array.isArray(v) ? v.join(', ') : String(v))),
        ),
      ),
    ),
  );
}

function attemptDetail(a, payloadFallback) {
  const eventLink = a.event_id
    ? h('a', { href: `#/events/${encodeURIComponent(a.event_id)}` }, h('code', null, a.event_id))
    : '—';
  const exec =
    a.execution_time !== undefined && a.execution_time !== null
      ? `${Number(a.execution_time).toFixed(3)} s`
      : fmtMs(a.duration_ms);
  return h(
    'div',
    { class: 'attempt-detail' },
    h(
      'dl',
      { class: 'props props-inline' },
      h('div', { class: 'prop' }, h('dt', null, 'Attempt ID'), h('dd', null, h('code', null, a.id || '—'))),
      h(
        'div',
        { class: 'prop' },
        h('dt', null, 'Delivery'),
        h('dd', null, h('code', null, a.delivery_id || '—')),
      ),
      h('div', { class: 'prop' }, h('dt', null, 'Event'), h('dd', null, eventLink)),
      h('div', { class: 'prop' }, h('dt', null, 'Execution time'), h('dd', null, exec)),
      a.error
        ? h('div', { class: 'prop' }, h('dt', null, 'Error class'), h('dd', null, h('code', null, a.error)))
        : null,
    ),
    h(
      'div',
      { class: 'detail-grid' },
      h('div', null, h('h4', null, 'Request headers'), headersTable(a.request_headers)),
      h('div', null, h('h4', null, 'Payload'), codeBlock(a.payload ?? payloadFallback ?? null, 'Payload')),
    ),
    h('h4', null, 'Response body', h('span', { class: 'muted small' }, ' (first 4 KiB)')),
    codeBlock(a.response_body ?? '', 'Response body'),
  );
}

// A table of attempts whose rows expand to show their details. onResend
// (deliveryId, button) is offered on each row when given.
export function attemptTable(items, { onResend, payloadFallback, showType = true, expanded } = {}) {
  const open = expanded || new Set();
  const tbody = h('tbody');
  const cols = showType ? 8 : 7;
  for (const a of items) {
    const ok = attemptOk(a);
    const key = a.id || `${a.delivery_id}:${a.attempt ?? a.n}`;
    const detailId = `att-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const detailRow = h(
      'tr',
      { class: 'detail-row', id: detailId, hidden: !open.has(key) },
      h('td', { colspan: cols }, open.has(key) ? attemptDetail(a, payloadFallback) : null),
    );
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'btn-icon expand',
        'aria-expanded': String(open.has(key)),
        'aria-controls': detailId,
        'aria-label': `Details of attempt ${a.attempt ?? a.n ?? ''} ${a.event_type || ''}`.trim(),
        onclick: () => {
          const show = toggle.getAttribute('aria-expanded') !== 'true';
          toggle.setAttribute('aria-expanded', String(show));
          if (show && !detailRow.firstChild.firstChild)
            detailRow.firstChild.append(attemptDetail(a, payloadFallback));
          detailRow.hidden = !show;
          if (show) open.add(key);
          else open.delete(key);
        },
      },
      icon('chevron'),
    );
    const resend =
      onResend && a.delivery_id
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn btn-sm',
              dataset: { delivery: a.delivery_id },
              onclick: (e) => onResend(a.delivery_id, e.currentTarget),
            },
            'Resend',
          )
        : null;
    tbody.append(
      h(
        'tr',
        {
          class: ok ? 'row-ok' : 'row-bad',
          dataset: {
            attempt: a.id || '',
            delivery: a.delivery_id || '',
            outcome: ok ? 'success' : 'failure',
          },
        },
        h('td', { class: 'cell-expand' }, toggle),
        h('td', null, timeEl(a.created_at ?? a.started_at)),
        showType ? h('td', null, h('code', null, a.event_type || '—')) : null,
        h('td', { class: 'num' }, String(a.attempt ?? a.n ?? '—')),
        h('td', null, codeBadge(a.response_code, ok)),
        h('td', { class: 'num' }, fmtMs(a.duration_ms)),
        h(
          'td',
          null,
          a.error ? h('span', { class: 'text-bad' }, a.error) : h('span', { class: 'muted' }, '—'),
        ),
        h('td', { class: 'cell-actions' }, resend),
      ),
      detailRow,
    );
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-log' },
      h('caption', { class: 'sr-only' }, 'Delivery attempts, newest first'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Details')),
          h('th', { scope: 'col' }, 'Time'),
          showType ? h('th', { scope: 'col' }, 'Event type') : null,
          h('th', { scope: 'col', class: 'num' }, 'Attempt'),
          h('th', { scope: 'col' }, 'Response'),
          h('th', { scope: 'col', class: 'num' }, 'Duration'),
          h('th', { scope: 'col' }, 'Error'),
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
        ),
      ),
      tbody,
    ),
  );
}

// Resends one delivery: a new attempt now. Resolves true when accepted.
export async function resendDelivery(deliveryId, button) {
  if (button) button.disabled = true;
  try {
    await api('POST', `/v1/deliveries/${encodeURIComponent(deliveryId)}/retry`);
    toast('Resend queued: a new attempt is on its way', 'ok');
    return true;
  } catch (e) {
    if (e.status !== 401) toast(`Could not resend: ${e.message}`, 'error');
    return false;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

function recoverDialog(enc, onDone) {
  const since = h('input', {
    type: 'datetime-local',
    value: toLocalInput(new Date(Date.now() - 3600 * 1000)),
    step: 60,
  });
  const until = h('input', { type: 'datetime-local', step: 60 });
  const fSince = field({ label: 'Failed since', input: since, name: 'since', required: true });
  const fUntil = field({ label: 'Until (optional)', input: until, name: 'until', hint: 'Empty: up to now.' });
  const formError = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
  const go = h('button', { type: 'submit', class: 'btn btn-primary', form: 'recover-form' }, 'Recover');
  const cancel = h('button', { type: 'button', class: 'btn', onclick: () => d.close() }, 'Cancel');
  const form = h(
    'form',
    { id: 'recover-form', novalidate: true, onsubmit: submit },
    h(
      'p',
      { class: 'muted' },
      'Every delivery to this webhook that failed in this window is queued again, each for a new attempt.',
    ),
    fSince.wrap,
    fUntil.wrap,
    formError,
  );
  const d = openDialog({ title: 'Recover failed deliveries', body: form, actions: [cancel, go] });
  async function submit(e) {
    e.preventDefault();
    fSince.setError('');
    fUntil.setError('');
    formError.hidden = true;
    const body = { since: fromLocalInput(since.value) };
    if (!body.since) {
      fSince.setError('Choose a date and time.');
      since.focus();
      return;
    }
    if (until.value) body.until = fromLocalInput(until.value);
    go.disabled = true;
    try {
      const r = await api('POST', `/v1/webhooks/${enc}/recover`, { body });
      const n = r && (r.recovered ?? r.requeued ?? r.deliveries ?? r.count);
      toast(
        typeof n === 'number'
          ? `${n} failed ${n === 1 ? 'delivery' : 'deliveries'} queued again`
          : 'Failed deliveries queued again',
        'ok',
      );
      d.close();
      onDone();
    } catch (err) {
      go.disabled = false;
      if (err.status === 401) {
        d.close();
        return;
      }
      if (err.field === 'since') fSince.setError(err.message);
      else if (err.field === 'until') fUntil.setError(err.message);
      else {
        mount(formError, err.message);
        formError.hidden = false;
      }
    }
  }
}

export async function renderLog(main, ctx) {
  const id = ctx.params[0];
  const enc = encodeURIComponent(id);
  const q = ctx.query;
  const st = {
    status: ['success', 'failure'].includes(q.get('status')) ? q.get('status') : '',
    event_type: q.get('event_type') || '',
    since: q.get('since') || '',
    page: Math.max(0, Number.parseInt(q.get('page'), 10) || 0),
    count: COUNTS.includes(Number(q.get('count'))) ? Number(q.get('count')) : 20,
  };
  const w = await api('GET', `/v1/webhooks/${enc}`, { signal: ctx.signal });
  if (!ctx.alive()) return;
  document.title = `Delivery log · ${w.name} · herald`;

  const statusSel = select(
    [
      ['', 'All attempts'],
      ['success', 'Succeeded'],
      ['failure', 'Failed'],
    ],
    st.status,
    { id: 'log-status' },
  );
  const typeSel = select([['', 'All event types']], st.event_type, { id: 'log-type' });
  const sinceInput = h('input', {
    type: 'datetime-local',
    id: 'log-since',
    step: 60,
    value: st.since ? toLocalInput(new Date(st.since)) : '',
  });
  const countSel = select(
    COUNTS.map((c) => [c, `${c} per page`]),
    st.count,
    { id: 'log-count', 'aria-label': 'Attempts per page' },
  );
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const expanded = new Set();

  eventTypes(ctx.signal)
    .then((types) => {
      for (const t of types)
        typeSel.append(h('option', { value: t.name, selected: t.name === st.event_type }, t.name));
      if (st.event_type && !types.some((t) => t.name === st.event_type))
        typeSel.append(h('option', { value: st.event_type, selected: true }, st.event_type));
    })
    .catch(() => {});

  statusSel.addEventListener('change', () => {
    st.status = statusSel.value;
    st.page = 0;
    load();
  });
  typeSel.addEventListener('change', () => {
    st.event_type = typeSel.value;
    st.page = 0;
    load();
  });
  sinceInput.addEventListener('change', () => {
    st.since = fromLocalInput(sinceInput.value);
    st.page = 0;
    load();
  });
  countSel.addEventListener('change', () => {
    st.count = Number(countSel.value);
    st.page = 0;
    load();
  });

  const refreshBtn = h(
    'button',
    { type: 'button', class: 'btn', id: 'log-refresh', onclick: () => load() },
    icon('refresh'),
    'Refresh',
  );
  const recoverBtn = h(
    'button',
    { type: 'button', class: 'btn', onclick: () => recoverDialog(enc, () => pollForNew()) },
    'Recover failed since…',
  );

  mount(
    main,
    pageHeader('Delivery log', {
      crumbs: [['Webhooks', '#/webhooks'], [w.name, `#/webhooks/${enc}`], ['Delivery log']],
      subtitle: h('span', null, 'Every attempt to ', h('code', { class: 'break' }, w.url), ', newest first.'),
      actions: [refreshBtn, recoverBtn],
    }),
    webhookTabs(id, 'log'),
    h(
      'section',
      { class: 'card' },
      h(
        'form',
        {
          class: 'toolbar',
          role: 'search',
          'aria-label': 'Filter the log',
          onsubmit: (e) => e.preventDefault(),
        },
        h('div', { class: 'tool' }, h('label', { for: 'log-status' }, 'Outcome'), statusSel),
        h('div', { class: 'tool' }, h('label', { for: 'log-type' }, 'Event type'), typeSel),
        h(
          'div',
          { class: 'tool' },
          h('label', { for: 'log-since' }, 'Since'),
          sinceInput,
          h(
            'button',
            {
              type: 'button',
              class: 'btn btn-sm',
              onclick: () => {
                sinceInput.value = '';
                st.since = '';
                st.page = 0;
                load();
              },
            },
            'Any time',
          ),
        ),
      ),
      results,
    ),
  );

  let last = null; // {firstId, total} of the last load, to notice new attempts

  async function load() {
    ctx.setQuery({
      status: st.status,
      event_type: st.event_type,
      since: st.since,
      page: st.page || '',
      count: st.count === 20 ? '' : st.count,
    });
    if (!results.firstChild) mount(results, spinner());
    let data;
    try {
      data = await api('GET', `/v1/webhooks/${enc}/log`, {
        signal: ctx.signal,
        query: {
          status: st.status,
          event_type: st.event_type,
          since: st.since,
          page: st.page,
          count: st.count,
        },
      });
    } catch (e) {
      if (e.name === 'AbortError' || !ctx.alive() || e.status === 401) return null;
      mount(results, errorState(e, load));
      return null;
    }
    if (!ctx.alive()) return null;
    const items = Array.isArray(data) ? data : data.items || [];
    const total = data.total ?? items.length;
    last = { firstId: items[0] ? items[0].id : '', total };
    if (total === 0) {
      const filtered = st.status || st.event_type || st.since;
      mount(
        results,
        filtered
          ? emptyState('No attempt matches these filters', 'Try another outcome, event type or time.', null)
          : emptyState(
              'No deliveries yet',
              'Attempts appear here once events this webhook listens to are published. Send a test event to try it.',
              h('a', { class: 'btn', href: `#/webhooks/${enc}` }, icon('send'), 'Send test event'),
            ),
      );
      return last;
    }
    mount(
      results,
      attemptTable(items, {
        expanded,
        onResend: async (dlv, btn) => {
          if (await resendDelivery(dlv, btn)) pollForNew();
        },
      }),
      h(
        'div',
        { class: 'table-foot' },
        pager({
          page: st.page,
          count: st.count,
          total,
          onPage: (p) => {
            st.page = p;
            load();
          },
        }),
        h('div', { class: 'tool' }, countSel),
      ),
    );
    return last;
  }

  // After a resend or a recover the new attempts come from the dispatcher a
  // moment later: reload a few times until the newest attempt changes.
  let polling = 0;
  async function pollForNew() {
    const before = last ? `${last.firstId}/${last.total}` : '';
    const token = ++polling;
    for (let i = 0; i < 30 && ctx.alive() && token === polling; i++) {
      await new Promise((r) => setTimeout(r, i < 5 ? 400 : 1000));
      if (!ctx.alive() || token !== polling) return;
      const now = await load();
      if (now && `${now.firstId}/${now.total}` !== before) return;
    }
  }

  await load();
}
