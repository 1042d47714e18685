// The dashboard's pages. Each renders into `main` from the sidecar's JSON APIs; data only ever
// reaches the page as text nodes and attribute values (never as markup), its bidi controls
// shown as marks (text.js).
import { barsOverTime, fmtSmall, hbars, lineChart, paretoChart } from "./charts.js";
import { clip, textNodes, unbidi } from "./text.js";

const span = () => document.createElement("span");

// how much of a value a cell, a heading or a label shows (text.js clip): a name, or a message
const NAME = 160;
const MESSAGE = 600;

// `text` as a node that shows at most `max` characters of it; a longer one says how much was
// cut and keeps (most of) the rest in its tooltip
function short(text, max = NAME) {
  const s = String(text);
  if (s.length <= max) return s;
  return el("span", { class: "clip", title: unbidi(clip(s, 20 * max)) }, clip(s, max));
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.replaceChildren(...textNodes(v, span));
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    if (c instanceof Node) node.append(c);
    else node.append(...textNodes(c, span));
  }
  return node;
}

function usd(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "$0";
  const a = Math.abs(v);
  return "$" + (a >= 1 ? v.toFixed(2) : a >= 0.01 ? v.toFixed(4) : v.toPrecision(2));
}
const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)}%`);
const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString());
const grade = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
const ms = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} ms`);
const when = (ts) => new Date(ts * 1000).toLocaleString([], { hour12: false });
const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
// the time alone for today's rows, with the date for older ones (a page back in the feed)
const stamp = (ts) => (new Date(ts * 1000).toDateString() === new Date().toDateString() ? clock(ts) : when(ts));

function card(label, value, test, sub) {
  return el("div", { class: "card" },
    el("div", { class: "card-label" }, label),
    el("div", { class: "card-value", "data-test": test }, value),
    sub ? el("div", { class: "card-sub" }, sub) : null);
}

function section(title, ...body) {
  return el("section", { class: "panel" }, el("h2", {}, title), ...body);
}

// ---- Drawing a big view without freezing the page ---------------------------------------
// 500 models' rows, bars and chart points built in one task held the page's only thread
// 0.3-0.7 s a visit (no paint, no click, no scroll; tests/e2e/test_dashboard_wide.py). A view
// with that much to draw shows its frame at once and queues the rest as pieces (`later`), drawn
// in slices of at most SLICE_MS with a frame between two slices; a view left meanwhile (its
// nodes no longer in the page) stops drawing.
const SLICE_MS = 12;
const nextFrame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));

async function drawLater(pieces, alive) {
  let began = performance.now();
  for (const piece of pieces) {
    for (const step of piece()) {
      step();
      if (performance.now() - began > SLICE_MS) {
        await nextFrame();
        if (!alive()) return;
        began = performance.now();
      }
    }
  }
}

// columns: [[header, row => cell (string | Node), cls?, max characters shown of a string cell?]]
// More than TABLE_PAGE rows are shown a page at a time (Previous / Next under the table): a
// table of 500 rows cost ~100-300 ms of layout each time anything on the page changed, and
// 12,000 px to scroll past. `later`: a list of pieces (drawLater) to draw the rows in.
const TABLE_PAGE = 100;
// a table this short is drawn at once, `later` or not: it costs next to nothing
const DRAW_NOW = 20;

