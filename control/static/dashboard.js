// kalshi-guard dashboard. No build step, no inline script (the page's CSP forbids it).
// The control token lives in sessionStorage (this tab only) and travels only as the bearer header:
// never in a URL, never in a cookie. Data is written with textContent, never as HTML.
"use strict";

const KEY = "kalshi-guard.token";
const STALE_AFTER_MS = 6000;   // no event (snapshot or ping) for this long: the page says "stale"
const $ = (id) => document.getElementById(id);
let streamAbort = null;
let lastEventAt = 0;
let limitsRoute = true;        // GET /api/limits, until it answers 404 (older daemons)

function token() { return sessionStorage.getItem(KEY); }

async function api(path, options = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, cache: "no-store", credentials: "omit" }));
  if (response.status === 401) { signOut("The daemon refused the token."); throw new Error("unauthorized"); }
  return response;
}

// -- sign-in ---------------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  $("signin-error").textContent = "";
  if (!value) { $("signin-error").textContent = "Enter the control token."; return; }
  let response;
  try {
    response = await fetch("/api/status", { headers: { "Authorization": "Bearer " + value }, cache: "no-store", credentials: "omit" });
  } catch (err) {
    $("signin-error").textContent = "The daemon does not answer.";
    return;
  }
  if (response.status === 401) { $("signin-error").textContent = "Token refused."; return; }
  if (!response.ok) { $("signin-error").textContent = "Status unavailable (HTTP " + response.status + ")."; return; }
  sessionStorage.setItem(KEY, value);
  $("token").value = "";
  start();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  if (streamAbort) { streamAbort.abort(); streamAbort = null; }
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  $("stale").hidden = true;
  $("signin-error").textContent = message || "";
}

function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  connect(0);
}

// -- the event stream (fetch + ReadableStream: EventSource cannot send the bearer header) ----------

async function connect(attempt) {
  if (!token()) return;
  const controller = new AbortController();
  streamAbort = controller;
  try {
    const response = await api("/api/events", { signal: controller.signal });
    if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
    attempt = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (streamAbort !== controller || !token()) return;
  markStale(true);
  const delay = Math.min(5000, 500 * 2 ** attempt);
  setTimeout(() => connect(attempt + 1), delay);
}

function handleEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  lastEventAt = Date.now();
  markStale(false);
  if (type === "snapshot") render(JSON.parse(data.join("\n")));
}

function markStale(stale) { $("stale").hidden = !stale; }

setInterval(() => {
  if (token() && lastEventAt && Date.now() - lastEventAt > STALE_AFTER_MS) markStale(true);
}, 1000);

// -- rendering -------------------------------------------------------------------------------------

function money(v) {
  if (v === null || v === undefined) return "—";
  const n = Number(v);
  return (n < 0 ? "−$" : "$") + Math.abs(n).toFixed(2);
}

function num(v) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  return Number.isFinite(n) ? String(Math.round(n * 10000) / 10000) : String(v);
}

function signed(el, v) {
  el.textContent = money(v);
  el.classList.toggle("neg", v !== null && v !== undefined && Number(v) < 0);
  el.classList.toggle("pos", v !== null && v !== undefined && Number(v) > 0);
}

function time(ts) {
  if (!ts) return "";
  return new Date(Number(ts) * 1000).toLocaleTimeString([], { hour12: false });
}

function rows(tbodyParent, items, cells) {
  const tbody = tbodyParent.querySelector("tbody");
  tbody.replaceChildren(...(items || []).map((item) => {
    const tr = document.createElement("tr");
    for (const text of cells(item)) {
      const td = document.createElement("td");
      td.textContent = text === null || text === undefined ? "—" : String(text);
      tr.appendChild(td);
    }
    return tr;
  }));
}

function list(ul, items, text) {
  ul.replaceChildren(...(items || []).map((item) => {
    const li = document.createElement("li");
    li.textContent = text(item);
    return li;
  }));
}

