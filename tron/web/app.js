// The Tron's dashboard (spec/tron-api.md "Dashboard"). Plain JS, no build step. The token
// is asked once and kept in sessionStorage (this tab only); every call sends it in the
// Authorization header, never in a URL. The event stream is read with fetch and a
// ReadableStream because EventSource cannot send headers.
"use strict";

const TOKEN_KEY = "funcatron-token";
const STATS_EVERY_MS = 2000;
const RETRY_STREAM_MS = 2000;
const MAX_EVENTS = 200;

const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem(TOKEN_KEY) || "";
let statsTimer = null;
let stream = null; // the AbortController of the event stream
// Rates are averaged over RATE_WINDOW_MS: counts reach the Tron with runner heartbeats (every
// 10 s by default), so a rate between two polls 2 s apart would jump between 0 and bursts.
const RATE_WINDOW_MS = 30000;
let statsHistory = []; // {at, routes} of recent polls, oldest first; [0] is the rates' base
let bundleNames = {}; // sha -> "title version"

// ---- helpers ----

// el builds an element; strings become text nodes (data is never parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? "-"));
  return e;
}

const short = (sha) => (sha || "").slice(0, 12);
const routeName = (host, path) => (host && host !== "*" ? host : "*") + path;
// RFC 3339 in UTC, to the second.
const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z") : "-");
function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function showError(msg) { $("#error").textContent = msg || ""; }

