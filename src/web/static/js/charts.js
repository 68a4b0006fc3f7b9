// charts.js — small hand-drawn SVG charts for the overview: stacked bars
// (deliveries per minute) and lines with gaps (success rate, latency).
// Each chart is an <svg role="img"> with a summary label; every bar and
// point has a <title> for its exact value.

import { fmtClock, s } from './dom.js';

// Charts are drawn at the pixel width of their box (the caller passes it
// and draws again when the box is resized), so text keeps its size.
const PAD = { top: 12, right: 14, bottom: 26, left: 48 };

// A "nice" upper bound and ticks for a y axis starting at 0.
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  return { top: step * Math.ceil(max / step), step };
}

function frame({ label, yTop, yStep, yFormat, points, width, height }) {
  const W = Math.max(240, Math.round(width || 640));
  const H = height || 200;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart', role: 'img', 'aria-label': label },
    s('title', null, label),
  );
  const grid = s('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= yTop + 1e-9; v += yStep) {
    const y = PAD.top + ih - (v / yTop) * ih;
    grid.append(
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      s('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-axis' }, yFormat(v)),
    );
  }
  // Time labels spaced for the width (about one per 110 px), the last one
  // kept inside the box.
  const n = points.length;
  const span = n > 1 ? (points[1].date - points[0].date) / 60000 : 1; // minutes per bucket
  const want = Math.ceil((n * span) / Math.max(2, Math.floor(iw / 110)));
  const every = [1, 2, 5, 10, 15, 20, 30, 60, 120, 240].find((m) => m >= want) || want;
  for (let i = 0; i < n; i++) {
    // On round clock minutes (…:10, …:20) rather than every k-th bucket.
    if (Math.round(points[i].date.getTime() / 60000) % every !== 0) continue;
    const x = PAD.left + ((i + 0.5) / n) * iw;
    const anchor = x > W - PAD.right - 30 ? 'end' : x < PAD.left + 20 ? 'start' : 'middle';
    grid.append(
      s('text', { x, y: H - 8, 'text-anchor': anchor, class: 'chart-axis' }, fmtClock(points[i].date)),
    );
  }
  svg.append(grid);
  const x = (i) => PAD.left + ((i + 0.5) / n) * iw;
  const y = (v) => PAD.top + ih - (Math.min(v, yTop) / yTop) * ih;
  return { svg, x, y, iw, ih, n };
}

// points: [{date, ok, bad}]
export function stackedBars(points, { label, width, height }) {
  const max = Math.max(0, ...points.map((p) => p.ok + p.bad));
  const { top, step } = niceScale(max);
  const yStep = Math.max(step, top <= 4 ? 1 : step);
  const f = frame({
    label,
    yTop: top,
    yStep,
    yFormat: (v) => (Number.isInteger(v) ? String(v) : ''),
    points,
    width,
    height,
  });
  const bw = Math.max(1, (f.iw / f.n) * 0.72);
  const bars = s('g', { class: 'chart-bars' });
  points.forEach((p, i) => {
    if (p.ok + p.bad === 0) return;
    const x0 = f.x(i) - bw / 2;
    const yOk = f.y(p.ok);
    const yAll = f.y(p.ok + p.bad);
    const tip = `${fmtClock(p.date)}: ${p.ok} succeeded, ${p.bad} failed`;
    if (p.ok)
      bars.append(
        s('rect', { x: x0, y: yOk, width: bw, height: f.y(0) - yOk, class: 'bar-ok' }, s('title', null, tip)),
      );
    if (p.bad)
      bars.append(
        s('rect', { x: x0, y: yAll, width: bw, height: yOk - yAll, class: 'bar-bad' }, s('title', null, tip)),
      );
  });
  f.svg.append(bars);
  return f.svg;
}

// points: [{date, value|null}]; null values leave gaps (no attempts then).
export function lineChart(points, { label, yMax, yFormat, tipFormat, cls = 'line-main', width, height }) {
  const vals = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const { top, step } = yMax ? { top: yMax, step: yMax / 4 } : niceScale(Math.max(0, ...vals));
  const f = frame({ label, yTop: top, yStep: step, yFormat, points, width, height });
  const g = s('g', { class: `chart-line ${cls}` });
  let d = '';
  let pen = false;
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${f.x(i).toFixed(1)},${f.y(p.value).toFixed(1)}`;
    pen = true;
  });
  if (d) g.append(s('path', { d, class: 'line' }));
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) return;
    g.append(
      s(
        'circle',
        { cx: f.x(i), cy: f.y(p.value), r: 2.5, class: 'dot' },
        s('title', null, `${fmtClock(p.date)}: ${tipFormat(p.value)}`),
      ),
    );
  });
  f.svg.append(g);
  return f.svg;
}