function render(snap) {
  const status = snap.status || {};
  const account = snap.account || {};
  const mode = String(status.mode || account.mode || "").toUpperCase();
  $("mode").textContent = mode || "MODE?";
  $("banner").className = "banner " + (mode === "LIVE" ? "banner-live" : mode === "PAPER" ? "banner-paper" : "banner-unknown");
  const gate = status.gate || {};
  $("gate-state").textContent = gate.state || "UNKNOWN";
  $("gate-state").classList.toggle("halted", gate.state !== "ACTIVE");
  $("gate-reason").textContent = gate.reason || "—";
  $("balance").textContent = money(account.balance);
  $("portfolio").textContent = money(account.portfolio_value);
  const pnl = account.pnl_today || {};
  signed($("pnl-total"), pnl.total);
  signed($("pnl-realized"), pnl.realized);
  $("pnl-fees").textContent = money(pnl.fees);
  signed($("pnl-unrealized"), pnl.unrealized);
  const errors = (snap.errors || []).slice();
  if (account.exchange_error) errors.push(account.exchange_error);
  $("errors").textContent = errors.join("; ");
  rows($("positions"), account.positions, (p) => [p.ticker, p.side, num(p.contracts), num(p.avg_price), num(p.mark), money(p.unrealized_pnl)]);
  rows($("orders"), snap.orders, (o) => [time(o.created_at), o.ticker,
    o.action + " " + num(o.count) + " " + o.outcome + " @ " + num(o.price), o.status + (o.reason ? " (" + o.reason + ")" : ""), num(o.filled_count)]);
  rows($("fills"), snap.fills, (f) => [time(f.ts), f.ticker, f.book_side, num(f.count), num(f.price), num(f.fee)]);
  list($("alerts"), snap.alerts, (a) => time(a.created_at) + "  " + a.severity + "  " + a.title + "  " +
    Object.entries(a.deliveries || {}).map(([c, s]) => c + ":" + s).join(" "));
  list($("activity"), snap.activity, (r) => time(r.at) + "  " + r.level + "  " + r.category + "  " + r.message);
  renderTriggers(account.limits || []);
}

async function renderTriggers(fallback) {
  let items = fallback;
  if (limitsRoute) {
    try {
      const response = await api("/api/limits");
      if (response.status === 404) limitsRoute = false;
      else if (response.ok) {
        const body = await response.json();
        const found = Array.isArray(body) ? body : (body.triggers || body.limits);
        if (Array.isArray(found)) items = found;
      }
    } catch (err) { /* the account's limits stand in */ }
  }
  list($("triggers"), [], () => "");
  for (const t of items) {
    const li = document.createElement("li");
    const head = document.createElement("div");
    head.className = "trigger-head";
    const name = document.createElement("span");
    name.textContent = String(t.name || t.code || t.trigger || "?").replace(/_/g, " ").toLowerCase() +
      (t.where ? " (" + t.where + ")" : "") + (t.tripped ? " — TRIPPED" : "");
    const figures = document.createElement("span");
    figures.textContent = num(t.value) + " / " + num(t.limit);
    head.append(name, figures);
    let used = t.used ?? null;
    if (used === null && t.value !== undefined && Number(t.limit) > 0) used = Number(t.value) / Number(t.limit);
    const bar = document.createElement("div");
    if (t.tripped) used = Math.max(Number(used || 0), 1);
    bar.className = "bar" + (used >= 0.9 ? " danger" : used >= 0.6 ? " warn" : "");
    bar.setAttribute("role", "meter");
    bar.setAttribute("aria-label", name.textContent);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    const pct = Math.max(0, Math.min(100, Number(used || 0) * 100));
    bar.setAttribute("aria-valuenow", pct.toFixed(0));
    const fill = document.createElement("span");
    fill.style.width = pct + "%";
    bar.appendChild(fill);
    li.append(head, bar);
    $("triggers").appendChild(li);
  }
}

// -- controls --------------------------------------------------------------------------------------

async function post(path, body) {
  const response = await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let answer = {};
  try { answer = await response.json(); } catch (err) { /* empty */ }
  return { ok: response.ok, status: response.status, answer };
}

