// Small SVG charts drawn from data: a line chart, a scatter with a frontier, horizontal bars.
// Every label goes in as text (its bidi controls as marks: text.js); nothing is parsed as markup.
import { clip, textNodes, unbidi } from "./text.js";

const NS = "http://www.w3.org/2000/svg";
const tspan = () => document.createElementNS(NS, "tspan");

export function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text === undefined) return node;
  // a label of 100 KB (a model id, a task) drawn whole would be 100 KB of glyphs in the chart
  if (tag === "title") node.textContent = unbidi(clip(text, 3200)); // a tooltip: text only
  else node.append(...textNodes(clip(text, 160), tspan));
  return node;
}

function extent(values, pad = 0) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) { lo -= 1; hi += 1; }
  const span = hi - lo;
  return [lo - span * pad, hi + span * pad];
}

function niceTicks(lo, hi, n = 5) {
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

const STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

// ticks on round clock times, at most about six of them
function timeTicks(lo, hi) {
  const step = STEPS.find((s) => (hi - lo) / s <= 6) || 86400 * Math.ceil((hi - lo) / 86400 / 6);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return out;
}

function timeFormat(span) {
  return (t) => {
    const d = new Date(t * 1000);
    const hm = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (span > 2 * 86400) return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + d.toLocaleTimeString([], hm);
    return d.toLocaleTimeString([], span < 600 ? { ...hm, second: "2-digit" } : hm);
  };
}

// points: [[bucket start, value]], one bar per bucket of `bucket` seconds
export function barsOverTime(points, bucket, { width = 1100, height = 200, fmtY = String, name = "", cls = "" } = {}) {
  const { root, plot } = frame(width, height, { left: 64, right: 40, top: 28, bottom: 28 });
  if (points.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, class: "empty", "text-anchor": "middle" }, "no traffic in this range yet"));
    return root;
  }
  const last = Math.max(...points.map((p) => p[0])) + bucket;
  const x0 = Math.min(Math.min(...points.map((p) => p[0])), last - 6 * bucket);
  const vals = points.map((p) => p[1]);
  const ylo = Math.min(0, ...vals), yhi = Math.max(0, ...vals) * 1.1 || 1;
  const xs = (v) => plot.x0 + ((v - x0) / (last - x0)) * (plot.x1 - plot.x0);
  const ys = (v) => plot.y0 - ((v - ylo) / (yhi - ylo)) * (plot.y0 - plot.y1);
  axes(root, plot, xs, ys, timeFormat(last - x0), fmtY, timeTicks(x0, last), niceTicks(ylo, yhi, 4));
  const w = Math.max(2, (xs(bucket) - xs(0)) * 0.8);
  for (const [t, v] of points) {
    const top = ys(Math.max(v, 0)), bottom = ys(Math.min(v, 0));
    const bar = svg("rect", { x: xs(t) + (xs(bucket) - xs(0) - w) / 2, y: top, width: w, height: Math.max(1, bottom - top), class: `tbar ${cls}` });
    bar.append(svg("title", {}, `${timeFormat(last - x0)(t)}: ${fmtY(v)}`));
    root.append(bar);
  }
  root.append(svg("rect", { x: plot.x0 + 8, y: 6, width: 12, height: 4, class: `swatch ${cls}` }));
  root.append(svg("text", { x: plot.x0 + 26, y: 12, class: "legend-text" }, name));
  return root;
}

function frame(width, height, m) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const plot = { x0: m.left, x1: width - m.right, y0: height - m.bottom, y1: m.top };
  return { root, plot };
}

