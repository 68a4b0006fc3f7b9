// webhooks.js — the webhook list: search by name, filter by event and
// status, sort by the seed-004 fields, page through, enable or disable.

import { api, eventTypes } from '../api.js';
import { h, icon, mount, timeEl } from '../dom.js';
import { chips, emptyState, errorState, pageHeader, pager, select, spinner, toast } from '../ui.js';

const ORDERS = [
  ['name', 'Name'],
  ['description', 'Description'],
  ['last_execution_at', 'Last execution'],
  ['enabled', 'Status'],
  ['created_at', 'Created'],
  ['modified_at', 'Modified'],
];
const COUNTS = [20, 25, 50, 100];

function stateFrom(query) {
  const count = Number(query.get('count'));
  const order = query.get('order') || 'name';
  return {
    name: query.get('name') || '',
    event: query.get('event') || '',
    enabled: ['true', 'false'].includes(query.get('enabled')) ? query.get('enabled') : '',
    order: ORDERS.some(([o]) => o === order.replace(/^-/, '')) ? order : 'name',
    page: Math.max(0, Number.parseInt(query.get('page'), 10) || 0),
    count: COUNTS.includes(count) ? count : 20,
  };
}

export async function renderWebhooks(main, ctx) {
  document.title = 'Webhooks · herald';
  const st = stateFrom(ctx.query);
  const results = h('div', { class: 'results', 'aria-live': 'polite', 'aria-busy': 'false' });

  const nameInput = h('input', {
    type: 'search',
    id: 'wh-search',
    value: st.name,
    placeholder: 'Search by name',
    autocomplete: 'off',
  });
  const eventSel = select([['', 'All events']], st.event, { id: 'wh-event' });
  const statusSel = select(
    [
      ['', 'Any status'],
      ['true', 'Active'],
      ['false', 'Inactive'],
    ],
    st.enabled,
    { id: 'wh-status' },
  );
  const orderSel = select(ORDERS, st.order.replace(/^-/, ''), { id: 'wh-order' });
  const dirBtn = h('button', { type: 'button', class: 'btn btn-sm', id: 'wh-dir' });
  const countSel = select(
    COUNTS.map((c) => [c, `${c} per page`]),
    st.count,
    { id: 'wh-count', 'aria-label': 'Webhooks per page' },
  );

  function paintDir() {
    const desc = st.order.startsWith('-');
    dirBtn.textContent = desc ? '↓ Descending' : '↑ Ascending';
    dirBtn.setAttribute('aria-label', `Sort direction: ${desc ? 'descending' : 'ascending'}. Change`);
  }
  paintDir();

  let timer = 0;
  nameInput.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      st.name = nameInput.value.trim();
      st.page = 0;
      load();
    }, 250);
  });
  eventSel.addEventListener('change', () => {
    st.event = eventSel.value;
    st.page = 0;
    load();
  });
  statusSel.addEventListener('change', () => {
    st.enabled = statusSel.value;
    st.page = 0;
    load();
  });
  orderSel.addEventListener('change', () => {
    st.order = (st.order.startsWith('-') ? '-' : '') + orderSel.value;
    st.page = 0;
    paintDir();
    load();
  });
  dirBtn.addEventListener('click', () => {
    st.order = st.order.startsWith('-') ? st.order.slice(1) : `-${st.order}`;
    paintDir();
    load();
  });
  countSel.addEventListener('change', () => {
    st.count = Number(countSel.value);
    st.page = 0;
    load();
  });

  const filters = h(
    'form',
    {
      class: 'toolbar',
      role: 'search',
      'aria-label': 'Filter webhooks',
      onsubmit: (e) => e.preventDefault(),
    },
    h(
      'div',
      { class: 'tool tool-grow' },
      h('label', { for: 'wh-search', class: 'sr-only' }, 'Search by name'),
      nameInput,
    ),
    h('div', { class: 'tool' }, h('label', { for: 'wh-event' }, 'Event'), eventSel),
    h('div', { class: 'tool' }, h('label', { for: 'wh-status' }, 'Status'), statusSel),
    h('div', { class: 'tool' }, h('label', { for: 'wh-order' }, 'Sort by'), orderSel, dirBtn),
  );

  mount(
    main,
    pageHeader('Webhooks', {
      subtitle: 'Endpoints that receive your events, signed and retried.',
      actions: h('a', { class: 'btn btn-primary', href: '#/webhooks/new' }, icon('plus'), 'Create webhook'),
    }),
    h('section', { class: 'card' }, filters, results),
  );

  eventTypes(ctx.signal)
    .then((types) => {
      for (const t of types)
        eventSel.append(h('option', { value: t.name, selected: t.name === st.event }, t.name));
    })
    .catch(() => {
      /* the filter still works without the list */
    });

  function filtered() {
    return st.name || st.event || st.enabled;
  }

  async function load() {
    ctx.setQuery({
      name: st.name,
      event: st.event,
      enabled: st.enabled,
      order: st.order === 'name' ? '' : st.order,
      page: st.page || '',
      count: st.count === 20 ? '' : st.count,
    });
    results.setAttribute('aria-busy', 'true');
    if (!results.firstChild) mount(results, spinner());
    let data;
    try {
      data = await api('GET', '/v1/webhooks', {
        signal: ctx.signal,
        query: {
          name: st.name,
          event: st.event,
          enabled: st.enabled,
          order: st.order,
          page: st.page,
          count: st.count,
        },
      });
    } catch (e) {
      if (e.name === 'AbortError' || !ctx.alive()) return;
      if (e.status === 401) return;
      mount(results, errorState(e, load));
      results.setAttribute('aria-busy', 'false');
      return;
    }
    if (!ctx.alive()) return;
    results.setAttribute('aria-busy', 'false');
    const items = data.items || [];
    const total = data.total ?? items.length;
    if (items.length === 0 && st.page > 0 && total > 0) {
      st.page = 0;
      load();
      return;
    }
    if (total === 0) {
      mount(
        results,
        filtered()
          ? emptyState(
              'No webhook matches these filters',
              'Try another name, event or status.',
              h('button', { type: 'button', class: 'btn', onclick: clearFilters }, 'Clear filters'),
            )
          : emptyState(
              'No webhooks yet',
              'Create a webhook to start receiving events at your endpoint.',
              h('a', { class: 'btn btn-primary', href: '#/webhooks/new' }, icon('plus'), 'Create webhook'),
            ),
      );
      return;
    }
    mount(
      results,
      table(items),
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
            main.querySelector('h1').scrollIntoView();
          },
        }),
        h('div', { class: 'tool' }, countSel),
      ),
    );
  }

  function clearFilters() {
    st.name = '';
    st.event = '';
    st.enabled = '';
    st.page = 0;
    nameInput.value = '';
    eventSel.value = '';
    statusSel.value = '';
    load();
    nameInput.focus();
  }

  function sortHeader(key, label, cls) {
    const cur = st.order.replace(/^-/, '');
    const desc = st.order.startsWith('-');
    const sorted = cur === key;
    return h(
      'th',
      { scope: 'col', class: cls || null, 'aria-sort': sorted ? (desc ? 'descending' : 'ascending') : null },
      h(
        'button',
        {
          type: 'button',
          class: 'th-sort',
          onclick: () => {
            st.order = sorted && !desc ? `-${key}` : key;
            st.page = 0;
            orderSel.value = key;
            paintDir();
            load();
          },
        },
        label,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (desc ? ' ↓' : ' ↑') : ''),
      ),
    );
  }

  function table(items) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table' },
        h('caption', { class: 'sr-only' }, 'Webhooks'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            sortHeader('name', 'Name'),
            h('th', { scope: 'col', class: 'col-wide' }, 'Callback URL'),
            h('th', { scope: 'col', class: 'col-wide' }, 'Events'),
            sortHeader('enabled', 'Status'),
            sortHeader('last_execution_at', 'Last execution'),
            sortHeader('created_at', 'Created', 'col-wide'),
          ),
        ),
        h('tbody', null, items.map(row)),
      ),
    );
  }

  function row(w) {
    const toggle = h('button', {
      type: 'button',
      role: 'switch',
      class: 'switch',
      'aria-checked': String(!!w.enabled),
      'aria-label': `${w.name}: ${w.enabled ? 'active' : 'inactive'}`,
      title: w.enabled ? 'Active: click to disable' : 'Inactive: click to enable',
      onclick: async () => {
        toggle.disabled = true;
        try {
          const nw = await api('PATCH', `/v1/webhooks/${encodeURIComponent(w.id)}`, {
            body: { enabled: !w.enabled },
          });
          w.enabled = nw && typeof nw.enabled === 'boolean' ? nw.enabled : !w.enabled;
          toggle.setAttribute('aria-checked', String(w.enabled));
          toggle.setAttribute('aria-label', `${w.name}: ${w.enabled ? 'active' : 'inactive'}`);
          toggle.title = w.enabled ? 'Active: click to disable' : 'Inactive: click to enable';
          toast(`${w.name} ${w.enabled ? 'enabled' : 'disabled'}`, 'ok');
        } catch (e) {
          if (e.status !== 401) toast(`Could not change ${w.name}: ${e.message}`, 'error');
        } finally {
          toggle.disabled = false;
        }
      },
    });
    return h(
      'tr',
      null,
      h(
        'td',
        null,
        h('a', { href: `#/webhooks/${encodeURIComponent(w.id)}`, class: 'strong' }, w.name || w.id),
        w.description ? h('div', { class: 'muted small clamp' }, w.description) : null,
        w.disabled_reason ? h('div', { class: 'small text-bad' }, `Disabled: ${w.disabled_reason}`) : null,
      ),
      h('td', { class: 'col-wide' }, h('code', { class: 'url', title: w.url }, w.url)),
      h('td', { class: 'col-wide' }, chips(w.events)),
      h('td', null, toggle),
      h(
        'td',
        null,
        timeEl(w.last_execution_at, { relative: true }),
        h(
          'div',
          null,
          h('a', { class: 'small', href: `#/webhooks/${encodeURIComponent(w.id)}/log` }, 'Delivery log'),
        ),
      ),
      h('td', { class: 'col-wide' }, timeEl(w.created_at, { relative: true })),
    );
  }

  await load();
}
