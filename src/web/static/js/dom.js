// dom.js — building DOM nodes without innerHTML, and formatting values.
//
// Everything the API returns (names, payloads, response bodies) may be
// attacker-controlled text, so the dashboard never parses strings as HTML:
// h() creates elements and puts text in text nodes.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('button', {class: 'btn', onclick: fn, 'aria-label': 'x'}, 'text', node, …)
// Attribute values of null, undefined or false are skipped; true sets the
// attribute empty. Keys starting with "on" add event listeners; "dataset"
// takes an object; "value", "checked", "selected" and "disabled" set
// properties. Children may be strings, numbers, nodes, arrays or null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

// The same for SVG elements (charts, icons).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'indeterminate']);

function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (PROPS.has(k)) {
      el[k] = v;
    } else if (v === false) {
      continue;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replaces el's children.
export function mount(el, ...children) {
  clear(el);
  return append(el, children);
}

// Small line icons (24×24, stroke), drawn from path data.
const ICONS = {
  webhook:
    'M18 16.98h-5.99c-1.1 0-1.95.94-2.48 1.9A4 4 0 0 1 2 17c.01-.7.2-1.4.57-2M6 17l3.13-5.78c.53-.97.1-2.18-.5-3.1a4 4 0 1 1 6.89-4.06M12 6l3.13 5.73C15.66 12.7 16.9 13 18 13a4 4 0 0 1 0 8',
  chart: 'M3 3v18h18M7 16v-5M12 16V8M17 16v-8',
  menu: 'M4 6h16M4 12h16M4 18h16',
  plus: 'M12 5v14M5 12h14',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  chevron: 'M9 18l6-6-6-6',
  copy: 'M8 8h12v12H8zM4 16V4h12',
  refresh: 'M21 12a9 9 0 1 1-2.64-6.36L21 8M21 3v5h-5',
  send: 'M22 2L11 13M22 2l-7 20-4-9-9-4z',
  close: 'M18 6L6 18M6 6l12 12',
  key: 'M21 2l-2 2m-7.6 7.6a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0l3 3L22 7l-3-3m-3.5 3.5L19 4',
};

export function icon(name, label) {
  const svg = s(
    'svg',
    {
      class: 'icon',
      viewBox: '0 0 24 24',
      width: 18,
      height: 18,
      fill: 'none',
      stroke: 'currentColor',
      'stroke-width': 2,
      'stroke-linecap': 'round',
      'stroke-linejoin': 'round',
      'aria-hidden': label ? null : 'true',
      role: label ? 'img' : null,
      'aria-label': label || null,
      focusable: 'false',
    },
    s('path', { d: ICONS[name] || '' }),
  );
  return svg;
}

// ---- time ----

const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

export function parseTime(v) {
  if (v === null || v === undefined || v === '' || v === 0) return null;
  const d = typeof v === 'number' ? new Date(v > 1e12 ? v : v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

// "Mar 29, 2024, 18:05:50" in the viewer's zone, or "—".
export function fmtTime(v) {
  const d = parseTime(v);
  return d ? dateTimeFmt.format(d) : '—';
}

export function fmtClock(d) {
  return timeFmt.format(d);
}

// "5 minutes ago"
export function fmtRelative(v, now = Date.now()) {
  const d = parseTime(v);
  if (!d) return 'never';
  const sec = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(sec);
  if (abs < 45) return relFmt.format(sec, 'second');
  if (abs < 2700) return relFmt.format(Math.round(sec / 60), 'minute');
  if (abs < 64800) return relFmt.format(Math.round(sec / 3600), 'hour');
  if (abs < 2592000) return relFmt.format(Math.round(sec / 86400), 'day');
  return dateTimeFmt.format(d);
}

// A <time> element showing the relative time, the full one on hover.
export function timeEl(v, { relative = false } = {}) {
  const d = parseTime(v);
  if (!d) return h('span', { class: 'muted' }, relative ? 'never' : '—');
  return h(
    'time',
    { datetime: d.toISOString(), title: `${dateTimeFmt.format(d)} (${timeZone})` },
    relative ? fmtRelative(d) : dateTimeFmt.format(d),
  );
}

// Value for <input type="datetime-local"> from a Date, in the viewer's zone.
export function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// RFC 3339 (UTC) from a datetime-local value, which is in the viewer's zone.
export function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---- numbers ----

const numFmt = new Intl.NumberFormat();
export function fmtNum(n) {
  return n === null || n === undefined || Number.isNaN(n) ? '—' : numFmt.format(n);
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  return `${numFmt.format(Math.round(ms))} ms`;
}

export function fmtPct(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  return `${(x * 100).toFixed(x >= 0.9995 || x === 0 ? 0 : 1)}%`;
}

// Pretty JSON for display; strings that are not JSON are shown as they are.
export function prettyJson(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return JSON.stringify(v, null, 2);
}