function table(columns, rows, { test = "table", empty = "Nothing yet.", rowAttrs, later } = {}) {
  if (rows.length === 0) return el("p", { class: "empty" }, empty);
  const head = el("tr", {}, ...columns.map(([h, , cls]) => el("th", { class: cls }, h)));
  const body = el("tbody", {});
  const node = el("table", { "data-test": test }, el("thead", {}, head), body);
  const row = (r) => el("tr", rowAttrs ? rowAttrs(r) : {},
    ...columns.map(([, f, cls, max]) => {
      const v = f(r);
      return v instanceof HTMLTableCellElement ? v : el("td", { class: cls }, typeof v === "string" ? short(v, max) : v);
    }));
  if (rows.length <= TABLE_PAGE) {
    if (later && rows.length > DRAW_NOW) later.push(() => rowsOf(rows, row, body));
    else body.append(...rows.map(row));
    return node;
  }
  let first = 0;
  const button = (name, label) => el("button", { type: "button", class: "quiet", "data-test": `${test}-${name}` }, label);
  const prev = button("previous", "← Previous"), next = button("next", "Next →");
  const where = el("span", { class: "where", "data-test": `${test}-rows` });
  const show = () => {
    const last = Math.min(rows.length, first + TABLE_PAGE);
    body.replaceChildren(...rows.slice(first, last).map(row));
    where.textContent = `rows ${num(first + 1)}–${num(last)} of ${num(rows.length)}`;
    prev.disabled = first === 0;
    next.disabled = last >= rows.length;
  };
  prev.addEventListener("click", () => { first = Math.max(0, first - TABLE_PAGE); show(); });
  next.addEventListener("click", () => { first += TABLE_PAGE; show(); });
  if (later) later.push(function* () { yield show; });
  else show();
  return el("div", { class: "paged" }, node, el("div", { class: "pager" }, prev, where, next));
}

// drawLater steps appending `make(row)` to `into`, ROWS_A_STEP rows a step
const ROWS_A_STEP = 10;
function* rowsOf(rows, make, into) {
  for (let i = 0; i < rows.length; i += ROWS_A_STEP) {
    yield () => into.append(...rows.slice(i, i + ROWS_A_STEP).map(make));
  }
}

// a load a click started that failed: said where its answer would have gone
function failed(where, err) {
  if (err.message !== "unauthorized") where.replaceChildren(el("p", { class: "error" }, `Could not load this: ${err.message}`));
}

function link(href, text, test) {
  return el("a", { href, "data-test": test }, short(text));
}

// ---- Savings over time --------------------------------------------------------------------
const RANGES = { "1h": [3600, 60], "24h": [86400, 900], "7d": [604800, 3600] };

