// form.js — create and edit a webhook: every field of seed 002's form
// (Name, Callback URL, Method, Content-Type, Max attempts, Status, Secret,
// Events) plus description, custom headers, the advanced settings and the
// delivery format (kind, payload format, signature dialect and its headers). The
// API validates; its 422 {"error":{"field","message"}} is shown next to the
// named field, which gets the focus.

import { api, eventTypes } from '../api.js';
import { h, icon, mount } from '../dom.js';
import { field, pageHeader, select, toast } from '../ui.js';

const METHODS = ['POST', 'PUT', 'PATCH'];
const CONTENT_TYPES = ['application/json', 'application/x-www-form-urlencoded'];
const KINDS = [
  ['webhook', 'Webhook'],
  ['slack', 'Slack'],
  ['discord', 'Discord'],
];
const SCHEMES = [
  ['standard', 'Standard Webhooks'],
  ['github', 'GitHub (X-Hub-Signature-256)'],
  ['stripe', 'Stripe'],
  ['hex', 'Hex HMAC'],
  ['timestamped-hex', 'Timestamped hex HMAC'],
];
const PAYLOAD_FORMATS = [
  ['standard', 'Standard (type, timestamp, data)'],
  ['rows', 'Rows (one flat object, dotted keys)'],
];
// Each dialect's default header names (src/sign/dialect.c), shown as the
// placeholder of the override inputs: empty means "use this one".
const DIALECT_HEADERS = {
  github: ['X-Hub-Signature-256', null],
  stripe: ['Herald-Signature', null],
  hex: ['X-Signature', null],
  'timestamped-hex': ['X-Signature', 'X-Timestamp'],
};

// The group an event type is listed under: "post" for post.published;
// names without a dot (camelCase catalogs such as Oktopost's) go together.
function groupOf(name) {
  return name.includes('.') ? name.split('.')[0] : 'other';
}

