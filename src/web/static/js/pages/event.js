// event.js — one event: its payload and, for each webhook it went to, the
// delivery's status and every attempt, with "Resend".

import { api } from '../api.js';
import { h, icon, mount, timeEl } from '../dom.js';
import { badge, codeBlock, emptyState, pageHeader } from '../ui.js';
import { attemptTable, resendDelivery } from './log.js';

const STATUS = {
  succeeded: ['Succeeded', 'ok'],
  failed: ['Failed', 'bad'],
  pending: ['Pending', 'warn'],
  in_flight: ['Sending', 'info'],
};

export async function renderEvent(main, ctx) {
  const id = ctx.params[0];
  const ev = await api('GET', `/v1/events/${encodeURIComponent(id)}`, { signal: ctx.signal });
  if (!ctx.alive()) return;
  document.title = `${ev.type} · ${ev.id} · herald`;
  const deliveries = ev.deliveries || [];

  // Webhook names for the headings; a deleted webhook keeps its id.
  const names = new Map();
  await Promise.all(
    [...new Set(deliveries.map((d) => d.webhook_id))].map(async (wid) => {
      try {
        names.set(
          wid,
          (await api('GET', `/v1/webhooks/${encodeURIComponent(wid)}`, { signal: ctx.signal })).name,
        );
      } catch {
        /* keep the id */
      }
    }),
  );
  if (!ctx.alive()) return;

  const refresh = () => ctx.navigate(location.hash);
  // What herald sent: the attempts of an event carry no payload of their own.
  const body = { id: ev.id, type: ev.type, timestamp: ev.timestamp, data: ev.data };
  function deliveryCard(d) {
    const [label, kind] = STATUS[d.status] || [d.status || 'unknown', 'neutral'];
    const wname = names.get(d.webhook_id);
    const attempts = (d.attempts || []).map((a) => ({
      delivery_id: d.id,
      event_id: ev.id,
      event_type: ev.type,
      ...a,
    }));
    attempts.sort((x, y) => (y.attempt ?? y.n ?? 0) - (x.attempt ?? x.n ?? 0));
    const resend = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-sm',
        dataset: { delivery: d.id },
        onclick: async (e) => {
          if (await resendDelivery(d.id, e.currentTarget)) setTimeout(refresh, 800);
        },
      },
      'Resend',
    );
    return h(
      'section',
      { class: 'card delivery', dataset: { delivery: d.id } },
      h(
        'div',
        { class: 'section-head' },
        h(
          'h2',
          null,
          wname
            ? h('a', { href: `#/webhooks/${encodeURIComponent(d.webhook_id)}/log` }, wname)
            : h('code', null, d.webhook_id),
        ),
        badge(label, kind),
        h('span', { class: 'grow' }),
        resend,
      ),
      h(
        'p',
        { class: 'muted small' },
        'Delivery ',
        h('code', null, d.id),
        ` · ${attempts.length} ${attempts.length === 1 ? 'attempt' : 'attempts'}`,
      ),
      attempts.length
        ? attemptTable(attempts, { payloadFallback: body, showType: false })
        : h('p', { class: 'muted' }, 'No attempt yet.'),
    );
  }

  mount(
    main,
    pageHeader(ev.type, {
      crumbs: [['Webhooks', '#/webhooks'], ['Event'], [ev.id]],
      subtitle: h('span', null, h('code', null, ev.id), ' · ', timeEl(ev.timestamp ?? ev.created_at)),
      actions: h('button', { type: 'button', class: 'btn', onclick: refresh }, icon('refresh'), 'Refresh'),
    }),
    h('section', { class: 'card' }, h('h2', null, 'Payload'), codeBlock(ev.data ?? null, 'Event data')),
    deliveries.length
      ? deliveries.map(deliveryCard)
      : h(
          'section',
          { class: 'card' },
          emptyState(
            'No deliveries',
            'No enabled webhook was subscribed to this event type when it was published.',
          ),
        ),
  );
}