async function overview(main, { api, poll }) {
  let range = sessionStorage.getItem("arbiter.range") || "1h";
  const cards = el("div", { class: "cards" });
  const chart = el("div", { class: "chart-box" });
  const pctChart = el("div", { class: "chart-box" });
  const cache = el("div", { class: "cache" });
  const learnCalls = el("div", { class: "chart-box", "data-test": "learning-calls" });
  const learnGrades = el("div", { class: "chart-box", "data-test": "learning-grades" });
  const picker = el("div", { class: "range" }, ...Object.keys(RANGES).map((r) => {
    const b = el("button", { type: "button", class: r === range ? "quiet on" : "quiet" }, r);
    b.addEventListener("click", () => { range = r; sessionStorage.setItem("arbiter.range", r); load().catch((err) => failed(chart, err)); });
    return b;
  }));
  main.replaceChildren(
    el("h1", {}, "Savings"),
    cards,
    section("Cost against the baseline", picker, chart),
    section("Savings per interval", pctChart),
    el("section", { class: "panel", "data-test": "learning" }, el("h2", {}, "Learning traffic"),
      el("p", { class: "note" },
        "Arbiter's own calls to learn: shadow calls of challengers, latency probes and the judge's calls. ",
        "They are not the tenants' requests and are in none of the figures above; drawn here beside the own traffic, per interval."),
      learnCalls, learnGrades),
    section("Cache", cache),
  );
  async function load() {
    for (const b of picker.children) b.classList.toggle("on", b.textContent === range);
    const [span, bucket] = RANGES[range];
    const since = Math.floor(Date.now() / 1000) - span;
    const [s, ts] = await Promise.all([
      api("/arbiter/stats"),
      api(`/arbiter/timeseries?since=${since}&bucket_s=${bucket}`),
    ]);
    cards.replaceChildren(
      card("Savings vs baseline", pct(s.savings_pct), "savings-pct", `${usd(s.savings_usd)} saved`),
      card("Requests", num(s.requests), "requests", `${num(s.failed)} failed`),
      card("Cost", usd(s.cost_usd), "cost", `baseline ${usd(s.baseline_cost_usd)}`),
      card("Mean grade", grade(s.mean_grade), "mean-grade", `${num(s.graded)} graded`),
      card("Mean latency", ms(s.mean_latency_ms), "latency"),
      // Arbiter's own calls to learn: never in the figures above (README "Stats count a
      // tenant's own requests"); shown apart, with what each mode cost
      ...(s.learning ? [card("Spent learning", usd(s.learning.cost_usd), "learning-cost",
        Object.entries(s.learning.by_mode).map(([m, v]) =>
          `${m} ${num(v.requests)}${v.charged_to_tenant_budget ? " (charged)" : ""}`).join(", "))] : []),
    );
    let c = 0, b = 0;
    const cost = [], base = [], share = [];
    if (ts.data.length) { cost.push([ts.data[0].ts, 0]); base.push([ts.data[0].ts, 0]); }
    let end = null;
    for (const p of ts.data) {
      // cumulative at each interval's end, from zero at the first one's start; intervals with
      // no traffic have no point, so the line stays flat until the next one's start (drawn
      // straight to its end, it would show spend in the quiet ones)
      if (end !== null && p.ts > end) { cost.push([p.ts, c]); base.push([p.ts, b]); }
      end = p.ts + ts.bucket_s;
      c += p.cost_usd; b += p.baseline_cost_usd;
      cost.push([p.ts + ts.bucket_s, c]); base.push([p.ts + ts.bucket_s, b]);
      if (p.baseline_cost_usd > 0) share.push([p.ts, 100 * (1 - p.cost_usd / p.baseline_cost_usd)]);
    }
    chart.replaceChildren(lineChart([
      { name: "baseline (cumulative $)", cls: "s-base", points: base },
      { name: "routed (cumulative $)", cls: "s-cost", points: cost },
    ], { fmtY: (v) => "$" + fmtSmall(v) }));
    pctChart.replaceChildren(barsOverTime(share, ts.bucket_s, {
      name: `savings % per ${ts.bucket_s >= 3600 ? ts.bucket_s / 3600 + " h" : ts.bucket_s / 60 + " min"}`, cls: "s-save", fmtY: (v) => `${v.toFixed(0)}%`,
    }));
    drawLearning(ts, learnCalls, learnGrades);
    cache.replaceChildren(cacheView(s.cache));
  }
  await load();
  poll(load, 5000);
}

// the timeseries' `learning` series (per mode) beside the own traffic's: calls per interval, and
// the mean grade of what was graded in it (a shadow call's or a probe's grade is what the policy
// learns from; a judge's call is the grading itself, rarely graded)
const LEARNING = [["shadow", "s-shadow"], ["probe", "s-probe"], ["judge", "s-judge"]];

function drawLearning(ts, calls, grades) {
  const learning = ts.learning || [];
  const per = ts.bucket_s >= 3600 ? `${ts.bucket_s / 3600} h` : `${ts.bucket_s / 60} min`;
  const mode = (m, pick) => learning.filter((p) => pick(p.by_mode[m]) !== null).map((p) => [p.ts, pick(p.by_mode[m])]);
  // both on the intervals' range, at each interval's middle (as savings per interval's bars)
  const starts = [...ts.data, ...learning].map((p) => p.ts);
  const last = Math.max(...starts) + ts.bucket_s;
  const domain = starts.length ? [Math.min(Math.min(...starts), last - 6 * ts.bucket_s), last] : undefined;
  const mid = (points) => points.map(([t, v]) => [t + ts.bucket_s / 2, v]);
  const requests = (v) => (v && v.requests ? v.requests : null);
  const meanGrade = (v) => (v && v.graded ? v.mean_grade : null);
  calls.replaceChildren(lineChart([
    { name: "own traffic: requests", cls: "s-own", points: mid(ts.data.filter((p) => p.requests).map((p) => [p.ts, p.requests])) },
    ...LEARNING.map(([m, cls]) => ({ name: `learning: ${m} calls`, cls, points: mid(mode(m, requests)) })),
  ], { fmtY: (v) => num(Math.round(v)), domain, title: `calls per ${per}: the own traffic and Arbiter's learning calls` }));
  grades.replaceChildren(lineChart([
    { name: "own traffic: mean grade", cls: "s-own", points: mid(ts.data.filter((p) => p.graded).map((p) => [p.ts, p.mean_grade])) },
    ...LEARNING.map(([m, cls]) => ({ name: `learning: ${m} grade`, cls, points: mid(mode(m, meanGrade)) })),
  ], { fmtY: (v) => v.toFixed(2), domain, yRange: [0, 1.04], title: `mean grade per ${per}: the own traffic's answers and the learning calls'` }));
}

