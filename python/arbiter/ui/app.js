// The dashboard shell: sign-in, the key in sessionStorage, API calls, hash routing.
import { clip, unbidi } from "./text.js";
import * as views from "./views.js";

const KEY = "arbiter.key";
const $ = (id) => document.getElementById(id);
let timer = null; // the current view's polling timer
let shown = 0; // which view is on screen (route() counts them): a late answer for an old one is dropped

const TENANT = "arbiter.tenant";

// the admin and dashboard keys may narrow every view to one tenant (?tenant=)
function scoped(path) {
  const tenant = sessionStorage.getItem(TENANT);
  if (!tenant || path.startsWith("/arbiter/tenants")) return path;
  return `${path}${path.includes("?") ? "&" : "?"}tenant=${encodeURIComponent(tenant)}`;
}

export async function api(path) {
  const key = sessionStorage.getItem(KEY);
  const r = await fetch(scoped(path), { headers: { authorization: `Bearer ${key}` }, cache: "no-store" });
  if (r.status === 401) {
    signOut("That key was not accepted.");
    throw new Error("unauthorized");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body?.error?.message || `${path}: HTTP ${r.status}`);
  return body;
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(TENANT);
  stopPolling();
  $("top").hidden = true;
  $("main").replaceChildren();
  $("login").hidden = false;
  $("login-error").textContent = unbidi(message);
  $("key").focus();
}

// refresh the view every `ms` with `fn`. A refresh that fails (the store down, the sidecar gone)
// says so above the page, which keeps what it last showed and when that was, instead of going
// on looking live; the next one that works takes the note away. A refresh still waiting (a slow
// store) is not joined by another.
export function poll(fn, ms) {
  stopPolling();
  const view = shown;
  let busy = false;
  let lastGood = Date.now();
  timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await fn();
      if (view !== shown) return;
      lastGood = Date.now();
      showStale(null);
    } catch (err) {
      if (view === shown && err.message !== "unauthorized") showStale(err, lastGood);
    } finally {
      busy = false;
    }
  }, ms);
}

function showStale(err, since) {
  const note = $("stale");
  document.body.classList.toggle("is-stale", Boolean(err)); // the feed's "live" mark goes grey
  if (!err) {
    note.hidden = true;
    note.replaceChildren();
    return;
  }
  const at = new Date(since).toLocaleTimeString([], { hour12: false });
  const why = clip(err.message, 1000).replace(/([^.])$/, "$1.");
  note.textContent = unbidi(`Could not refresh this page: ${why} It shows what the sidecar said at ${at}.`);
  note.hidden = false;
}

function stopPolling() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  showStale(null);
}

async function route() {
  if (!sessionStorage.getItem(KEY)) return signOut();
  $("login").hidden = true;
  $("top").hidden = false;
  stopPolling();
  shown += 1;
  const [name, ...rest] = (location.hash.replace(/^#\/?/, "") || "overview").split("/");
  const view = Object.hasOwn(views.ROUTES, name) ? name : "overview"; // not Object's own members
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === view || (view === "decision" && a.dataset.view === "feed"));
  }
  const main = $("main");
  const mine = shown;
  delete main.dataset.drawn;
  main.replaceChildren(views.el("p", { class: "loading" }, "Loading…"));
  try {
    await views.ROUTES[view](main, { api, poll, arg: decodeURIComponent(rest.join("/")) });
    // every piece of the view is on the page (a big one draws in slices: views.js drawLater)
    if (mine === shown) main.dataset.drawn = view;
  } catch (err) {
    if (err.message !== "unauthorized") {
      main.replaceChildren(views.el("p", { class: "error" }, `Could not load this page: ${err.message}`));
    }
  }
}

async function whoAmI() {
  // the admin and dashboard keys read every tenant (and may pick one); a client key its own
  let body;
  try {
    body = await api("/arbiter/tenants");
  } catch {
    return; /* shown by the page itself */
  }
  const picker = $("tenant");
  const current = sessionStorage.getItem(TENANT) || "";
  const options = body.sees_all ? ["", ...body.data] : body.data;
  picker.replaceChildren(...options.map((t) => {
    const o = document.createElement("option");
    o.value = t;
    o.textContent = t ? unbidi(clip(t, 160)) : "all tenants";
    o.selected = t === current;
    return o;
  }));
  picker.disabled = !body.sees_all;
  $("who").textContent = body.sees_all ? "" : "tenant";
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    // every key is printable ASCII; one pasted with a smart quote or a non-breaking space was
    // sent nowhere (fetch refuses such a header) and, kept, left every page saying so
    const odd = [...key].find((c) => c < " " || c > "~");
    if (odd !== undefined) {
      const code = odd.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      $("login-error").textContent = `That is not a key: keys are printable ASCII, and this one holds U+${code}. Was it pasted with a smart quote?`;
      return;
    }
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    try {
      await api("/arbiter/stats");
    } catch (err) {
      sessionStorage.removeItem(KEY); // a key not yet shown to work is not kept for the next load
      if (err.message !== "unauthorized") $("login-error").textContent = unbidi(clip(err.message, 1000));
      return;
    }
    if (!location.hash || location.hash === "#/") location.hash = "#/overview";
    else route();
    whoAmI();
  });
  $("logout").addEventListener("click", () => signOut());
  $("tenant").addEventListener("change", (ev) => {
    const t = ev.target.value;
    if (t) sessionStorage.setItem(TENANT, t);
    else sessionStorage.removeItem(TENANT);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
  if (sessionStorage.getItem(KEY)) whoAmI();
});