async function confirmStop() {
  $("stop-dialog").close();
  $("control-message").textContent = "Stopping…";
  try {
    const r = await post("/api/bot/emergency-stop", { reason: "emergency stop (dashboard)" });
    const state = r.answer.result && r.answer.result.state;
    if (state) $("gate-state").textContent = state;
    $("control-message").textContent = r.ok ? "Emergency stop accepted: gate " + (state || "closed") + "."
      : "Emergency stop FAILED (HTTP " + r.status + "): use `kalshi-guard stop` or SIGUSR1.";
  } catch (err) {
    $("control-message").textContent = "Emergency stop NOT delivered: use `kalshi-guard stop` or SIGUSR1.";
  }
}

async function reset(event) {
  event.preventDefault();
  const reason = $("reset-reason").value.trim();
  if (!reason) { $("control-message").textContent = "A reset needs a reason."; $("reset-reason").focus(); return; }
  $("control-message").textContent = "Resetting (reconciling first)…";
  try {
    const r = await post("/api/bot/reset", { reason });
    const state = r.answer.result && r.answer.result.state;
    if (r.ok) { $("reset-reason").value = ""; if (state) $("gate-state").textContent = state; }
    $("control-message").textContent = r.ok ? "Reset accepted: gate " + (state || "reset") + "."
      : "Reset refused: " + (r.answer.detail || r.answer.error || "HTTP " + r.status);
  } catch (err) {
    $("control-message").textContent = "Reset failed: the daemon did not answer.";
  }
}

// -- the live switch: step one shows the checklist and holds the one-time challenge; step two sends it with
// the typed word. Refusals are shown as the API words them; nothing is retried.
let liveChallenge = null;

async function openLive() {
  liveChallenge = null;
  $("live-checks").replaceChildren();
  $("live-word").value = "";
  $("live-verdict").textContent = "Running the checklist…";
  $("confirm-live").disabled = true;
  $("live-dialog").showModal();
  try {
    const r = await post("/api/mode", { mode: "live" });
    if (!r.ok) { $("live-verdict").textContent = "Refused: " + (r.answer.error || "HTTP " + r.status); return; }
    list($("live-checks"), r.answer.preflight.checks,
         (c) => c.verdict + "  " + c.name + ": " + c.detail + (c.verdict === "PASS" ? "" : " — fix: " + c.fix));
    liveChallenge = r.answer.challenge;
    const ok = r.answer.preflight.ok;
    $("live-verdict").textContent = ok ? "Ready: type LIVE within two minutes." : "NOT ready: fix the failures first.";
    $("confirm-live").disabled = !ok;
  } catch (err) {
    $("live-verdict").textContent = "The daemon did not answer.";
  }
}

async function confirmLive(event) {
  event.preventDefault();
  const word = $("live-word").value;
  const challenge = liveChallenge;
  liveChallenge = null;  // one attempt per challenge: the server spends it too
  $("confirm-live").disabled = true;
  try {
    const r = await post("/api/mode", { mode: "live", challenge, confirm: word });
    $("live-verdict").textContent = r.ok ? r.answer.next : "Refused: " + (r.answer.error || "HTTP " + r.status);
    $("control-message").textContent = r.ok ? "Switching to LIVE: the daemon restarts, HALTED." : "";
  } catch (err) {
    $("live-verdict").textContent = "The daemon did not answer.";
  }
}

async function goPaper() {
  try {
    const r = await post("/api/mode", { mode: "paper" });
    $("control-message").textContent = r.ok ? r.answer.next : "Refused: " + (r.answer.error || "HTTP " + r.status);
  } catch (err) {
    $("control-message").textContent = "The daemon did not answer.";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("go-live").addEventListener("click", openLive);
  $("go-paper").addEventListener("click", goPaper);
  $("cancel-live").addEventListener("click", () => $("live-dialog").close());
  $("live-form").addEventListener("submit", confirmLive);
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));
  $("stop").addEventListener("click", () => $("stop-dialog").showModal());
  $("cancel-stop").addEventListener("click", () => $("stop-dialog").close());
  $("confirm-stop").addEventListener("click", confirmStop);
  $("reset-form").addEventListener("submit", reset);
  if (token()) start();
});