function cacheView(c) {
  if (!c || typeof c !== "object") {
    return el("p", { class: "empty", "data-test": "cache-off" },
      "No cache statistics from this sidecar: the savings above are routing's alone.");
  }
  const rows = Object.entries(c).filter(([, v]) => typeof v === "number" || typeof v === "string");
  return el("div", { class: "cards" }, ...rows.map(([k, v]) =>
    card(k.replaceAll("_", " "), typeof v === "number" ? (k.includes("usd") ? usd(v) : k.includes("pct") ? pct(v) : num(v)) : v, `cache-${k}`)));
}

// ---- Requests and cost per model and task ------------------------------------------------
// bars drawn in "Cost per model": the dearest ones; the rest are one "others" bar (every model
// is in the tables below): 500 bars made a chart 12,000 px tall
const COST_BARS = 20;

async function models(main, { api }) {
  const s = await api("/arbiter/stats");
  const cols = (key) => [
    [key, (r) => r.name],
    ["requests", (r) => num(r.requests), "n"],
    ["failed", (r) => num(r.failed), "n"],
    ["cost", (r) => usd(r.cost_usd), "n"],
    ["baseline cost", (r) => usd(r.baseline_cost_usd), "n"],
    ["savings", (r) => pct(r.savings_pct), "n"],
    ["mean grade", (r) => grade(r.mean_grade), "n"],
    ["graded", (r) => num(r.graded), "n"],
    ["mean latency", (r) => ms(r.mean_latency_ms), "n"],
  ];
  const byModel = Object.entries(s.by_model).map(([name, v]) => ({ name, ...v }));
  const byTask = Object.entries(s.by_task).map(([name, v]) => ({ name, ...v }));
  const tasks = byTask.map((t) => t.name);
  const cell = new Map(s.by_model_task.map((r) => [`${r.model}\u0000${r.task}`, r]));
  const peak = Math.max(1, ...s.by_model_task.map((r) => r.requests));
  const later = [];
  const matrix = table([
    ["model \\ task", (m) => m.name],
    ...tasks.map((t) => [short(t), (m) => {
      const r = cell.get(`${m.name}\u0000${t}`);
      const td = el("td", { class: "n heat", title: r ? `${usd(r.cost_usd)}, grade ${grade(r.mean_grade)}` : "" }, r ? num(r.requests) : "");
      if (r) td.style.setProperty("--heat", (r.requests / peak).toFixed(3));
      return td;
    }, "n"]),
    ["total", (m) => el("td", { class: "n strong" }, num(m.requests)), "n"],
  ], byModel, { test: "matrix", later });
  matrix.querySelector("table")?.classList.add("matrix"); // a table of one page: itself
  if (matrix.matches("table")) matrix.classList.add("matrix");
  const dearest = [...byModel].sort((a, b) => b.cost_usd - a.cost_usd);
  const bars = dearest.slice(0, COST_BARS).map((m) => ({ label: m.name, value: m.cost_usd, note: usd(m.cost_usd), cls: "b-cost" }));
  const rest = dearest.slice(COST_BARS);
  if (rest.length) {
    const total = rest.reduce((sum, m) => sum + m.cost_usd, 0);
    // their sum, said and not drawn: a bar for it would dwarf the ones above
    bars.push({ label: `${num(rest.length)} others`, value: 0, note: `${usd(total)} together`, cls: "b-rest" });
  }
  const costBars = hbars(bars, { fmt: (v) => usd(v) });
  const root = el("div", {},
    el("h1", {}, "Models & tasks"),
    section("Requests per model and task", matrix),
    section("Cost per model", costBars,
      rest.length ? el("p", { class: "note", "data-test": "cost-rest" },
        `The ${COST_BARS} dearest models; the other ${num(rest.length)} are in the tables above and below.`) : null),
    section("Per model", table(cols("model"), byModel, { test: "by-model", later })),
    section("Per task", table(cols("task"), byTask, { test: "by-task" })),
  );
  main.replaceChildren(root);
  await drawLater(later, () => root.isConnected);
}