function axes(root, plot, xs, ys, fmtX, fmtY, xTicks, yTicks) {
  const g = svg("g", { class: "axes" });
  for (const t of yTicks) {
    const y = ys(t);
    g.append(svg("line", { x1: plot.x0, x2: plot.x1, y1: y, y2: y, class: "grid" }));
    g.append(svg("text", { x: plot.x0 - 6, y: y + 4, class: "tick", "text-anchor": "end" }, fmtY(t)));
  }
  for (const t of xTicks) {
    const x = xs(t);
    g.append(svg("line", { x1: x, x2: x, y1: plot.y0, y2: plot.y0 + 4, class: "axis" }));
    // a label centred on a tick at the y axis would run into the lowest y label: it starts there
    const atAxis = x - plot.x0 < 24;
    g.append(svg("text", { x: atAxis ? plot.x0 + 2 : x, y: plot.y0 + 16, class: "tick", "text-anchor": atAxis ? "start" : "middle" }, fmtX(t)));
  }
  g.append(svg("line", { x1: plot.x0, x2: plot.x1, y1: plot.y0, y2: plot.y0, class: "axis" }));
  root.append(g);
}

// series: [{name, cls, points: [[x, y], ...]}]; x is unix seconds. `domain`: the x range drawn
// ([from, to]: per-interval series on their intervals' range, not a lone point's second);
// `yRange`: a fixed y range (a grade's [0, 1])
export function lineChart(series, { width = 1100, height = 260, fmtY = String, title, domain, yRange } = {}) {
  const { root, plot } = frame(width, height, { left: 64, right: 40, top: 28, bottom: 28 });
  const all = series.flatMap((s) => s.points);
  if (title) root.append(svg("title", {}, title));
  if (all.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, class: "empty", "text-anchor": "middle" }, "no traffic in this range yet"));
    return root;
  }
  const [x0, x1] = domain || extent(all.map((p) => p[0]));
  const [ylo, y1] = yRange || [Math.min(0, ...all.map((p) => p[1])), extent(all.map((p) => p[1]), 0.08)[1]];
  const xs = (v) => plot.x0 + ((v - x0) / (x1 - x0)) * (plot.x1 - plot.x0);
  const ys = (v) => plot.y0 - ((v - ylo) / (y1 - ylo)) * (plot.y0 - plot.y1);
  const fmtX = timeFormat(x1 - x0);

  axes(root, plot, xs, ys, fmtX, fmtY, timeTicks(x0, x1), niceTicks(ylo, y1, 4));
  const legend = svg("g", { class: "legend" });
  // a slot per series (in the same place whether or not the others have points), as wide as
  // the longest name needs: names side by side never run into each other
  const slot = Math.max(170, 34 + CHAR_W * Math.max(0, ...series.map((s) => [...s.name].length)));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${xs(p[0]).toFixed(1)},${ys(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { d, class: `line ${s.cls}` }));
    for (const p of s.points.length <= 60 ? s.points : []) {
      root.append(svg("circle", { cx: xs(p[0]), cy: ys(p[1]), r: 2.5, class: `dot ${s.cls}` }));
    }
    const lx = plot.x0 + 8 + i * slot;
    legend.append(svg("rect", { x: lx, y: 6, width: 12, height: 4, class: `swatch ${s.cls}` }));
    legend.append(svg("text", { x: lx + 18, y: 12, class: "legend-text" }, s.name));
  });
  root.append(legend);
  return root;
}