export async function renderWebhookForm(main, ctx) {
  const id = ctx.params[0] || null;
  const editing = !!id;
  document.title = `${editing ? 'Edit webhook' : 'Create webhook'} · herald`;
  const [types, current] = await Promise.all([
    eventTypes(ctx.signal).catch(() => []),
    editing ? api('GET', `/v1/webhooks/${encodeURIComponent(id)}`, { signal: ctx.signal }) : null,
  ]);
  if (!ctx.alive()) return;
  const w = current || {
    name: '',
    description: '',
    url: '',
    method: 'POST',
    content_type: 'application/json',
    max_attempts: 4,
    enabled: true,
    events: [],
    headers: {},
    rate_limit: 0,
    max_in_flight: 8,
    kind: 'webhook',
    signature_scheme: 'standard',
    payload_format: 'standard',
    signature_header: null,
    timestamp_header: null,
  };

  const fields = {}; // API field name → {wrap, input, setError}
  const add = (name, f) => {
    fields[name] = f;
    return f.wrap;
  };

  const name = h('input', {
    type: 'text',
    name: 'name',
    value: w.name,
    maxlength: 200,
    autocomplete: 'off',
    placeholder: 'Name',
  });
  const description = h(
    'textarea',
    { name: 'description', rows: 2, maxlength: 1000, placeholder: 'What this webhook is for' },
    w.description || '',
  );
  const url = h('input', {
    type: 'text',
    inputmode: 'url',
    name: 'url',
    value: w.url,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'https://example.com/webhook',
  });
  const method = select(
    METHODS.map((m) => [m, m]),
    w.method,
    { name: 'method' },
  );
  const ctype = select(
    CONTENT_TYPES.map((c) => [c, c]),
    w.content_type,
    { name: 'content_type' },
  );
  const maxAttempts = h('input', {
    type: 'number',
    name: 'max_attempts',
    min: 1,
    max: 20,
    step: 1,
    value: w.max_attempts,
  });
  const status = select(
    [
      ['active', 'Active'],
      ['inactive', 'Inactive'],
    ],
    w.enabled ? 'active' : 'inactive',
    { name: 'status' },
  );
  const secret = h('input', {
    type: 'text',
    name: 'secret',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: editing ? 'Leave empty to keep the current secret' : 'Secret',
  });

  // ---- events: checkboxes from the catalog, plus free patterns ----
  const known = new Set(types.map((t) => t.name));
  const chosen = new Set(w.events || []);
  const boxes = [];
  const groups = new Map();
  for (const t of types) {
    const g = groupOf(t.name);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(t);
  }
  const eventsFilter = h('input', {
    type: 'search',
    id: 'ev-filter',
    placeholder: 'Filter event types',
    autocomplete: 'off',
  });
  const eventsCount = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const eventList = h('div', {
    class: 'events-grid',
    role: 'group',
    'aria-label': 'Event types',
    tabindex: -1,
    id: 'f-events',
  });
  for (const [g, list] of groups) {
    const groupBox = h('fieldset', { class: 'event-group' }, h('legend', null, g));
    for (const t of list) {
      const cb = h('input', {
        type: 'checkbox',
        name: 'events',
        value: t.name,
        checked: chosen.has(t.name),
        id: `ev-${t.name}`,
      });
      cb.addEventListener('change', paintCount);
      boxes.push(cb);
      groupBox.append(
        h(
          'div',
          { class: 'check event-check', dataset: { name: t.name.toLowerCase() } },
          cb,
          h(
            'label',
            { for: cb.id, title: t.description || '' },
            h('span', { class: 'mono' }, t.name),
            t.description ? h('span', { class: 'muted small block' }, t.description) : null,
          ),
        ),
      );
    }
    eventList.append(groupBox);
  }
  if (types.length === 0)
    eventList.append(
      h('p', { class: 'muted' }, 'The event catalog could not be loaded: type the event names below.'),
    );
  eventsFilter.addEventListener('input', () => {
    const q = eventsFilter.value.trim().toLowerCase();
    for (const grp of eventList.querySelectorAll('.event-group')) {
      let any = false;
      for (const row of grp.querySelectorAll('.event-check')) {
        const show = !q || row.dataset.name.includes(q);
        row.hidden = !show;
        any = any || show;
      }
      grp.hidden = !any;
    }
  });
  const patterns = h('input', {
    type: 'text',
    id: 'f-patterns',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: '*, post.*',
    value: (w.events || []).filter((e) => !known.has(e)).join(', '),
  });
  patterns.addEventListener('input', paintCount);
  function selectedEvents() {
    const list = boxes.filter((b) => b.checked).map((b) => b.value);
    for (const p of patterns.value
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      if (!list.includes(p)) list.push(p);
    }
    return list;
  }
  function paintCount() {
    const n = selectedEvents().length;
    eventsCount.textContent = n === 0 ? 'No event selected' : `${n} selected`;
  }
  paintCount();
  const eventsErr = h('p', { class: 'field-error', id: 'f-events-err', hidden: true });
  eventList.setAttribute('aria-describedby', 'f-events-err');
  fields.events = {
    wrap: null,
    input: eventList,
    setError(msg) {
      eventsErr.hidden = !msg;
      mount(eventsErr, msg || '');
      eventsSection.classList.toggle('has-error', !!msg);
    },
  };

  // ---- custom headers: rows of name and value ----
  const headerRows = h('div', { class: 'header-rows' });
  function addHeaderRow(k = '', v = '') {
    const n = h('input', {
      type: 'text',
      value: k,
      placeholder: 'X-Team',
      'aria-label': 'Header name',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    const val = h('input', {
      type: 'text',
      value: v,
      placeholder: 'value',
      'aria-label': 'Header value',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    const rowEl = h(
      'div',
      { class: 'header-row' },
      n,
      val,
      h(
        'button',
        {
          type: 'button',
          class: 'btn-icon',
          'aria-label': 'Remove header',
          onclick: () => {
            rowEl.remove();
            addBtn.focus();
          },
        },
        icon('close'),
      ),
    );
    headerRows.append(rowEl);
    return n;
  }
  for (const [k, v] of Object.entries(w.headers || {})) addHeaderRow(k, v);
  const addBtn = h(
    'button',
    { type: 'button', class: 'btn btn-sm', onclick: () => addHeaderRow().focus() },
    icon('plus'),
    'Add header',
  );
  const headersErr = h('p', { class: 'field-error', id: 'f-headers-err', hidden: true });
  fields.headers = {
    input: addBtn,
    setError(msg) {
      headersErr.hidden = !msg;
      mount(headersErr, msg || '');
    },
  };
  function headersObject() {
    const out = {};
    for (const r of headerRows.querySelectorAll('.header-row')) {
      const [k, v] = r.querySelectorAll('input');
      if (k.value.trim() || v.value) out[k.value.trim()] = v.value;
    }
    return out;
  }

  const rateLimit = h('input', {
    type: 'number',
    name: 'rate_limit',
    min: 0,
    max: 10000,
    step: 1,
    value: w.rate_limit ?? 0,
  });
  const maxInFlight = h('input', {
    type: 'number',
    name: 'max_in_flight',
    min: 1,
    max: 256,
    step: 1,
    value: w.max_in_flight ?? 8,
  });
  const kind = select(KINDS, w.kind || 'webhook', { name: 'kind' });
  const scheme = select(SCHEMES, w.signature_scheme || 'standard', { name: 'signature_scheme' });
  const payloadFormat = select(PAYLOAD_FORMATS, w.payload_format || 'standard', {
    name: 'payload_format',
  });
  const headerInput = (nm, value) =>
    h('input', {
      type: 'text',
      name: nm,
      value: value || '',
      maxlength: 100,
      autocomplete: 'off',
      spellcheck: 'false',
    });
  const sigHeader = headerInput('signature_header', w.signature_header);
  const tsHeader = headerInput('timestamp_header', w.timestamp_header);
  const sigHeaderWrap = add(
    'signature_header',
    field({
      label: 'Signature header',
      input: sigHeader,
      name: 'signature_header',
      hint: "Empty for the scheme's default header.",
    }),
  );
  const tsHeaderWrap = add(
    'timestamp_header',
    field({
      label: 'Timestamp header',
      input: tsHeader,
      name: 'timestamp_header',
      hint: "Empty for the scheme's default header.",
    }),
  );
  // The header overrides only mean something for a dialect (and the
  // timestamp one for timestamped-hex only): hidden, they are sent as null.
  function dialectHeaders() {
    const [sig, ts] = DIALECT_HEADERS[scheme.value] || [null, null];
    sigHeaderWrap.hidden = !sig;
    tsHeaderWrap.hidden = !ts;
    sigHeader.placeholder = sig || '';
    tsHeader.placeholder = ts || '';
    return [sig ? sigHeader.value.trim() || null : null, ts ? tsHeader.value.trim() || null : null];
  }
  scheme.addEventListener('change', dialectHeaders);
  dialectHeaders();

  const formError = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save' : 'Create');
  const cancelHref = editing ? `#/webhooks/${encodeURIComponent(id)}` : '#/webhooks';

  const eventsSection = h(
    'section',
    { class: 'card form-section' },
    h('div', { class: 'section-head' }, h('h2', null, 'Events'), eventsCount),
    h(
      'p',
      { class: 'muted small' },
      'Choose the events this webhook listens to. Each one published sends a request to the callback URL.',
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'ev-filter', class: 'sr-only' }, 'Filter event types'),
      eventsFilter,
    ),
    eventList,
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'f-patterns' }, 'Patterns and other types'),
      patterns,
      h(
        'p',
        { class: 'hint' },
        'Comma-separated: * for every event, post.* for a family, or your own type names.',
      ),
    ),
    eventsErr,
  );

  const form = h(
    'form',
    { class: 'webhook-form', novalidate: true, onsubmit: onSubmit },
    h(
      'section',
      { class: 'card form-section' },
      h('h2', null, 'Details'),
      h(
        'div',
        { class: 'grid-2' },
        add(
          'name',
          field({
            label: 'Name',
            input: name,
            name: 'name',
            required: true,
            hint: 'A unique, descriptive name.',
          }),
        ),
        add(
          'url',
          field({
            label: 'Callback URL',
            input: url,
            name: 'url',
            required: true,
            hint: 'Where herald sends each event (https; plain http only in dev mode).',
          }),
        ),
      ),
      add('description', field({ label: 'Description', input: description, name: 'description' })),
      h(
        'div',
        { class: 'grid-4' },
        add('method', field({ label: 'Method', input: method, name: 'method' })),
        add('content_type', field({ label: 'Content-Type', input: ctype, name: 'content_type' })),
        add(
          'max_attempts',
          field({
            label: 'Max attempts',
            input: maxAttempts,
            name: 'max_attempts',
            hint: '1 to 20: the first try and the retries.',
          }),
        ),
        add('enabled', field({ label: 'Status', input: status, name: 'enabled' })),
      ),
    ),
    h(
      'section',
      { class: 'card form-section' },
      h('h2', null, 'Security'),
      add(
        'secret',
        field({
          label: editing ? 'New secret (optional)' : 'Secret (optional)',
          input: secret,
          name: 'secret',
          hint: editing
            ? 'A new secret replaces the current one; the old one keeps signing for 24 hours.'
            : 'Signs every delivery (webhook-signature header). Leave empty and herald generates one (whsec_…). A signature dialect (Delivery format) also takes your platform’s own 8–256-character secret.',
        }),
      ),
    ),
    eventsSection,
    h(
      'section',
      { class: 'card form-section' },
      h('h2', null, 'Custom headers'),
      h(
        'p',
        { class: 'muted small' },
        'Sent with every delivery. Signature and hop-by-hop headers cannot be set.',
      ),
      headerRows,
      addBtn,
      headersErr,
    ),
    h(
      'details',
      { class: 'card form-section advanced' },
      h('summary', null, h('h2', null, 'Advanced')),
      h(
        'div',
        { class: 'grid-2' },
        add(
          'rate_limit',
          field({
            label: 'Rate limit (requests/s)',
            input: rateLimit,
            name: 'rate_limit',
            hint: '0 for none.',
          }),
        ),
        add(
          'max_in_flight',
          field({
            label: 'Max in flight',
            input: maxInFlight,
            name: 'max_in_flight',
            hint: 'Requests at once.',
          }),
        ),
      ),
    ),
    h(
      'details',
      {
        class: 'card form-section advanced',
        // Opened on edit when the webhook already uses something else.
        open:
          (w.kind || 'webhook') !== 'webhook' ||
          (w.signature_scheme || 'standard') !== 'standard' ||
          (w.payload_format || 'standard') !== 'standard',
      },
      h('summary', null, h('h2', null, 'Delivery format')),
      h(
        'p',
        { class: 'muted small' },
        'Slack and Discord get a readable message, unsigned: they need application/json, the standard payload format and the standard scheme. The other schemes sign as GitHub, Stripe or a plain hex HMAC do.',
      ),
      h(
        'div',
        { class: 'grid-2' },
        add('kind', field({ label: 'Kind', input: kind, name: 'kind' })),
        add(
          'payload_format',
          field({ label: 'Payload format', input: payloadFormat, name: 'payload_format' }),
        ),
        add(
          'signature_scheme',
          field({ label: 'Signature scheme', input: scheme, name: 'signature_scheme' }),
        ),
        sigHeaderWrap,
        tsHeaderWrap,
      ),
    ),
    formError,
    h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: cancelHref }, 'Cancel'), submit),
  );

  function numberOr(input, fallback) {
    const v = input.value.trim();
    if (v === '') return fallback;
    const n = Number(v);
    return Number.isFinite(n) ? n : v; // a non-number goes to the API, which names the field
  }

  function body() {
    const [sigName, tsName] = dialectHeaders();
    const b = {
      name: name.value.trim(),
      description: description.value,
      url: url.value.trim(),
      method: method.value,
      content_type: ctype.value,
      max_attempts: numberOr(maxAttempts, 4),
      enabled: status.value === 'active',
      events: selectedEvents(),
      headers: headersObject(),
      rate_limit: numberOr(rateLimit, 0),
      max_in_flight: numberOr(maxInFlight, 8),
      kind: kind.value,
      signature_scheme: scheme.value,
      payload_format: payloadFormat.value,
      signature_header: sigName,
      timestamp_header: tsName,
    };
    if (secret.value.trim()) b.secret = secret.value.trim();
    return b;
  }

  // On edit only what changed is sent, so a field the person left alone is
  // never re-validated (or blamed) against the new values of the others.
  const sameAs = (k, v) => {
    let old = w[k] ?? null;
    if (k === 'description') old = old || '';
    if (k === 'events') return JSON.stringify([...v].sort()) === JSON.stringify([...(old || [])].sort());
    return JSON.stringify(v) === JSON.stringify(old);
  };
  function changes(b) {
    return Object.fromEntries(Object.entries(b).filter(([k, v]) => k === 'secret' || !sameAs(k, v)));
  }

  function clearErrors() {
    for (const f of Object.values(fields)) f.setError('');
    formError.hidden = true;
  }

  // "headers.X-Foo" and "events[2]" blame the headers and events fields;
  // the aliases the API accepts map back to the form's controls.
  function fieldFor(apiField) {
    const base = String(apiField || '').split(/[.[]/)[0];
    const alias = { event: 'events', isEnabled: 'enabled', status: 'enabled' };
    return fields[alias[base] || base] || null;
  }

  async function onSubmit(e) {
    e.preventDefault();
    clearErrors();
    submit.disabled = true;
    const b = body();
    try {
      const saved = editing
        ? await api('PATCH', `/v1/webhooks/${encodeURIComponent(id)}`, { body: changes(b) })
        : await api('POST', '/v1/webhooks', { body: b });
      toast(editing ? 'Webhook saved' : `Webhook “${saved.name}” created`, 'ok');
      ctx.navigate(`#/webhooks/${encodeURIComponent(saved.id || id)}`);
    } catch (err) {
      submit.disabled = false;
      if (err.status === 401 || !ctx.alive()) return;
      const f = err.field ? fieldFor(err.field) : null;
      if (f) {
        f.setError(err.message);
        if (f.input.closest('details')) f.input.closest('details').open = true;
        f.input.focus();
      } else {
        mount(formError, err.message);
        formError.hidden = false;
        formError.scrollIntoView({ block: 'nearest' });
      }
    }
  }

  const title = editing ? `Edit ${w.name}` : 'Create webhook';
  mount(
    main,
    pageHeader(title, {
      crumbs: editing
        ? [['Webhooks', '#/webhooks'], [w.name, `#/webhooks/${encodeURIComponent(id)}`], ['Edit']]
        : [['Webhooks', '#/webhooks'], ['Create webhook']],
    }),
    form,
  );
  name.focus();
}