// ---- Cost / quality per task ---------------------------------------------------------------
async function pareto(main, { api }) {
  const body = await api("/arbiter/pareto");
  const grid = el("div", { class: "pareto-grid" });
  const later = [];
  for (const t of body.data) {
    const points = t.models.filter((m) => m.mean_grade !== null)
      .map((m) => ({ x: m.cost_per_request, y: m.mean_grade, label: m.model, onFrontier: m.on_frontier, weight: m.requests }));
    const r = t.router && t.router.mean_grade !== null ? { x: t.router.cost_per_request, y: t.router.mean_grade } : null;
    const rows = t.models.map((m) => ({ ...m }));
    if (t.router) rows.push({ model: "router", ...t.router, router: true });
    const chart = el("div", { class: "pareto-chart" });
    // the chart (up to 500 points, their labels placed) is a piece of its own, before the rows
    // (its frame, frontier and labels, then its points a step at a time: charts.paretoChart)
    later.push(function* () {
      const dots = [];
      yield () => chart.replaceChildren(...paretoParts(points, r, dots));
      yield* dots; // filled by the step above, which has run by the time this is read
    });
    grid.append(el("section", { class: "panel pareto", "data-task": t.task },
      el("h2", {}, short(t.task)),
      chart,
      table([
        ["model", (m) => m.model],
        ["requests", (m) => num(m.requests), "n"],
        ["$ / request", (m) => (m.cost_per_request === null ? "–" : "$" + fmtSmall(m.cost_per_request)), "n"],
        ["mean grade", (m) => grade(m.mean_grade), "n"],
        ["graded", (m) => num(m.graded), "n"],
        ["", (m) => (m.router ? "its routed traffic" : m.on_frontier ? "on the frontier" : ""), "tag"],
      ], rows, { test: "pareto-models", rowAttrs: (m) => ({ class: m.router ? "router-row" : m.on_frontier ? "front-row" : "" }), later })));
  }
  const root = el("div", {},
    el("h1", {}, "Cost / quality per task"),
    el("p", { class: "lede" },
      "Each model's observed cost per answered request against its mean grade (answers it gave, routed or asked for by name). ",
      "The line joins the models no other beats on both; the diamond is the router's own routed traffic."),
    body.data.length ? grid : el("p", { class: "empty" }, "No answered requests yet."),
  );
  main.replaceChildren(root);
  await drawLater(later, () => root.isConnected);
}

// a task's chart, and a note when some of its points go unlabelled (no room for their names)
function paretoParts(points, router, pointSteps) {
  const chart = paretoChart(points, router, { pointSteps });
  const shown = Number(chart.dataset.points || 0), named = Number(chart.dataset.labelled || 0);
  if (named >= shown) return [chart];
  return [chart, el("p", { class: "note", "data-test": "unlabelled" },
    `${num(shown - named)} of ${num(shown)} points unlabelled (no room): hover a point for its model, or see the table.`)];
}