// points: [{x, y, label, cls, onFrontier}], router: {x, y} | null; x on a log scale.
// `pointSteps`: an array the points' drawing is pushed to, in steps, instead of drawn now
const POINTS_A_STEP = 50;
export function paretoChart(points, router, { width = 520, height = 300, pointSteps } = {}) {
  const { root, plot } = frame(width, height, { left: 52, right: 90, top: 16, bottom: 40 });
  const shown = points.filter((p) => p.x > 0 && p.y !== null);
  const all = router ? [...shown, router] : shown;
  if (all.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, class: "empty", "text-anchor": "middle" }, "no graded answers yet"));
    return root;
  }
  const lx = all.map((p) => Math.log10(p.x));
  const [a, b] = extent(lx, 0.12);
  const ylo = Math.max(0, Math.min(...all.map((p) => p.y)) - 0.08);
  const yhi = Math.min(1.04, Math.max(...all.map((p) => p.y)) + 0.06);
  const xs = (v) => plot.x0 + ((Math.log10(v) - a) / (b - a)) * (plot.x1 - plot.x0);
  const ys = (v) => plot.y0 - ((v - ylo) / (yhi - ylo)) * (plot.y0 - plot.y1);
  const decades = [];
  for (let e = Math.floor(a); e <= Math.ceil(b); e++) if (e >= a && e <= b) decades.push(10 ** e);
  const xticks = decades.length >= 2 ? decades : [10 ** a, 10 ** ((a + b) / 2), 10 ** b];
  axes(root, plot, xs, ys, (t) => "$" + fmtSmall(t), (t) => t.toFixed(2), xticks, niceTicks(ylo, yhi, 4));
  root.append(svg("text", { x: (plot.x0 + plot.x1) / 2, y: height - 4, class: "axis-label", "text-anchor": "middle" }, "cost per request (log scale)"));
  root.append(svg("text", { x: 12, y: (plot.y0 + plot.y1) / 2, class: "axis-label", "text-anchor": "middle", transform: `rotate(-90 12 ${(plot.y0 + plot.y1) / 2})` }, "mean grade"));
  const front = shown.filter((p) => p.onFrontier).sort((p, q) => p.x - q.x);
  if (front.length > 1) {
    const d = front.map((p, j) => `${j ? "L" : "M"}${xs(p.x).toFixed(1)},${ys(p.y).toFixed(1)}`).join("");
    root.append(svg("path", { d, class: "frontier" }));
  }
  // labels only where they fit: the router's first, then the frontier's, then the busiest
  // models'; a point whose label would cross another (or leave the chart) keeps its name in
  // its tooltip and the table (500 labels drawn on 500 points were one black smudge)
  const room = new Labels([plot.x0, 0, width, plot.y0]); // right of the y ticks, above the x ones
  if (router && router.x > 0) room.take(xs(router.x) + 10, ys(router.y) + 14, "router", "start");
  const order = [...shown].sort((p, q) => (q.onFrontier - p.onFrontier) || ((q.weight ?? 0) - (p.weight ?? 0)));
  const label = new Map();
  for (const p of order) {
    const text = labelText(p.label);
    const x = xs(p.x), y = ys(p.y) - 6;
    if (label.size >= MAX_LABELS) break;
    const at = room.take(x + 8, y, text, "start") || room.take(x - 8, y, text, "end");
    if (at) label.set(p, { ...at, text });
  }
  const dot = (p) => {
    const g = svg("g", { class: `pt ${p.onFrontier ? "on" : "off"}` });
    g.append(svg("circle", { cx: xs(p.x), cy: ys(p.y), r: 5 }));
    g.append(svg("title", {}, `${p.label}: $${fmtSmall(p.x)} per request, mean grade ${p.y.toFixed(3)}`));
    return g;
  };
  // the points in a group of their own, under the labels; with `pointSteps` (a list the caller
  // draws later, drawLater's steps) they are added POINTS_A_STEP at a time: 500 points built and
  // laid out in one task held the page 40-120 ms (bench/dashboard_wide.py)
  const dots = svg("g", { class: "pts" });
  root.append(dots);
  if (pointSteps) {
    for (let i = 0; i < shown.length; i += POINTS_A_STEP) {
      pointSteps.push(() => dots.append(...shown.slice(i, i + POINTS_A_STEP).map(dot)));
    }
  } else {
    dots.append(...shown.map(dot));
  }
  // the labels above every point (a later point drawn over a label hid it)
  const names = svg("g", { class: "pt-labels" });
  for (const { x, y, anchor, text } of label.values()) {
    names.append(svg("text", { x, y, class: "pt-label", "text-anchor": anchor }, text));
  }
  root.append(names);
  if (router && router.x > 0) {
    const x = xs(router.x), y = ys(router.y), r = 7;
    const g = svg("g", { class: "router-pt" });
    g.append(svg("path", { d: `M${x},${y - r}L${x + r},${y}L${x},${y + r}L${x - r},${y}Z` }));
    g.append(svg("text", { x: x + 10, y: y + 14, class: "pt-label" }, "router"));
    g.append(svg("title", {}, `router: $${fmtSmall(router.x)} per request, mean grade ${router.y.toFixed(3)}`));
    root.append(g);
  }
  root.dataset.points = String(shown.length);
  root.dataset.labelled = String(label.size);
  return root;
}

