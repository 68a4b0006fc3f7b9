// overview.js — the last hour at a glance: deliveries per minute, success
// rate and mean latency (GET /v1/stats?window=3600), and the webhooks that
// are failing or disabled.

import { api, attemptOk, itemsOf } from '../api.js';
import { fmtClock, fmtMs, fmtNum, fmtPct, h, icon, mount, parseTime, timeEl } from '../dom.js';
import { lineChart, stackedBars } from '../charts.js';
import { badge, emptyState, errorState, pageHeader, spinner } from '../ui.js';

const WINDOW = 3600;

// The API may leave out empty buckets: lay the whole window out, one slot
// per bucket, so the x axis is time and gaps show as gaps.
export function fillBuckets(stats, now = Date.now()) {
  const size = (stats.bucket_seconds || 60) * 1000;
  const byStart = new Map();
  for (const b of stats.buckets || []) {
    const t = parseTime(b.start);
    if (t) byStart.set(Math.floor(t.getTime() / size) * size, b);
  }
  const first = parseTime(stats.since);
  let start = Math.floor((first ? first.getTime() : now - WINDOW * 1000) / size) * size;
  const end = Math.floor(now / size) * size;
  const out = [];
  for (; start <= end && out.length < 1440; start += size) {
    const b = byStart.get(start) || {};
    const attempts = b.attempts || 0;
    const succeeded = b.succeeded || 0;
    const failed = b.failed ?? Math.max(0, attempts - succeeded);
    out.push({
      date: new Date(start),
      attempts,
      succeeded,
      failed,
      avg_ms: attempts ? (b.avg_ms ?? null) : null,
      max_ms: b.max_ms || 0,
    });
  }
  return out;
}

function tile(label, value, sub) {
  return h(
    'div',
    { class: 'tile' },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value' }, value),
    sub ? h('div', { class: 'tile-sub muted' }, sub) : null,
  );
}

function statsView(stats) {
  const pts = fillBuckets(stats);
  const attempts = pts.reduce((n, p) => n + p.attempts, 0);
  const ok = pts.reduce((n, p) => n + p.succeeded, 0);
  const failed = pts.reduce((n, p) => n + p.failed, 0);
  const msSum = pts.reduce((n, p) => n + (p.avg_ms ?? 0) * p.attempts, 0);
  const maxMs = pts.reduce((m, p) => Math.max(m, p.max_ms), 0);
  const rate = attempts ? ok / attempts : null;
  const mean = attempts ? msSum / attempts : null;
  const range = pts.length ? `${fmtClock(pts[0].date)}–${fmtClock(pts[pts.length - 1].date)}` : '';

  const tiles = h(
    'div',
    { class: 'tiles' },
    tile('Attempts', fmtNum(attempts), `${fmtNum(failed)} failed`),
    tile('Success rate', fmtPct(rate), attempts ? `${fmtNum(ok)} succeeded` : 'no attempts'),
    tile('Mean latency', fmtMs(mean), maxMs ? `slowest ${fmtMs(maxMs)}` : null),
  );

  // Each chart is drawn once its box has a width, and again when the box
  // changes width (window resized, sidebar folded).
  if (attempts === 0) {
    return h(
      'div',
      { class: 'overview-stats' },
      tiles,
      h(
        'section',
        { class: 'card' },
        emptyState(
          'No deliveries in the last hour',
          'Charts of deliveries per minute, success rate and latency appear here once events are delivered.',
        ),
      ),
    );
  }

  const chartCard = (title, legend, draw) => {
    const box = h('div', { class: 'chart-box' });
    let drawn = 0;
    const paint = () => {
      const w = Math.round(box.clientWidth);
      if (w > 0 && Math.abs(w - drawn) > 4) {
        drawn = w;
        mount(box, draw(w));
      }
    };
    new ResizeObserver(paint).observe(box);
    return h(
      'section',
      { class: 'card chart-card' },
      h('div', { class: 'section-head' }, h('h2', null, title), legend || null),
      box,
    );
  };

  const perMinute = (width) =>
    stackedBars(
      pts.map((p) => ({ date: p.date, ok: p.succeeded, bad: p.failed })),
      {
        label: `Deliveries per minute, ${range}: ${attempts} attempts, ${failed} failed`,
        width,
        height: 220,
      },
    );
  const success = (width) =>
    lineChart(
      pts.map((p) => ({ date: p.date, value: p.attempts ? p.succeeded / p.attempts : null })),
      {
        label: `Success rate per minute, ${range}: ${fmtPct(rate)} overall`,
        yMax: 1,
        width,
        yFormat: (v) => `${Math.round(v * 100)}%`,
        tipFormat: (v) => fmtPct(v),
        cls: 'line-ok',
      },
    );
  const latency = (width) =>
    lineChart(
      pts.map((p) => ({ date: p.date, value: p.avg_ms })),
      {
        label: `Mean latency per minute, ${range}: ${fmtMs(mean)} overall`,
        width,
        yFormat: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}`),
        tipFormat: (v) => fmtMs(v),
      },
    );
  const legend = h(
    'span',
    { class: 'legend' },
    h('span', { class: 'key key-ok' }, 'Succeeded'),
    h('span', { class: 'key key-bad' }, 'Failed'),
  );
  return h(
    'div',
    { class: 'overview-stats' },
    tiles,
    chartCard('Deliveries per minute', legend, perMinute),
    h(
      'div',
      { class: 'grid-2 card-grid' },
      chartCard('Success rate', null, success),
      chartCard('Mean latency (ms)', null, latency),
    ),
  );
}

// Runs fn over items, at most `limit` at a time.
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        out[k] = await fn(items[k]);
      }
    }),
  );
  return out;
}

// Webhooks whose latest attempts fail. When the API gives failing_since on
// the webhook, that says it; otherwise the newest page of its log does.
async function failingWebhooks(signal) {
  const list = itemsOf(
    await api('GET', '/v1/webhooks', {
      signal,
      query: { enabled: 'true', order: '-last_execution_at', count: 100 },
    }),
  );
  const rows = await pool(list, 4, async (w) => {
    if ('failing_since' in w) {
      if (!w.failing_since) return null;
      return { w, since: w.failing_since, streak: null, last: null };
    }
    const log = await api('GET', `/v1/webhooks/${encodeURIComponent(w.id)}/log`, {
      signal,
      query: { count: 20 },
    }).catch(() => null);
    const items = itemsOf(log);
    if (!items.length || attemptOk(items[0])) return null;
    let streak = 0;
    while (streak < items.length && !attemptOk(items[streak])) streak++;
    return { w, since: items[streak - 1].created_at ?? items[streak - 1].started_at, streak, last: items[0] };
  });
  return rows.filter(Boolean);
}

function failingView(rows) {
  if (!rows.length)
    return emptyState('No failing webhook', 'Every active webhook’s latest attempt succeeded.');
  return h(
    'ul',
    { class: 'issue-list' },
    rows.map(({ w, since, streak, last }) =>
      h(
        'li',
        { class: 'issue' },
        h(
          'div',
          null,
          h(
            'a',
            { class: 'strong', href: `#/webhooks/${encodeURIComponent(w.id)}/log?status=failure` },
            w.name,
          ),
          h('div', { class: 'muted small' }, h('code', { class: 'break' }, w.url)),
        ),
        h(
          'div',
          { class: 'issue-meta' },
          badge(streak === null ? 'failing' : `${streak}${streak >= 20 ? '+' : ''} failed in a row`, 'bad'),
          last
            ? h(
                'span',
                { class: 'small muted' },
                last.response_code ? `HTTP ${last.response_code}` : last.error || 'no response',
              )
            : null,
          since
            ? h('span', { class: 'small muted' }, 'first failed ', timeEl(since, { relative: true }))
            : null,
        ),
      ),
    ),
  );
}