// ---- Paging back through the store ----------------------------------------------------------
// Older / Newer / Newest over an API's `after` cursor (its previous page's last row). `pages`
// holds the cursor each older page was read from and the number of its first row; none is the
// newest page, the only one that refreshes itself (an older one stays still while it is read).
// `load` reads `current()` and ends with `shown(rows, older)`; `holder` takes a failed load's
// error. The buttons' data-test names start with `test`.
function pager(test, holder, load) {
  let pages = [];
  let older = null; // the page after this one, when there is one: {after, first}
  const button = (name, label) => el("button", { type: "button", class: "quiet", "data-test": `${test}-${name}` }, label);
  const newest = button("newest", "Newest");
  const newer = button("newer", "← Newer");
  const next = button("older", "Older →");
  const where = el("span", { class: "where", "data-test": `${test}-where` });
  const go = () => load().catch((err) => failed(holder, err));
  newest.addEventListener("click", () => { pages = []; go(); });
  newer.addEventListener("click", () => { pages.pop(); go(); });
  next.addEventListener("click", () => { if (older) { pages.push(older); go(); } });
  return {
    node: el("div", { class: "pager" }, newest, newer, where, next),
    current: () => pages.at(-1) ?? { after: null, first: 1 },
    newestShown: () => pages.length === 0,
    restart() { pages = []; go(); },
    // `count` rows shown from this page; `after`: the cursor of the next, or null at the end
    shown(count, after) {
      const { first } = pages.at(-1) ?? { first: 1 };
      older = after === null ? null : { after, first: first + count };
      newest.disabled = newer.disabled = pages.length === 0;
      next.disabled = older === null;
      where.textContent = count ? `${num(first)}–${num(first + count - 1)}` : "";
    },
  };
}

const cursorParam = (page) => (page.after === null ? "" : `&after=${encodeURIComponent(page.after)}`);

// ---- The decision feed ---------------------------------------------------------------------
const FEED_PAGE = 50; // rows shown a page
const FEED_READ = 200; // rows read a page: the judge's own calls, hidden by default, are among them

async function feed(main, { api, poll }) {
  const status = el("span", { class: "live" }, "live");
  const holder = el("div", {});
  const judges = el("input", { type: "checkbox", id: "show-judge" });
  judges.checked = sessionStorage.getItem("arbiter.judge") === "1";
  judges.addEventListener("change", () => { sessionStorage.setItem("arbiter.judge", judges.checked ? "1" : "0"); paging.restart(); });
  const toolbar = el("div", { class: "toolbar" }, el("label", { for: "show-judge" }, judges, " show the judge's own calls"));
  const paging = pager("feed", holder, load);
  let seen = null;
  main.replaceChildren(el("h1", {}, "Decisions ", status), toolbar, holder, paging.node);
  async function load() {
    const page = paging.current();
    const body = await api(`/arbiter/decisions?limit=${FEED_READ}${cursorParam(page)}`);
    const kept = body.data.filter((d) => judges.checked || d.mode !== "judge");
    const rows = kept.slice(0, FEED_PAGE);
    // the next page starts after the last row shown, or after every row read when fewer were
    // kept than a page holds
    const full = rows.length === FEED_PAGE;
    const more = full ? kept.length > FEED_PAGE || body.has_more : body.has_more;
    const live = paging.newestShown();
    const fresh = new Set(seen && live ? rows.filter((d) => !seen.has(d.id)).map((d) => d.id) : []);
    seen = new Set(rows.map((d) => d.id));
    holder.replaceChildren(table([
      ["time", (d) => stamp(d.ts)],
      ["tenant", (d) => d.tenant],
      ["task", (d) => d.task],
      ["mode", (d) => d.mode],
      ["model", (d) => link(`#/decision/${encodeURIComponent(d.id)}`, d.chosen_model, "decision-link")],
      ["cost", (d) => usd(d.cost_usd), "n"],
      ["baseline", (d) => usd(d.baseline_cost_usd), "n"],
      ["grade", (d) => (d.grade === null ? "–" : `${grade(d.grade)} (${d.grader})`), "n"],
      ["latency", (d) => ms(d.latency_ms), "n"],
      ["status", (d) => el("span", { class: `pill ${d.status}` }, d.status)],
    ], rows, {
      test: "feed",
      empty: body.data.length
        ? "Only the judge's own calls here: tick the box above to show them, or page on."
        : live ? "No decisions yet: send a request with model \"auto\"." : "No older decisions.",
      rowAttrs: (d) => ({ "data-id": d.id, class: fresh.has(d.id) ? "fresh" : "" }),
    }));
    paging.shown(rows.length, more ? (full ? rows.at(-1).id : body.last_id) : null);
    status.textContent = live ? `live · ${clock(Date.now() / 1000)}` : "older page · not refreshing";
    status.classList.toggle("paused", !live);
  }
  await load();
  poll(() => (paging.newestShown() ? load() : Promise.resolve()), 2000);
}