// a point's label shows this much of a model's name (the whole name is in its tooltip); at most
// MAX_LABELS labels a chart, so that the cloud of points stays readable under them
const LABEL_CHARS = 28;
const MAX_LABELS = 16;
function labelText(name) {
  const chars = [...String(name)]; // never half a surrogate pair
  return chars.length <= LABEL_CHARS ? chars.join("") : chars.slice(0, LABEL_CHARS - 1).join("") + "…";
}
// a label's box, from its length: 11 px text (style.css .pt-label) is at most ~6.6 px a
// character wide on average; measured boxes (getBBox) would need the chart laid out first
const CHAR_W = 6.6, LINE_H = 13;

// the boxes labels took in a chart; take() places one only where it crosses none and stays
// inside `area` ([x0, y0, x1, y1]: off the axes' ticks), and returns where it went (or null)
class Labels {
  constructor(area) { this.area = area; this.boxes = []; }
  take(x, y, text, anchor) {
    const w = [...text].length * CHAR_W;
    const x0 = anchor === "end" ? x - w : x;
    const box = [x0 - 1, y - LINE_H + 2, x0 + w + 1, y + 3];
    const [ax0, ay0, ax1, ay1] = this.area;
    if (box[0] < ax0 || box[1] < ay0 || box[2] > ax1 || box[3] > ay1) return null;
    if (this.boxes.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) return null;
    this.boxes.push(box);
    return { x, y, anchor };
  }
}

// rows: [{label, value, cls, note}]; marker: a value drawn as a vertical line (the bar)
export function hbars(rows, { width = 560, marker = null, max = null, fmt = (v) => v.toFixed(3) } = {}) {
  // the labels' column as wide as the longest (cut to LABEL_CHARS) needs: a fixed 130 px cut
  // a model's name off at the chart's left edge
  const names = rows.map((r) => labelText(r.label));
  const longest = Math.max(0, ...names.map((n) => [...n].length));
  const rowH = 24, left = Math.max(130, Math.min(width * 0.45, 16 + CHAR_W * longest)), right = 70;
  const height = rows.length * rowH + 20;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart hbars", role: "img" });
  const top = Math.max(max ?? 0, marker ?? 0, ...rows.map((r) => r.value)) || 1;
  const xs = (v) => left + (v / top) * (width - left - right);
  rows.forEach((r, i) => {
    const y = 8 + i * rowH;
    const name = svg("text", { x: left - 8, y: y + 13, class: "bar-label", "text-anchor": "end" }, names[i]);
    if (names[i] !== String(r.label)) name.append(svg("title", {}, r.label)); // the whole name
    root.append(name);
    root.append(svg("rect", { x: left, y, width: Math.max(1, xs(r.value) - left), height: rowH - 8, class: `bar ${r.cls || ""}` }));
    root.append(svg("text", { x: xs(r.value) + 6, y: y + 13, class: "bar-value" }, r.note ?? fmt(r.value)));
  });
  if (marker !== null) {
    const x = xs(marker);
    root.append(svg("line", { x1: x, x2: x, y1: 2, y2: height - 10, class: "marker" }));
    root.append(svg("text", { x, y: height - 1, class: "marker-label", "text-anchor": "middle" }, `bar ${fmt(marker)}`));
  }
  return root;
}

export function fmtSmall(v) {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