function disabledView(list) {
  if (!list.length)
    return emptyState(
      'No disabled webhook',
      'Webhooks disabled by a user or by herald (410 Gone, failing for days) show here.',
    );
  return h(
    'ul',
    { class: 'issue-list' },
    list.map((w) =>
      h(
        'li',
        { class: 'issue' },
        h(
          'div',
          null,
          h('a', { class: 'strong', href: `#/webhooks/${encodeURIComponent(w.id)}` }, w.name),
          h('div', { class: 'muted small' }, h('code', { class: 'break' }, w.url)),
        ),
        h(
          'div',
          { class: 'issue-meta' },
          w.disabled_reason ? badge('Disabled by herald', 'warn') : badge('Disabled', 'neutral'),
          h('span', { class: 'small' }, w.disabled_reason || 'Turned off by a user'),
          h('span', { class: 'small muted' }, 'changed ', timeEl(w.modified_at, { relative: true })),
        ),
      ),
    ),
  );
}

// Loads into slot, showing a spinner, then the view or an error box.
async function section(ctx, slot, load, view) {
  mount(slot, spinner());
  try {
    const data = await load();
    if (ctx.alive()) mount(slot, view(data));
  } catch (e) {
    if (e.name === 'AbortError' || !ctx.alive() || e.status === 401) return;
    if (e.status === 404 && slot.dataset.optional) {
      mount(
        slot,
        h(
          'div',
          { class: 'state' },
          h('p', { class: 'muted' }, 'This herald does not report statistics (GET /v1/stats).'),
        ),
      );
      return;
    }
    mount(
      slot,
      errorState(e, () => section(ctx, slot, load, view)),
    );
  }
}

export async function renderOverview(main, ctx) {
  document.title = 'Overview · herald';
  const statsSlot = h('div', { class: 'stats-slot', dataset: { optional: '1' } });
  const failingSlot = h('div');
  const disabledSlot = h('div');
  const updated = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const refresh = () => {
    mount(updated, `Updated ${fmtClock(new Date())}`);
    return Promise.all([
      section(
        ctx,
        statsSlot,
        () => api('GET', '/v1/stats', { signal: ctx.signal, query: { window: WINDOW } }),
        statsView,
      ),
      section(ctx, failingSlot, () => failingWebhooks(ctx.signal), failingView),
      section(
        ctx,
        disabledSlot,
        async () =>
          itemsOf(
            await api('GET', '/v1/webhooks', {
              signal: ctx.signal,
              query: { enabled: 'false', order: '-modified_at', count: 100 },
            }),
          ),
        disabledView,
      ),
    ]);
  };
  mount(
    main,
    pageHeader('Overview', {
      subtitle: 'Deliveries over the last hour, in your time zone.',
      actions: [
        updated,
        h('button', { type: 'button', class: 'btn', onclick: refresh }, icon('refresh'), 'Refresh'),
      ],
    }),
    statsSlot,
    h(
      'div',
      { class: 'grid-2 card-grid' },
      h('section', { class: 'card' }, h('h2', null, 'Failing webhooks'), failingSlot),
      h('section', { class: 'card' }, h('h2', null, 'Disabled webhooks'), disabledSlot),
    ),
  );
  await refresh();
}