// ---- Why this model --------------------------------------------------------------------------
const BAR = /against a bar of (\d+\.\d+)/;

async function decision(main, { api, arg }) {
  const d = await api(`/arbiter/decisions/${encodeURIComponent(arg)}`);
  const bar = BAR.exec(d.reason);
  const eligible = d.candidates.filter((c) => c.eligible);
  const ineligible = d.candidates.filter((c) => !c.eligible);
  const facts = [
    ["tenant", short(d.tenant)], ["task", short(d.task)], ["mode", d.mode], ["status", d.status],
    ["cost", usd(d.cost_usd)], [el("span", {}, "baseline (", short(d.baseline_model), ")"), usd(d.baseline_cost_usd)],
    ["cost from", short(d.cost_source)], ["latency", ms(d.latency_ms)],
    ["tokens in / out", `${num(d.prompt_tokens)} / ${num(d.completion_tokens)}`],
    ["difficulty", d.difficulty === null ? "–" : d.difficulty.toFixed(3)],
    ["stream", d.stream ? "yes" : "no"], ["time", when(d.ts)],
  ];
  if (d.error) facts.push(["error", el("div", { class: "long" }, d.error)]); // whole, in a box of its own
  main.replaceChildren(
    el("p", { class: "crumb" }, link("#/feed", "← decisions"), " / ", short(d.id)),
    el("h1", {}, "Why ", el("span", { class: "model", "data-test": "chosen-model" }, short(d.chosen_model))),
    el("p", { class: "reason long", "data-test": "reason" }, d.reason),
    el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    section("Candidates",
      eligible.length
        ? hbars(eligible.map((c) => ({ label: c.model, value: c.score, cls: c.model === d.chosen_model ? "b-chosen" : "b-cand" })),
          { marker: bar ? Number(bar[1]) : null, max: 1 })
        : null,
      el("p", { class: "note" }, "Score: the quality the policy compared (a Thompson draw from its posterior for this prompt). ",
        "A candidate clears the bar when its score reaches it; the cheapest that clears it wins."),
      table([
        ["model", (c) => (c.model === d.chosen_model ? el("strong", {}, short(c.model)) : c.model)],
        ["sampled score", (c) => (c.eligible ? c.score.toFixed(3) : "–"), "n"],
        ["posterior mean", (c) => (c.eligible ? c.mean.toFixed(3) : "–"), "n"],
        ["est. cost", (c) => "$" + fmtSmall(c.est_cost_usd), "n"],
        ["eligible", (c) => (c.eligible ? "yes" : "no")],
        ["why not", (c) => c.why_not || "", "msg", MESSAGE],
      ], [...eligible, ...ineligible], { test: "candidates", empty: "No candidates: the model was named by the caller." })),
    section("Attempts", table([
      ["#", (a) => String(d.attempts.indexOf(a) + 1), "n"],
      ["model", (a) => a.model],
      ["result", (a) => el("span", { class: `pill ${a.ok ? "ok" : "failed"}` }, a.ok ? "ok" : "failed")],
      ["latency", (a) => ms(a.latency_ms), "n"],
      ["upstream status", (a) => (a.status === null || a.status === undefined ? "–" : String(a.status)), "n"],
      ["error", (a) => a.error || "", "msg", MESSAGE],
    ], d.attempts, { test: "attempts" })),
    section("Grades", table([
      ["signal", (g) => g.grader],
      ["score", (g) => grade(g.score), "n"],
      ["model", (g) => g.model],
      ["detail", (g) => g.detail, "msg", MESSAGE],
      ["time", (g) => clock(g.ts)],
    ], d.grades, { test: "grades", empty: "Not graded (yet): the judge samples traffic; feedback overrides it." }),
    el("p", { class: "note" }, "The first row is the grade that counts: feedback beats the judge, the judge beats the automatic checks.")),
  );
}