// api calls the admin API with the token; it returns {status, body} for 2xx and throws an
// Error carrying the Tron's message otherwise. A 401 signs out.
async function api(method, path, body, type) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = type || "application/json";
  const resp = await fetch(path, { method, headers, body: type || body === undefined ? body : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) {
    signOut("The Tron refused the token (401): " + (data.error || "") + ". Sign in again.");
    throw new Error("unauthorized");
  }
  if (!resp.ok) {
    const err = new Error(data.error || resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return { status: resp.status, body: data };
}

// ---- sign in and out ----

async function signIn(candidate) {
  token = candidate;
  try {
    await api("GET", "/api/v1/known_funcs");
  } catch (e) {
    if (e.message !== "unauthorized") $("#login-error").textContent = "Could not reach the Tron: " + e.message;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
}

function signOut(msg) {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(statsTimer);
  if (stream) stream.abort();
  stream = null;
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#conn").textContent = "signed out";
  $("#conn").classList.remove("live");
  $("#login-error").textContent = msg || "";
  $("#token").value = "";
  $("#token").focus();
}

function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#conn").textContent = "signed in";
  $("#conn").classList.add("live");
  refresh();
  statsTimer = setInterval(pollStats, STATS_EVERY_MS);
  followEvents();
}

// ---- bundles ----

async function refresh() {
  try {
    const { body } = await api("GET", "/api/v1/known_funcs");
    renderBundles(body["func-bundles"] || []);
    await pollStats();
  } catch (e) {
    if (e.message !== "unauthorized") showError("Loading bundles: " + e.message);
  }
}

function renderBundles(list) {
  bundleNames = {};
  const rows = list.map((b) => {
    bundleNames[b.sha] = (b.title + " " + b.version).trim();
    const state = b.enabled ? "enabled" : "disabled";
    const action = b.enabled
      ? el("button", { class: "secondary", "data-action": "disable", "data-sha": b.sha, onclick: () => disable(b.sha) }, "Disable")
      : el("button", { "data-action": "enable", "data-sha": b.sha, onclick: () => enable(b.sha) }, "Enable");
    return el("tr", { "data-sha": b.sha },
      el("td", {}, b.title), el("td", {}, b.version), el("td", { class: "mono", title: b.sha }, short(b.sha)),
      el("td", {}, b.type), el("td", { class: "mono" }, routeName(b.host, b.path)),
      el("td", { class: "state state-" + state }, state), el("td", {}, fmtTime(b["uploaded-at"])),
      el("td", { class: "num" }, fmtBytes(b.size)), el("td", {}, action));
  });
  $("#bundles tbody").replaceChildren(...rows);
}

async function upload(ev) {
  ev.preventDefault();
  const file = $("#upload-file").files[0];
  if (!file) return;
  showError("");
  $("#upload-btn").disabled = true;
  try {
    const { body } = await api("POST", "/api/v1/add_func", file, "application/zip");
    showError(body.new === false ? "Already stored: " + short(body.sha) : "");
    $("#upload-form").reset();
    await refresh();
  } catch (e) {
    if (e.message !== "unauthorized") showError("Upload refused: " + e.message);
  } finally {
    $("#upload-btn").disabled = false;
  }
}

// enable sends props only when given, so replacing keeps the replaced bundle's props.
async function enable(sha) {
  const req = { sha, replace: $("#replace").checked };
  const props = $("#props").value.trim();
  if (props) {
    try { req.props = JSON.parse(props); } catch (e) { showError("Props must be a JSON object: " + e.message); return; }
  }
  showError("");
  try {
    const { status, body } = await api("POST", "/api/v1/enable", req);
    if (status === 202) showError("Enabled, not served yet: " + body.warning);
  } catch (e) {
    if (e.message === "unauthorized") return;
    const hint = e.status === 409 && /already serves/.test(e.message) ? "\nTick \u201creplace\u201d to replace it." : "";
    showError("Enable refused: " + e.message + hint);
  }
  refresh();
}

async function disable(sha) {
  showError("");
  try {
    await api("POST", "/api/v1/disable", { sha });
  } catch (e) {
    if (e.message !== "unauthorized") showError("Disable refused: " + e.message);
  }
  refresh();
}

// ---- routes and nodes, from /api/v1/stats ----

async function pollStats() {
  if (!token) return;
  let stats;
  try {
    stats = (await api("GET", "/api/v1/stats")).body;
  } catch (e) {
    if (e.message !== "unauthorized") showError("Loading stats: " + e.message);
    return;
  }
  const now = Date.now();
  statsHistory.push({ at: now, routes: stats.routes || {} });
  while (statsHistory.length > 2 && now - statsHistory[1].at >= RATE_WINDOW_MS) statsHistory.shift();
  const base = statsHistory.length > 1 ? statsHistory[0] : null;
  renderRoutes(stats["route-map"] || [], stats.routes || {}, base, now);
  renderNodes(stats.network || {});
}

// renderRoutes shows each route with its rates since prev, the oldest poll of the window.
function renderRoutes(routeMap, counts, prev, now) {
  const secs = prev ? (now - prev.at) / 1000 : 0;
  const rows = routeMap.map((r) => {
    const c = counts[r.queue] || {}, p = (prev && prev.routes[r.queue]) || {};
    const dn = (c.count || 0) - (p.count || 0), dms = (c["total-ms"] || 0) - (p["total-ms"] || 0);
    const rate = (d) => (secs > 0 ? (d / secs).toFixed(1) : "-");
    const avg = dn > 0 ? (dms / dn).toFixed(1) : c.count ? (c["total-ms"] / c.count).toFixed(1) : "-";
    return el("tr", { "data-queue": r.queue },
      el("td", { class: "mono" }, routeName(r.host, r.path)), el("td", {}, bundleNames[r.sha] ? bundleNames[r.sha] + " (" + short(r.sha) + ")" : short(r.sha)),
      el("td", { class: "num" }, rate(dn)), el("td", { class: "num" }, rate((c.errors || 0) - (p.errors || 0))),
      el("td", { class: "num" }, avg), el("td", { class: "num" }, String(c.inflight || 0)),
      el("td", { class: "num" }, String(c.count || 0)), el("td", { class: "num" }, String(c.errors || 0)),
      el("td", { class: "mono" }, r.queue));
  });
  $("#routes tbody").replaceChildren(...rows);
}

function renderNodes(network) {
  const rows = Object.entries(network)
    .sort(([a, x], [b, y]) => x.type.localeCompare(y.type) || a.localeCompare(b))
    .map(([inbox, n]) => el("tr", { "data-inbox": inbox },
      el("td", {}, n.type), el("td", { class: "mono" }, inbox), el("td", {}, n["instance-id"] || "-"),
      el("td", {}, n.version || "-"), el("td", {}, fmtTime(n["last-seen"]))));
  $("#nodes tbody").replaceChildren(...rows);
}

// ---- the live event stream ----

function streamState(text, live) {
  $("#stream").textContent = text;
  $("#stream").classList.toggle("live", live);
}

// followEvents reads GET /api/v1/events as Server-Sent Events, reconnecting when it ends.
async function followEvents() {
  const ctl = new AbortController();
  stream = ctl;
  $("#events").replaceChildren(); // the stream replays the recent events first
  try {
    const resp = await fetch("/api/v1/events", {
      headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: ctl.signal,
    });
    if (resp.status === 401) { signOut("The Tron refused the token (401). Sign in again."); return; }
    if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
    streamState("live", true);
    await readSSE(resp.body, onEvent);
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  if (stream !== ctl) return;
  streamState("reconnecting", false);
  setTimeout(() => { if (stream === ctl && token) followEvents(); }, RETRY_STREAM_MS);
}

// readSSE hands each event's data (JSON) to fn; comment lines (heartbeats) are skipped.
async function readSSE(body, fn) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
      if (data.length) fn(JSON.parse(data.join("\n")));
    }
  }
}

let refreshSoon = null;
function onEvent(e) {
  const what = [e.sha && "bundle " + short(e.sha), e.path && routeName(e.host, e.path),
    e.node && (e["node-type"] || "") + " " + e.node, e.event === "route.updated" && e.routes + " routes"].filter(Boolean);
  const li = el("li", { "data-event": e.event }, fmtTime(e.at) + "  ", el("span", { class: "name" }, e.event), "  " + what.join("  "));
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  clearTimeout(refreshSoon); // a burst of events is one refresh
  refreshSoon = setTimeout(refresh, 150);
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); });
  $("#logout").addEventListener("click", () => signOut(""));
  $("#upload-form").addEventListener("submit", upload);
  if (token) signIn(token);
});