// ---- Alerts, circuits, budgets -------------------------------------------------------------
const ALERTS_PAGE = 100;

async function alerts(main, { api, poll }) {
  const holder = el("div", {});
  const paging = pager("alerts", holder, load);
  main.replaceChildren(el("h1", {}, "Alerts"), holder, paging.node);
  async function load() {
    const body = await api(`/arbiter/alerts?limit=${ALERTS_PAGE}${cursorParam(paging.current())}`);
    holder.replaceChildren(table([
      ["time", (a) => when(a.ts)],
      ["kind", (a) => el("span", { class: `pill k-${a.kind}` }, a.kind)],
      ["tenant", (a) => a.tenant],
      ["model", (a) => a.model || ""],
      ["task", (a) => a.task || ""],
      ["message", (a) => a.message, "msg", MESSAGE],
    ], body.data, { test: "alerts", empty: paging.newestShown() ? "No alerts." : "No older alerts." }));
    paging.shown(body.data.length, body.has_more ? body.last_id : null);
  }
  await load();
  poll(() => (paging.newestShown() ? load() : Promise.resolve()), 5000);
}

async function circuits(main, { api, poll }) {
  const holder = el("div", {});
  main.replaceChildren(el("h1", {}, "Circuits"), holder);
  async function load() {
    const s = await api("/arbiter/stats");
    const rows = Object.entries(s.circuits).map(([model, c]) => ({ model, ...c }));
    holder.replaceChildren(
      section("Upstream circuits",
        table([
          ["model", (c) => c.model],
          ["state", (c) => el("span", { class: `pill c-${c.state}` }, c.state)],
          ["consecutive failures", (c) => num(c.consecutive_failures), "n"],
          ["probe in", (c) => (c.probe_in_s === undefined ? "–" : `${c.probe_in_s} s`), "n"],
          ["held for", (c) => (c.held_for_s === undefined ? "–" : `${c.held_for_s} s`), "n"],
        ], rows, { test: "circuits", empty: "Every circuit is closed: no model has failed lately." })),
      section("Store",
        el("dl", { class: "facts" },
          el("dt", {}, "healthy"), el("dd", {}, s.store.healthy ? "yes" : "no"),
          el("dt", {}, "write backlog"), el("dd", {}, num(s.store.backlog)),
          el("dt", {}, "dropped records"), el("dd", {}, num(s.store.dropped)))),
    );
  }
  await load();
  poll(load, 3000);
}

async function budgets(main, { api }) {
  const body = await api("/arbiter/budgets");
  main.replaceChildren(el("h1", {}, "Budgets"), section("Spend per cap window", table([
    ["scope", (b) => b.scope],
    ["window from", (b) => (b.window_start ? when(b.window_start) : "all time")],
    ["spent", (b) => usd(b.spent_usd), "n"],
    ["reserved now", (b) => usd(b.reserved_usd), "n"],
  ], body.data, { test: "budgets", empty: "No spend caps have been charged yet ([[budgets.caps]])." }),
    body.has_more ? el("p", {}, `The first ${body.data.length} rows: the rest page on with /arbiter/budgets?after=${body.last_id}.`) : null));
}

export const ROUTES = { overview, models, pareto, feed, decision, alerts, circuits, budgets };
