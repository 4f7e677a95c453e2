// livehub.js — the shared browser client of /watch, /panel and /.
//
// Plain ES module, no dependencies, no build step.  Five parts:
//   1. small helpers: DOM building (text only, never innerHTML with data), money, time, HTTP;
//   2. LiveClient: one websocket to livehub with exact resume (per-channel epoch/offset),
//      reconnect with backoff, requests with ids, batched likes and a server clock offset;
//   3. applyEvent: how each event kind changes a channel's latest-value state, mirroring the
//      server's state fields (one table: extend it when the server grows new kinds);
//   4. VenueView: renders one venue (counters, banners, the pinned card, flash sales, coupons,
//      live updates, comments) for both pages; for viewers also buying with a pickup location,
//      the coupon wallet and "my orders" (reservation, pay-by countdown, simulated payment);
//   5. pages: startWatch, startPanel (host console: products, card, flash sales, coupons, live
//      orders, guide leaderboard, store lookup) and startIndex.
//
// Everything arriving from the network is rendered with textContent; unknown frames and
// unknown event kinds are ignored by viewers (hosts see the latter in their feed).

import { demoModeratorToken, installModeration } from "/static/moderation.js";
import { pickupBox, refreshMyOrders, renderPickup } from "/static/my_orders.js";
import { attachGroupBuy, attachGroupBuyPanel } from "./groupbuy.js"; // group buys (拼团): their own module

export const SUBPROTOCOL = "livehub.json.v1";

// ---------------------------------------------------------------------------------------------
// 1. helpers
// ---------------------------------------------------------------------------------------------

/** Build an element.  props: class, text, dataset, on<event> handlers, DOM properties, attributes. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (typeof value !== "string" && key in el) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child)); // strings become text nodes
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  eye: ["M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z", "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z"],
  megaphone: ["M3 10v4h3l6 4V6L6 10z", "M16 9a4 4 0 0 1 0 6", "M19 6a8 8 0 0 1 0 12"],
  go: ["M5 12h14", "M13 6l6 6-6 6"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  pin: ["M12 16v6", "M8 3h8l-1 6 3 4v1H6v-1l3-4z"],
  bolt: ["M13 2L4 14h7l-1 8 9-12h-7z"],
  ticket: ["M3 7h18v3a2 2 0 0 0 0 4v3H3v-3a2 2 0 0 0 0-4z", "M14 7v10"],
  location: ["M12 22s7-6.5 7-12a7 7 0 0 0-14 0c0 5.5 7 12 7 12z", "M12 7.5a2.5 2.5 0 1 0 0 5a2.5 2.5 0 1 0 0-5z"],
  dot: ["M12 10a2 2 0 1 0 0 4a2 2 0 1 0 0-4z"],
  truck: ["M2 6h11v10H2z", "M13 10h4l3 3v3h-7z", "M6 18.5a1.5 1.5 0 1 0 0-.01", "M17 18.5a1.5 1.5 0 1 0 0-.01"],
  store: ["M3 9l2-5h14l2 5", "M4 9v11h16V9", "M3 9h18", "M9 20v-6h6v6"],
  receipt: ["M6 2h12v20l-3-2-3 2-3-2-3 2z", "M9 7h6", "M9 11h6", "M9 15h4"],
  trophy: ["M8 4h8v5a4 4 0 0 1-8 0z", "M8 6H4a3 3 0 0 0 4 4", "M16 6h4a3 3 0 0 1-4 4", "M12 13v4", "M8 21h8", "M10 17h4v4h-4z"],
  search: ["M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z", "M21 21l-5-5"],
};

/** A small inline SVG icon (no emoji font needed). */
export function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  for (const d of ICONS[name] || ICONS.dot) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

export function money(cents) {
  const c = num(cents);
  if (c === null) return "";
  return "¥" + (c / 100).toFixed(c % 100 ? 2 : 0);
}

/** 65_000 -> "01:05", 3_723_000 -> "1:02:03". */
export function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`;
}

export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function compact(n) {
  const v = num(n) ?? 0;
  if (v >= 1e8) return (v / 1e8).toFixed(1) + "亿";
  if (v >= 1e4) return (v / 1e4).toFixed(1) + "万";
  return v.toLocaleString();
}

/** A fresh request id (also the buy's idempotency key). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Only same-origin paths and http(s) URLs are used as image sources. */
export function safeImage(url) {
  const u = str(url);
  return /^(\/(?!\/)|https?:\/\/)/i.test(u) ? u : "/static/products/product.svg";
}

/** HTTP JSON call.  Never throws: {ok, status, data} where data is the parsed body (or {}). */
export async function api(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, data: { code: "network", message: String(err?.message || err) } };
  }
  let data = {};
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { code: "bad_response", message: text.slice(0, 200) };
    }
  }
  return { ok: res.ok, status: res.status, data };
}

/** "HTTP 404 · not_found: ..." for an API failure. */
export function describeFailure(res) {
  const d = isObj(res.data) ? res.data : {};
  const code = str(d.code) || "error";
  const msg = str(d.message);
  return `${res.status ? "HTTP " + res.status + " · " : ""}${code}${msg ? ": " + msg : ""}`;
}

function readSession(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function writeSession(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage disabled: keep going without the cache */
  }
}

/** Whether the server runs in demo mode (guest logins, simulated payments): null until known. */
export let demoMode = null;

/**
 * A viewer token for this tab (POST /api/auth/guest), cached in sessionStorage; null when the server
 * is not in demo mode (the guest login answers 404: the platform's login provides the token).
 */
export async function guestAuth(fresh = false) {
  const cached = fresh ? null : readSession("livehub.guest");
  if (cached?.token) {
    demoMode = true; // it came from the guest login
    return cached;
  }
  for (let attempt = 0; ; attempt++) {
    const res = await api("POST", "/api/auth/guest");
    if (res.ok && res.data.token) {
      demoMode = true;
      writeSession("livehub.guest", { token: res.data.token, user: res.data.user });
      return res.data;
    }
    if (res.status === 404) {
      demoMode = false;
      return null;
    }
    await sleep(Math.min(10000, 500 * 2 ** attempt));
  }
}

/** The user id inside a livehub token (its payload's "sub"), or "" if unreadable (display only). */
function tokenUser(token) {
  try {
    const part = token.split(".")[token.split(".").length === 3 ? 1 : 0];
    return str(JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))).sub);
  } catch {
    return "";
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let festivalPromise = null;
/** GET /api/festival once per page; adds lookup maps (venues by id, products by sku). */
export function loadFestival() {
  festivalPromise ??= api("GET", "/api/festival").then((res) => {
    if (!res.ok) throw new Error(describeFailure(res));
    return indexFestival(res.data);
  });
  return festivalPromise;
}

function indexFestival(f) {
  const venues = Array.isArray(f.venues) ? f.venues.filter(isObj) : [];
  const byId = new Map(venues.map((v) => [str(v.id), v]));
  const products = new Map();
  for (const p of Array.isArray(f.products) ? f.products : []) if (isObj(p) && p.sku) products.set(str(p.sku), p);
  const brandNames = new Map(); // brand id -> "Lotus Tea" (its room's title without " live room")
  for (const v of venues) if (v.brand) brandNames.set(str(v.brand), str(v.title).replace(/ live room$/i, "") || str(v.brand));
  const main = str(f.main_venue) || venues.find((v) => v.kind === "main")?.id || "main";
  return { ...f, main_venue: main, venues, byId, products, brandNames };
}

// ---------------------------------------------------------------------------------------------
// 2. the connection
// ---------------------------------------------------------------------------------------------

const NO_RETRY = new Set([1008, 1009, 4004]); // bad client / unknown venue: reconnecting would not help
const QUICK_RETRY = new Set([4000, 4008, 4009]); // slow / resync (and a test's deliberate close)
const LIKE_INTERVAL_MS = 250;
const LIKE_MAX_PER_FRAME = 100; // the server's like_max_per_frame default
const HEARTBEAT_MS = 25000;
const REQUEST_TIMEOUT_MS = 10000;

/**
 * One websocket to livehub.  Events: "status" {status, detail}, "snapshot" {frame, recovered,
 * venueChanged}, "event" (the frame), "volatile" (online/likes/comment/stock frames; hosts also
 * get order/leaderboard/signal frames),
 * "error" (error frames not tied to a pending request), "unauthorized".
 */
export class LiveClient extends EventTarget {
  constructor({ token, venue, guide = null, refreshToken = null, base = location.origin }) {
    super();
    this.token = token;
    this.venue = venue;
    this.guide = guide;
    this.refreshToken = refreshToken; // async () => new token (viewers); hosts log in again instead
    this.wsBase = base.replace(/^http/, "ws");
    this.ws = null;
    this.status = "idle";
    this.positions = {}; // channel -> [epoch, offset] of the last event applied
    this.state = {}; // channel -> latest-value state {cta, cohost, card, sales, coupons, ...}
    this.counters = {}; // venue -> {online, likes, ...}
    this.stock = {}; // sale id -> {stock, sold_out} from volatile stock frames
    this.user = null;
    this.role = null;
    this.shownVenue = null; // the venue of the last snapshot
    this.clockOffset = 0; // server clock - local clock, ms
    this.bestRtt = Infinity;
    this.pending = new Map(); // request id -> {resolve, reject, timer}
    this.joinId = null; // a join is in flight: events of the old channels are dropped meanwhile
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeat = null;
    this.stopped = false;
    this.seq = 0;
    this.likeQueue = 0;
    this.likeTimer = null;
    this.lastLikeAt = 0;
    this.stats = { snapshots: 0, recovered: 0, fresh: 0, reconnects: 0, duplicates: 0, gaps: 0, events: 0 };
    this.lastSnapshot = null;
    this._online = () => {
      if (this.retryTimer) this.connect();
    };
    window.addEventListener("online", this._online);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
    return this;
  }

  setStatus(status, detail = "") {
    this.status = status;
    this.emit("status", { status, detail });
  }

  serverNow() {
    return Date.now() + this.clockOffset;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    window.removeEventListener("online", this._online);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "bye");
    this.failPending("closed");
    this.setStatus("offline", "stopped");
  }

  hasPositions() {
    return Object.keys(this.positions).length > 0;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped) return;
    const resume = this.hasPositions();
    const q = new URLSearchParams({ token: this.token });
    if (!resume && this.venue) q.set("venue", this.venue); // the server joins and sends the snapshot
    if (this.guide) q.set("guide", this.guide);
    this.setStatus(this.stats.snapshots ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(`${this.wsBase}/ws?${q}`, SUBPROTOCOL);
    } catch (err) {
      this.scheduleReconnect(1006, String(err));
      return;
    }
    this.ws = ws;
    this.joinId = !resume && this.venue ? "auto" : null;
    ws.onmessage = (m) => {
      if (ws === this.ws && typeof m.data === "string") this.onMessage(m.data);
    };
    ws.onclose = (ev) => {
      if (ws === this.ws) this.onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // a close event follows
  }

  onClose(code, reason) {
    this.ws = null;
    this.joinId = null;
    clearInterval(this.heartbeat);
    this.failPending("disconnected");
    if (this.stopped) return;
    if (code === 4001) {
      if (this.refreshToken) {
        this.refreshToken().then(
          (token) => {
            this.token = token;
            this.scheduleReconnect(code, reason);
          },
          () => this.scheduleReconnect(code, reason),
        );
      } else {
        this.setStatus("offline", "unauthorized: log in again");
        this.emit("unauthorized", { code, reason });
      }
      return;
    }
    if (NO_RETRY.has(code)) {
      this.setStatus("offline", `${code} ${reason || ""}`.trim());
      return;
    }
    this.scheduleReconnect(code, reason);
  }

  scheduleReconnect(code, reason) {
    const n = this.attempt++;
    let delay;
    if (n === 0 && QUICK_RETRY.has(code)) delay = 100 + Math.random() * 400;
    else if (n === 0 && code === 1012) delay = Math.random() * 1500; // node restarting: spread the herd
    else delay = Math.min(15000, 500 * 2 ** n) * (0.5 + Math.random() * 0.5);
    this.stats.reconnects++;
    this.setStatus("reconnecting", `closed ${code}${reason ? " (" + reason + ")" : ""}; retry in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  failPending(code) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject({ type: "error", code, message: "connection lost before the answer" });
    }
    this.pending.clear();
  }

  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Send a request with an id; resolves with the reply's data (or the snapshot), rejects with the error frame. */
  request(msg, timeout = REQUEST_TIMEOUT_MS) {
    const id = msg.id ?? `r${++this.seq}`;
    return new Promise((resolve, reject) => {
      if (!this.open) {
        reject({ type: "error", code: "disconnected", message: "not connected" });
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject({ type: "error", code: "timeout", message: "no answer in time" });
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...msg, id });
    });
  }

  settle(id, frame, ok) {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (ok) p.resolve(frame.type === "reply" ? frame.data ?? {} : frame);
    else p.reject(frame);
    return true;
  }

  onMessage(raw) {
    let f;
    try {
      f = JSON.parse(raw);
    } catch {
      return;
    }
    if (!isObj(f)) return;
    switch (f.type) {
      case "welcome":
        this.user = str(f.user);
        this.role = str(f.role);
        this.bestRtt = Infinity; // maybe another node (and clock): estimate the offset afresh
        this.setClock(f.server_time, Infinity);
        this.onWelcome();
        break;
      case "snapshot":
        this.onSnapshot(f);
        break;
      case "event":
        this.onEvent(f);
        break;
      case "reply":
        this.settle(f.id, f, true);
        break;
      case "error":
        if (f.id === undefined || f.id === null || !this.settle(f.id, f, false)) this.emit("error", f);
        break;
      default:
        this.onVolatile(f);
    }
  }

  onWelcome() {
    if (this.joinId === null && this.venue) {
      // a reconnect: resume from the last positions (exact replay, or a fresh snapshot)
      const since = {};
      for (const [ch, pos] of Object.entries(this.positions)) since[ch] = pos;
      this.join(this.venue, Object.keys(since).length ? since : null);
    }
    this.syncClock();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  beat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    this.request({ type: "ping" }).catch((err) => {
      if (err?.code === "timeout" && ws === this.ws) {
        // the connection is dead without a close: drop it and resume elsewhere
        this.ws = null;
        try {
          ws.close();
        } catch {
          /* ignore */
        }
        this.onClose(1006, "heartbeat timeout");
      }
    });
  }

  syncClock() {
    const t0 = Date.now();
    this.request({ type: "ping" }).then(
      (data) => {
        const rtt = Date.now() - t0;
        this.setClock(num(data.server_time), rtt, t0 + rtt / 2);
      },
      () => {},
    );
  }

  setClock(serverTime, rtt = Infinity, localAt = Date.now()) {
    if (num(serverTime) === null) return;
    if (rtt <= this.bestRtt || this.bestRtt === Infinity) {
      if (rtt !== Infinity) this.bestRtt = rtt;
      this.clockOffset = serverTime - localAt;
    }
  }

  /** Join (or switch to) a venue on the open socket; with `since` the server replays what was missed. */
  join(venue, since = null) {
    this.venue = venue;
    if (!since) this.positions = {}; // a reconnect now starts this venue afresh
    if (!this.open) {
      // connecting or waiting to retry: start over on the new venue right away
      const old = this.ws;
      this.ws = null;
      if (old) old.close();
      this.connect();
      return Promise.resolve(null);
    }
    const id = `j${++this.seq}`;
    this.joinId = id;
    const msg = { type: "join", venue, id };
    if (since) msg.since = since;
    return this.request(msg).catch((err) => {
      if (this.joinId === id) this.joinId = null;
      if (err?.code === "unavailable" && this.ws) {
        // the server kept nothing of this join (Redis unreachable): reconnect with backoff and join again
        const ws = this.ws;
        this.ws = null;
        try {
          ws.close();
        } catch {
          /* ignore */
        }
        this.onClose(1013, "join unavailable");
        return null;
      }
      if (err?.code !== "disconnected") this.emit("error", { ...err, context: "join" });
      return null;
    });
  }

  switchVenue(venue) {
    if (venue && venue !== this.venue) return this.join(venue);
    return Promise.resolve(null);
  }

  /** A gap or a changed epoch (never expected): ask the server to replay from our positions. */
  resync() {
    if (this.joinId !== null) return;
    this.join(this.venue, { ...this.positions });
  }

  onSnapshot(f) {
    if (this.joinId !== null && this.joinId !== "auto" && f.id !== this.joinId) return; // an older join's answer
    this.joinId = null;
    const venue = str(f.venue);
    const venueChanged = venue !== this.shownVenue;
    const recovered = f.recovered === true && !venueChanged;
    this.venue = venue;
    this.shownVenue = venue;
    this.setClock(f.server_time);
    this.positions = {};
    for (const [ch, pos] of Object.entries(isObj(f.channels) ? f.channels : {})) {
      if (isObj(pos)) this.positions[ch] = [str(pos.epoch), num(pos.offset) ?? 0];
    }
    if (!recovered) {
      this.state = {};
      for (const ch of Object.keys(this.positions)) {
        const st = isObj(f.state) && isObj(f.state[ch]) ? structuredClone(f.state[ch]) : {};
        this.state[ch] = normalizeState(st);
      }
    }
    if (venueChanged) this.stock = {};
    if (isObj(f.counters)) {
      for (const [v, c] of Object.entries(f.counters)) {
        if (!isObj(c)) continue;
        this.counters[v] = { ...(venueChanged ? {} : this.counters[v]), ...c };
        // counters[venue].stock: {sale id: units left} of the venue's sales
        for (const [sale, left] of Object.entries(isObj(c.stock) ? c.stock : {})) {
          const n = num(left);
          if (n !== null) this.stock[sale] = { stock: n, sold_out: n <= 0 };
        }
      }
    }
    this.stats.snapshots++;
    this.stats[recovered ? "recovered" : "fresh"]++;
    this.lastSnapshot = { venue, recovered, at: Date.now() };
    this.attempt = 0;
    this.setStatus("live");
    this.emit("snapshot", { frame: f, recovered, venueChanged });
    if (f.id !== undefined) this.settle(f.id, f, true);
  }

  onEvent(f) {
    if (this.joinId !== null) return; // the old channels' tail while a join is in flight
    const ch = str(f.ch);
    const pos = this.positions[ch];
    if (!pos) return; // not one of this venue's channels
    const offset = num(f.offset);
    if (offset === null) return;
    if (str(f.epoch) !== pos[0]) {
      this.stats.gaps++;
      this.resync();
      return;
    }
    if (offset <= pos[1]) {
      this.stats.duplicates++;
      return;
    }
    if (offset > pos[1] + 1) {
      this.stats.gaps++;
      this.resync();
      return;
    }
    this.positions[ch] = [pos[0], offset];
    this.stats.events++;
    this.state[ch] ??= {};
    applyEvent(this.state[ch], str(f.kind), f.data);
    if (f.kind === "sale.sold_out" && isObj(f.data?.sale)) {
      // until a newer stock frame says otherwise (stock comes back when reservations lapse)
      this.stock[str(f.data.sale.sale_id)] = { stock: 0, sold_out: true };
    }
    this.emit("event", f);
  }

  onVolatile(f) {
    const venue = str(f.venue);
    if ((f.type === "online" || f.type === "likes") && venue) {
      const c = (this.counters[venue] ??= {});
      const n = num(f.count);
      if (n !== null) c[f.type] = f.type === "likes" ? Math.max(n, c.likes ?? 0) : n;
    } else if (f.type === "stock") {
      const sale = str(f.sale);
      const n = num(f.stock);
      if (sale && n !== null) this.stock[sale] = { stock: n, sold_out: f.sold_out === true || n <= 0 };
    }
    this.emit("volatile", f);
  }

  /** Tap the like button: at most one `like` frame per 250 ms carrying the summed taps. */
  like(n = 1) {
    this.likeQueue += n;
    if (this.likeTimer) return;
    const wait = Math.max(0, this.lastLikeAt + LIKE_INTERVAL_MS - Date.now());
    this.likeTimer = setTimeout(() => this.flushLikes(), wait);
  }

  flushLikes() {
    this.likeTimer = null;
    if (!this.likeQueue) return;
    if (!this.open || this.joinId !== null) {
      this.likeTimer = setTimeout(() => this.flushLikes(), LIKE_INTERVAL_MS); // keep the taps until live
      return;
    }
    const n = Math.min(this.likeQueue, LIKE_MAX_PER_FRAME);
    this.likeQueue -= n;
    this.lastLikeAt = Date.now();
    this.send({ type: "like", n });
    if (this.likeQueue) this.likeTimer = setTimeout(() => this.flushLikes(), LIKE_INTERVAL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. state: how events change a channel's latest-value state
// ---------------------------------------------------------------------------------------------
//
// The server keeps each channel's latest values as state fields and shows them grouped:
// `sale:<id>` as state.sales[id], `coupon:<id>` as state.coupons[id]; `card`, `cta` and `cohost`
// as they are.  Each reducer sets (or clears) exactly the field the server's event set, so a
// client that resumed by replay holds the same state as one that got a fresh snapshot.

function normalizeState(st) {
  st.sales = isObj(st.sales) ? st.sales : {};
  st.coupons = isObj(st.coupons) ? st.coupons : {};
  return st;
}

function setSale(st, d) {
  if (isObj(d.sale) && d.sale.sale_id) (st.sales ??= {})[str(d.sale.sale_id)] = d.sale;
}

/** kind -> (channel state, event data) => void.  Extend here for new kinds. */
export const REDUCERS = {
  "cta.visit": (st, d) => {
    st.cta = d;
  },
  "cohost.started": (st, d) => {
    st.cohost = d;
  },
  "cohost.ended": (st) => {
    delete st.cohost;
  },
  "card.pinned": (st, d) => {
    if (isObj(d.card)) st.card = d.card;
  },
  "card.unpinned": (st) => {
    delete st.card;
  },
  "sale.scheduled": setSale,
  "sale.started": setSale, // starts_at_ms moved to now
  "sale.ended": setSale, // ends_at_ms moved to now
  "sale.sold_out": setSale, // with sold_out: true
  "coupon.dropped": (st, d) => {
    if (isObj(d.coupon) && d.coupon.coupon_id) (st.coupons ??= {})[str(d.coupon.coupon_id)] = d.coupon;
  },
};

export function applyEvent(st, kind, data) {
  const reduce = REDUCERS[kind];
  if (reduce && isObj(data)) reduce(st, data);
}

// ---------------------------------------------------------------------------------------------
// 4. rendering
// ---------------------------------------------------------------------------------------------

const BUY_MESSAGES = {
  sold_out: "Sold out — you were a moment too late",
  not_started: "The sale hasn't started yet",
  ended: "The sale has ended",
  limit_reached: "You've reached the per-person limit",
  bad_quantity: "That quantity isn't allowed",
  coupon_invalid: "That coupon can't be used on this sale — pick another",
  busy: "Very busy right now — tap again",
  not_found: "This sale no longer exists",
  bad_request: "The shop couldn't read that request",
  forbidden: "Hosts don't buy: open the room as a viewer",
  unavailable: "Buying isn't available right now — tap again",
  rate_limited: "Too fast — wait a moment",
  disconnected: "Connection lost — tap again to retry (it's safe)",
  timeout: "No answer — tap again to retry (it's safe)",
};

const GRAB_MESSAGES = {
  sold_out: "All taken — too late",
  limit_reached: "You already have all you may take",
  expired: "This coupon has expired",
  not_found: "This coupon no longer exists",
  guide_only: "This coupon is for one shopping guide's customers only",
};

const STATUS_TEXT = { idle: "Idle", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };

const MAX_COMMENTS = 100;
const CTA_MAX_AGE_MS = 15 * 60 * 1000;
const MAX_FEED = 50;
const FINISHED_SALES_SHOWN = { viewer: 3, host: 6 }; // sold-out / ended sales kept on screen, newest first
const MAX_MY_ORDERS = 20;
const BUSY_RETRIES = 3; // a "busy" buy is retried (same id) after the server's retry_after_ms
const PHASE_RANK = { open: 0, scheduled: 1, sold_out: 2, ended: 3 };

/**
 * Where a viewer's order is routed from when the browser has no (or no granted) geolocation:
 * a few fixed spots.  config/small.toml's stores are in Shanghai; the demo festival spreads its
 * brands over Chinese cities.
 */
export const PLACES = [
  { id: "sh-peoples-square", group: "Shanghai", label: "People's Square", loc: [31.232, 121.473] },
  { id: "sh-lujiazui", group: "Shanghai", label: "Lujiazui", loc: [31.2397, 121.4998] },
  { id: "sh-xujiahui", group: "Shanghai", label: "Xujiahui", loc: [31.195, 121.437] },
  { id: "beijing", group: "Other cities", label: "Beijing", loc: [39.9042, 116.4074] },
  { id: "guangzhou", group: "Other cities", label: "Guangzhou", loc: [23.1291, 113.2644] },
  { id: "shenzhen", group: "Other cities", label: "Shenzhen", loc: [22.5431, 114.0579] },
  { id: "hangzhou", group: "Other cities", label: "Hangzhou", loc: [30.2741, 120.1551] },
  { id: "chengdu", group: "Other cities", label: "Chengdu", loc: [30.5728, 104.0668] },
  { id: "wuhan", group: "Other cities", label: "Wuhan", loc: [30.5928, 114.3055] },
];

/** 0.034 -> "34 m", 2.46 -> "2.5 km". */
export function distance(kmValue) {
  const v = num(kmValue);
  if (v === null) return "";
  return v < 1 ? `${Math.max(1, Math.round(v * 1000))} m` : `${v.toFixed(v < 10 ? 1 : 0)} km`;
}

/** "s-1a2b:o9f3e…" -> "9F3E61C0": a short, readable form of an order (or reservation) id. */
export function shortRef(id) {
  const tail = str(id).split(":").pop() || "";
  return tail.replace(/^[ro]/, "").slice(0, 8).toUpperCase();
}

/** How an order is fulfilled, in words: {icon, text}. */
export function fulfilmentText(r) {
  const mode = str(r.mode);
  const dist = distance(r.distance_km);
  if (mode === "pickup") {
    const text = `Pick up at store ${str(r.store)}${dist ? ` · ${dist} away` : ""}`;
    return { icon: "store", text: r.pickup_fallback ? `${text} (your chosen store couldn't serve it)` : text };
  }
  if (mode === "delivery") {
    const why = r.pickup_fallback ? "no store near you could serve it" : dist ? `warehouse ${dist} away` : "no location given";
    return { icon: "truck", text: `Home delivery from the brand's warehouse (${why})` };
  }
  return { icon: "dot", text: "" };
}

/** Feature modules (e.g. shelf.js) extend pages here: fn(view) after each VenueView is built,
 * fn(controlsBox, ctx) after the host panel's controls are built. */
export const VIEW_PLUGINS = [];
export const PANEL_PLUGINS = [];

export class VenueView {
  /**
   * root: an element to render into.  opts: festival (indexed, may be null), mode "viewer" |
   * "host", switcher (venue select in the bar), logo (brand + festival title in the bar), bar;
   * viewers: owner (the guest user, for the wallet and orders kept in sessionStorage);
   * hosts: canDrive(venue) and hostApi(method, path, body) for the sale buttons.
   */
  constructor(root, client, opts = {}) {
    this.root = root;
    this.client = client;
    this.festival = opts.festival || null;
    this.mode = opts.mode || "viewer";
    this.canDrive = opts.canDrive || (() => false);
    this.hostApi = opts.hostApi || null;
    this.owner = opts.owner || null;
    this.place = readSession("livehub.place"); // {id, label, loc: [lat, lon]} the viewer picked
    this.buyState = {}; // sale id -> {busy, text, ok, status, retryId}
    this.couponChoice = {}; // sale id -> coupon id ("" = none) the viewer picked
    this.couponState = {}; // coupon id -> {busy, text, ok, soldOut}
    this.wallet = new Map(); // coupon id -> {coupon, unused, grabbed, invalid}
    this.myOrders = new Map(); // reservation id -> reservation (see addReservation)
    this.loadOwned();
    this.ctaDismissed = null;
    this.feedOnce = new Set();
    this.likesShown = 0;
    this.saleEls = new Map();
    this.cardEls = new Map();
    this.couponEls = new Map();
    this.orderEls = new Map();
    this.renderQueued = false;
    this.build(opts);
    client.on("status", (d) => this.renderStatus(d));
    client.on("snapshot", (d) => this.onSnapshot(d));
    if (this.mode === "viewer") client.on("snapshot", () => refreshMyOrders(this)); // the server's "My orders"
    client.on("event", (f) => this.onEvent(f));
    client.on("volatile", (f) => this.onVolatile(f));
    client.on("error", (f) => this.flash(`${str(f.code)}: ${str(f.message)}`));
    installModeration(this); // deleted comments disappear; moderators' actions on comments (moderation.js)
    this.ticker = setInterval(() => this.tick(), 250);
    for (const plugin of VIEW_PLUGINS) plugin(this);
  }

  // ---- skeleton ------------------------------------------------------------------------------
  build(opts) {
    const f = this.festival;
    const viewer = this.mode === "viewer";
    this.statusEl = h("span", { class: "status", "data-testid": "status", dataset: { state: "idle" }, title: "" }, "Idle");
    const bar = h("div", { class: "lh-bar" });
    if (opts.logo !== false) {
      bar.append(
        h("a", { class: "logo", href: "/" }, "live", h("b", {}, "hub")),
        h("span", { class: "festival-title", text: f?.title || "" }),
      );
    }
    if (opts.switcher && f) bar.append(this.buildSwitcher(f));
    bar.append(h("span", { class: "spacer" }), this.statusEl);
    if (opts.bar === false) bar.hidden = true; // the page shows this.statusEl itself

    this.cohostEl = h("div", { class: "banner cohost", "data-testid": "cohost-banner", hidden: true });
    this.ctaEl = h("div", { class: "banner cta", "data-testid": "cta-banner", hidden: true, role: "status" });
    this.toastEl = h("div", { class: "toast", hidden: true, role: "alert" });

    // the stage: venue, counters, likes, live updates
    this.titleEl = h("h1", { class: "venue-title", "data-testid": "venue-title" }, "…");
    this.kindEl = h("span", { class: "venue-kind" });
    this.onlineEl = h("strong", { "data-testid": "online" }, "0");
    this.likesEl = h("strong", { "data-testid": "likes" }, "0");
    this.festivalOnlineEl = h("span", { class: "festival-online", hidden: true });
    this.heartsEl = h("div", { class: "hearts", "aria-hidden": "true" });
    this.likeBtn = h(
      "button",
      { class: "like-btn", type: "button", "data-testid": "like-btn", "aria-label": "Like", onclick: () => this.tapLike() },
      "♥",
    );
    this.feedEl = h("ol", { class: "feed", "data-testid": "feed" });
    const stage = h(
      "section",
      { class: "stage" },
      h(
        "div",
        { class: "screen" },
        h("div", { class: "screen-top" }, h("span", { class: "live-pill" }, "LIVE"), this.kindEl),
        this.titleEl,
        h(
          "div",
          { class: "counters" },
          h("span", { class: "counter", title: "watching now" }, icon("eye"), " ", this.onlineEl, " watching"),
          h("span", { class: "counter", title: "likes" }, "♥ ", this.likesEl, " likes"),
          this.festivalOnlineEl,
        ),
        this.heartsEl,
        this.likeBtn,
      ),
      h("div", { class: "panel feed-panel is-empty" }, h("h2", {}, "Live updates"), this.feedEl, h("p", { class: "empty", text: "Announcements from the hosts appear here." })),
    );

    // the shop: pinned card, flash sales (with where to deliver), my orders, coupons
    this.cardsEl = h("div", { class: "cards", "data-testid": "cards" });
    this.salesEl = h("div", { class: "sales", "data-testid": "sales" });
    this.salesMoreEl = h("p", { class: "muted small more" });
    this.couponsEl = h("div", { class: "coupons", "data-testid": "coupons" });
    this.ordersEl = h("div", { class: "my-orders", "data-testid": "my-orders" });
    const shop = h(
      "aside",
      { class: "shop" },
      h("div", { class: "panel is-empty" }, h("h2", {}, "Pinned product"), this.cardsEl, h("p", { class: "empty", text: "Nothing pinned right now." })),
      h(
        "div",
        { class: "panel sales-panel is-empty" },
        h("h2", {}, "Flash sales"),
        viewer ? this.buildPlacePicker() : null,
        this.salesEl,
        this.salesMoreEl,
        h("p", { class: "empty", text: "No flash sale yet — stay tuned." }),
      ),
      viewer
        ? h("div", { class: "panel orders-panel is-empty" }, h("h2", {}, "My orders"), this.ordersEl, h("p", { class: "empty", text: "Nothing reserved yet." }))
        : null,
      h("div", { class: "panel coupons-panel is-empty" }, h("h2", {}, "Coupons"), this.couponsEl, h("p", { class: "empty", text: "No coupons right now." })),
    );

    // the chat
    this.commentsEl = h("ol", { class: "comments", "data-testid": "comments", "aria-live": "polite" });
    this.commentInput = h("input", {
      type: "text",
      maxLength: 200,
      placeholder: "Say something…",
      "aria-label": "Comment",
      "data-testid": "comment-input",
      autocomplete: "off",
    });
    this.commentError = h("div", { class: "form-error", "data-testid": "comment-error", role: "alert" });
    const form = h(
      "form",
      { class: "comment-form", onsubmit: (e) => this.sendComment(e) },
      this.commentInput,
      h("button", { type: "submit", class: "btn", "data-testid": "comment-send" }, "Send"),
    );
    const chat = h("section", { class: "panel chat" }, h("h2", {}, "Comments"), this.commentsEl, form, this.commentError);

    this.root.replaceChildren(
      h(
        "div",
        { class: `lh-view mode-${this.mode}` },
        bar,
        h("div", { class: "banners" }, this.cohostEl, this.ctaEl, this.toastEl),
        h("div", { class: "lh-grid" }, stage, shop, chat),
      ),
    );
    this.renderOrders();
  }

  buildSwitcher(f) {
    const main = f.byId.get(f.main_venue);
    this.venueSelect = h("select", {
      class: "venue-select",
      "data-testid": "venue-select",
      "aria-label": "Venue",
      onchange: () => this.client.switchVenue(this.venueSelect.value),
    });
    const brands = f.venues.filter((v) => v.kind !== "main").sort((a, b) => str(a.title).localeCompare(str(b.title)));
    this.allOptions = [];
    if (main) this.venueSelect.append(h("option", { value: str(main.id), text: `★ ${str(main.title) || main.id}` }));
    const group = h("optgroup", { label: `Brand rooms (${brands.length})` });
    for (const v of brands) {
      const opt = h("option", { value: str(v.id), text: str(v.title) || str(v.id) });
      this.allOptions.push(opt);
      group.append(opt);
    }
    this.venueSelect.append(group);
    this.brandGroup = group;
    const search = h("input", {
      type: "search",
      class: "venue-search",
      placeholder: "Find a brand…",
      "aria-label": "Find a brand room",
      oninput: () => {
        const q = search.value.trim().toLowerCase();
        const keep = this.allOptions.filter((o) => !q || o.textContent.toLowerCase().includes(q) || o.value.toLowerCase().includes(q));
        group.replaceChildren(...keep);
        group.label = q ? `Brand rooms matching “${search.value.trim()}” (${keep.length})` : `Brand rooms (${keep.length})`;
      },
      onkeydown: (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        const first = group.querySelector("option");
        if (first) this.client.switchVenue(first.value);
      },
    });
    return h("div", { class: "switcher" }, search, this.venueSelect);
  }

  /** "Pick up near: [my location | People's Square | … | no location]": orders go to the nearest store. */
  buildPlacePicker() {
    this.placeSelect = h("select", { "data-testid": "loc-select", "aria-label": "Where you are", onchange: () => this.pickPlace(this.placeSelect.value) });
    this.placeSelect.append(h("option", { value: "", text: "No location (delivery)" }));
    if (navigator.geolocation) this.placeSelect.append(h("option", { value: "gps", text: "Use my location" }));
    const groups = new Map();
    for (const p of PLACES) {
      if (!groups.has(p.group)) groups.set(p.group, h("optgroup", { label: p.group }));
      groups.get(p.group).append(h("option", { value: p.id, text: p.label }));
    }
    this.placeSelect.append(...groups.values());
    this.placeNote = h("span", { class: "muted small", "data-testid": "loc-note" });
    this.renderPlace();
    return h(
      "div",
      { class: "place" },
      h("label", { class: "place-pick" }, icon("location"), h("span", { text: "Pick up near" }), this.placeSelect),
      this.placeNote,
    );
  }

  pickPlace(value) {
    if (value === "gps") {
      this.placeNote.textContent = "Locating…";
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          const loc = [Number(pos.coords.latitude.toFixed(4)), Number(pos.coords.longitude.toFixed(4))];
          this.setPlace({ id: "gps", label: "My location", loc });
        },
        (err) => {
          this.flash(`No location from the browser (${err.message || "denied"}): pick a place instead`);
          this.renderPlace();
        },
        { timeout: 10000, maximumAge: 600000 },
      );
      return;
    }
    const p = PLACES.find((x) => x.id === value);
    this.setPlace(p ? { id: p.id, label: p.label, loc: p.loc } : null);
  }

  setPlace(place) {
    this.place = place;
    writeSession("livehub.place", place);
    this.renderPlace();
  }

  renderPlace() {
    if (!this.placeSelect) return;
    const p = this.place;
    this.placeSelect.value = p ? p.id : "";
    if (p && this.placeSelect.value !== p.id) this.placeSelect.value = ""; // e.g. "gps" without geolocation
    this.placeNote.textContent = Array.isArray(p?.loc)
      ? `${p.loc[0].toFixed(4)}, ${p.loc[1].toFixed(4)}: the nearest store with stock within 3–5 km, else home delivery`
      : "Share a location to pick up at the nearest store.";
  }

  venueTitle(id) {
    const v = this.festival?.byId.get(id);
    return str(v?.title) || str(id);
  }

  brandName(brand) {
    return this.festival?.brandNames.get(str(brand)) || str(brand);
  }

  get mainVenue() {
    return this.festival?.main_venue || "main";
  }

  // ---- what the viewer owns: coupon wallet and reservations (sessionStorage, per guest user) --------
  loadOwned() {
    if (!this.owner) return;
    const saved = readSession("livehub.owned");
    if (!isObj(saved) || saved.owner !== this.owner) return;
    for (const [id, w] of Array.isArray(saved.wallet) ? saved.wallet : []) if (isObj(w)) this.wallet.set(str(id), w);
    for (const r of Array.isArray(saved.orders) ? saved.orders : []) if (isObj(r) && r.reservation) this.myOrders.set(str(r.reservation), { ...r, busy: false });
  }

  saveOwned() {
    if (!this.owner) return;
    const orders = [...this.myOrders.values()].slice(-MAX_MY_ORDERS).map(({ busy, ...r }) => r);
    writeSession("livehub.owned", { owner: this.owner, wallet: [...this.wallet], orders });
  }

  // ---- connection status -----------------------------------------------------------------------
  renderStatus({ status, detail }) {
    this.statusEl.dataset.state = status;
    this.statusEl.textContent = STATUS_TEXT[status] || status;
    this.statusEl.title = detail || "";
    this.root.querySelector(".lh-view")?.setAttribute("data-status", status);
  }

  flash(text) {
    this.toastEl.textContent = text;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (this.toastEl.hidden = true), 5000);
  }

  // ---- frames -----------------------------------------------------------------------------------
  onSnapshot({ recovered, venueChanged }) {
    const c = this.client;
    if (venueChanged) {
      this.feedEl.replaceChildren();
      this.feedEl.closest(".panel").classList.add("is-empty");
      this.commentsEl.replaceChildren();
      this.buyState = {};
      this.couponState = {};
      this.couponChoice = {};
      this.likesShown = 0;
      this.commentError.textContent = "";
      const v = this.festival?.byId.get(c.venue);
      this.titleEl.textContent = this.venueTitle(c.venue);
      this.kindEl.textContent = v ? (v.kind === "main" ? "Main venue" : "Brand room") : "";
      document.title = `${this.venueTitle(c.venue)} · livehub`;
      if (this.venueSelect) this.venueSelect.value = c.venue;
    }
    if (!recovered) this.renderAll();
    else this.renderCounters();
  }

  onEvent(f) {
    this.addFeed(f);
    if (f.kind === "cta.visit") this.ctaDismissed = null;
    this.queueRender();
  }

  onVolatile(f) {
    if (f.type === "online" || f.type === "likes") this.renderCounters();
    else if (f.type === "comment") this.addComment(f);
    else if (f.type === "stock") this.renderSales();
  }

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => {
      this.renderQueued = false;
      this.renderAll();
    }, 0);
  }

  renderAll() {
    this.renderCounters();
    this.renderBanners();
    this.renderCards();
    this.renderSales();
    this.renderCoupons();
    this.renderOrders();
  }

  tick() {
    if (this.saleEls.size) this.renderSales();
    if (this.couponEls.size) this.renderCoupons();
    if (this.orderEls.size) this.renderOrders();
  }

  // ---- counters and likes -----------------------------------------------------------------------
  renderCounters() {
    const c = this.client;
    const mine = c.counters[c.venue] || {};
    this.onlineEl.textContent = compact(mine.online);
    this.likesShown = Math.max(this.likesShown, num(mine.likes) ?? 0); // likes only grow: never flicker down
    this.likesEl.textContent = compact(this.likesShown);
    this.likesEl.dataset.server = String(num(mine.likes) ?? 0);
    const fest = c.counters[this.mainVenue];
    const inBrand = c.venue && c.venue !== this.mainVenue && fest;
    this.festivalOnlineEl.hidden = !inBrand;
    if (inBrand) this.festivalOnlineEl.textContent = `· ${compact(fest.online)} at the festival`;
  }

  tapLike() {
    this.client.like(1);
    this.likesShown += 1;
    this.likesEl.textContent = compact(this.likesShown);
    if (this.heartsEl.childElementCount < 24) {
      const heart = h("span", { class: "heart", text: "♥" });
      heart.style.setProperty("--x", `${Math.round(Math.random() * 60 - 30)}px`);
      heart.style.setProperty("--hue", String(Math.round(330 + Math.random() * 40)));
      heart.addEventListener("animationend", () => heart.remove());
      this.heartsEl.append(heart);
    }
  }

  // ---- live updates feed ----------------------------------------------------------------------------
  describeEvent(f) {
    const d = isObj(f.data) ? f.data : {};
    const where = f.ch === this.mainVenue && this.client.venue !== f.ch ? "Main venue" : "";
    const sale = isObj(d.sale) ? d.sale : {};
    switch (f.kind) {
      case "announcement":
        return { icon: "megaphone", text: str(d.text) || "(empty announcement)", where };
      case "cta.visit":
        return { icon: "go", text: `Visit ${str(d.title) || this.venueTitle(str(d.target))}${d.text ? " — " + str(d.text) : ""}`, where };
      case "cohost.started":
        return { icon: "link", text: `Link-up started with ${this.venueTitle(str(d.brand_venue))}`, where };
      case "cohost.ended":
        return { icon: "link", text: "Link-up ended", where };
      case "card.pinned":
        return { icon: "pin", text: `Pinned: ${str(d.card?.title) || str(d.card?.sku)}`, where };
      case "card.unpinned":
        return { icon: "pin", text: "Card unpinned", where };
      case "sale.scheduled": {
        const at = num(sale.starts_at_ms);
        const when = at !== null && at > this.client.serverNow() + 1000 ? ` at ${clockTime(at - this.client.clockOffset)}` : "";
        return { icon: "bolt", text: `Flash sale${when}: ${this.saleTitle(sale)} for ${money(sale.price_cents)}`, where };
      }
      case "sale.started":
        return { icon: "bolt", text: `Flash sale started: ${this.saleTitle(sale)}`, where };
      case "sale.sold_out":
        return { icon: "bolt", text: `Sold out: ${this.saleTitle(sale)}`, where };
      case "sale.ended":
        return { icon: "bolt", text: `Flash sale ended: ${this.saleTitle(sale)}`, where };
      case "coupon.dropped":
        return { icon: "ticket", text: `Coupons dropped: ${money(d.coupon?.value_cents)} off`, where };
      default: {
        if (this.mode !== "host") return null; // viewers only see what they understand
        let body = "";
        try {
          body = JSON.stringify(f.data);
        } catch {
          body = "";
        }
        return { icon: "dot", text: `${str(f.kind)} ${body && body.length > 120 ? body.slice(0, 117) + "…" : body}`, where };
      }
    }
  }

  addFeed(f) {
    const item = this.describeEvent(f);
    if (!item) return;
    if (str(f.kind).startsWith("cohost.") && isObj(f.data) && f.data.since !== undefined) {
      // a link-up is published on main and on the brand's channel: a viewer of that brand gets both copies
      const once = `${f.kind}:${f.data.since}`;
      if (this.feedOnce.has(once)) return;
      if (this.feedOnce.size > 100) this.feedOnce.clear();
      this.feedOnce.add(once);
    }
    if (f.kind === "sale.started" && isObj(f.data?.sale)) {
      const once = `sale.started:${str(f.data.sale.sale_id)}:${str(f.data.sale.starts_at_ms)}`; // the event or the clock, not both
      if (this.feedOnce.has(once)) return;
      if (this.feedOnce.size > 100) this.feedOnce.clear();
      this.feedOnce.add(once);
    }
    const li = h(
      "li",
      { dataset: { key: `${f.ch}:${f.epoch}:${f.offset}`, kind: str(f.kind) } },
      h("span", { class: "feed-icon" }, icon(item.icon, item.icon === "bolt" ? "icon fill" : "icon")),
      h("span", { class: "feed-text", text: item.text }),
      item.where ? h("span", { class: "tag", text: item.where }) : null,
      h("time", { text: clockTime(num(f.ts) ? f.ts - this.client.clockOffset : Date.now()) }),
    );
    this.feedEl.prepend(li);
    while (this.feedEl.childElementCount > MAX_FEED) this.feedEl.lastElementChild.remove();
    this.feedEl.closest(".panel").classList.remove("is-empty");
  }

  // ---- comments (each room has its own: the server sends only this room's) ----------------------
  addComment(f) {
    if (str(f.venue) !== this.client.venue) return; // a late frame of the room before a switch
    const el = this.commentsEl;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    const user = str(f.user);
    const mine = user === this.client.user;
    el.append(
      h(
        "li",
        { class: mine ? "mine" : "", dataset: { commentId: str(f.id), user } },
        h("span", { class: "who", text: mine ? "You" : shortUser(user) }),
        h("span", { class: "what", text: str(f.text) }),
      ),
    );
    while (el.childElementCount > MAX_COMMENTS) el.firstElementChild.remove();
    if (atBottom || mine) el.scrollTop = el.scrollHeight;
  }

  async sendComment(e) {
    e.preventDefault();
    const text = this.commentInput.value.trim();
    if (!text) return;
    this.commentError.textContent = "";
    try {
      const data = await this.client.request({ type: "comment", text });
      this.commentInput.value = "";
      if (data?.sampled_out) this.commentError.textContent = "The room is very busy: your comment was sent but may not be shown to everyone.";
    } catch (err) {
      const code = str(err?.code);
      const nice = { rate_limited: "Slow down a little", bad_request: "That comment can't be sent", disconnected: "Not connected — try again in a moment" }[code];
      this.commentError.textContent = `${nice ? nice + " — " : ""}${code}${err?.message ? ": " + str(err.message) : ""}`;
    }
  }

  // ---- banners -------------------------------------------------------------------------------------------
  channelStates() {
    // current venue's channel first, then the main venue's
    const c = this.client;
    const chans = Object.keys(c.positions);
    chans.sort((a, b) => (a === c.venue ? -1 : b === c.venue ? 1 : 0));
    return chans.map((ch) => [ch, c.state[ch] || {}]);
  }

  renderBanners() {
    const c = this.client;
    // co-host link-up
    const link = this.channelStates().map(([, st]) => st.cohost).find((x) => isObj(x) && x.active !== false);
    this.cohostEl.hidden = !link;
    if (link) {
      const brand = str(link.brand_venue);
      const parts = [
        h("span", { class: "banner-icon" }, icon("link")),
        h(
          "span",
          { class: "banner-text" },
          h("strong", {}, "Live link-up: "),
          `${str(link.main_host) || "main host"} × ${str(link.brand_host) || "brand host"} · ${this.venueTitle(brand)}`,
        ),
      ];
      if (brand && brand !== c.venue && this.mode === "viewer") {
        parts.push(h("button", { type: "button", class: "btn small", onclick: () => c.switchVenue(brand) }, "Open brand room"));
      }
      this.cohostEl.replaceChildren(...parts);
    }
    // visit call to action (on the main channel)
    const cta = c.state[this.mainVenue]?.cta;
    const target = isObj(cta) ? str(cta.target) : "";
    const key = isObj(cta) ? `${target}|${str(cta.text)}|${str(cta.at)}` : "";
    const at = isObj(cta) ? num(cta.at) : null;
    const stale = at !== null && c.serverNow() - at > CTA_MAX_AGE_MS; // an old call to action left in the state
    const show = !!target && target !== c.venue && this.ctaDismissed !== key && !stale;
    this.ctaEl.hidden = !show;
    if (show) {
      const title = str(cta.title) || this.venueTitle(target);
      this.ctaEl.replaceChildren(
        h("span", { class: "banner-icon" }, icon("megaphone")),
        h("span", { class: "banner-text" }, h("strong", {}, `Visit ${title}`), cta.text ? ` — ${str(cta.text)}` : ""),
        this.mode === "viewer"
          ? h("button", { type: "button", class: "btn small", "data-testid": "cta-go", onclick: () => c.switchVenue(target) }, "Go now →")
          : h("span", { class: "tag", text: "sent to viewers" }),
        h("button", { type: "button", class: "close", "aria-label": "Dismiss", onclick: () => ((this.ctaDismissed = key), this.renderBanners()) }, "×"),
      );
    }
  }

  // ---- pinned card -----------------------------------------------------------------------------------------
  renderCards() {
    const want = new Map();
    const sales = this.allSales();
    const coupons = this.allCoupons();
    for (const [ch, st] of this.channelStates()) {
      if (!isObj(st.card)) continue;
      // the attached sale and coupon are part of the card's signature: it is redrawn when they change
      want.set(ch, { card: st.card, sale: sales.get(str(st.card.sale)) || null, coupon: coupons.get(str(st.card.coupon)) || null });
    }
    syncKeyed(this.cardsEl, this.cardEls, want, (ch, v) => this.cardNode(ch, v));
  }

  cardNode(ch, { card, sale, coupon }) {
    const price = num(card.price_cents), list = num(card.list_price_cents);
    const off = price !== null && list && list > price ? Math.round((1 - price / list) * 100) : 0;
    const img = h("img", { src: safeImage(card.image_url), alt: "", loading: "lazy", width: 96, height: 96 });
    img.addEventListener("error", () => (img.src = "/static/products/product.svg"), { once: true });
    const saleId = str(card.sale);
    return h(
      "article",
      { class: "card", dataset: { sku: str(card.sku) } },
      img,
      h(
        "div",
        { class: "card-body" },
        ch === this.mainVenue && this.client.venue !== ch ? h("span", { class: "tag", text: "Main venue" }) : null,
        h("h3", { text: str(card.title) || str(card.sku) }),
        h("p", { class: "muted small", text: this.brandName(card.brand) }),
        h(
          "p",
          { class: "price" },
          h("span", { class: "now", text: money(price) }),
          list && list !== price ? h("s", { class: "was", text: money(list) }) : null,
          off ? h("span", { class: "off", text: `-${off}%` }) : null,
        ),
        saleId
          ? h(
              "p",
              { class: "card-sale" },
              icon("bolt", "icon fill"),
              h("span", { text: sale ? ` Flash price ${money(sale.price_cents)}` : " Flash sale" }),
              h("button", { type: "button", class: "link", onclick: () => this.showSale(saleId) }, "see the sale"),
            )
          : null,
        coupon ? h("p", { class: "card-coupon small" }, icon("ticket"), ` ${money(coupon.value_cents)} coupon for this product: grab it below`) : null,
        this.cardExtra ? this.cardExtra(ch, card) : null, // e.g. shelf.js: the card's own Buy button
      ),
    );
  }

  showSale(id) {
    const refs = this.saleEls.get(id);
    if (!refs) return;
    refs.el.scrollIntoView({ behavior: "smooth", block: "center" });
    refs.el.classList.remove("spot");
    void refs.el.offsetWidth; // restart the highlight animation
    refs.el.classList.add("spot");
  }

  // ---- flash sales ------------------------------------------------------------------------------------------
  saleTitle(sale) {
    return str(sale?.title) || str(this.festival?.products.get(str(sale?.sku))?.title) || str(sale?.sku) || str(sale?.sale_id);
  }

  allSales() {
    const out = new Map();
    for (const [, st] of this.channelStates()) {
      for (const [id, sale] of Object.entries(isObj(st.sales) ? st.sales : {})) if (isObj(sale)) out.set(id, sale);
    }
    return out;
  }

  /** A sale's phase now: scheduled | open | sold_out | ended, and its stock left (live when known). */
  saleView(id, sale) {
    const now = this.client.serverNow();
    const start = num(sale.starts_at_ms);
    const end = num(sale.ends_at_ms);
    const total = num(sale.stock); // the initial stock
    const live = this.client.stock[id]; // volatile stock frames are newer than the sale's state
    const left = live ? live.stock : sale.sold_out === true ? 0 : total;
    const soldOut = live ? live.sold_out : sale.sold_out === true;
    let phase = "open";
    if (end !== null && now >= end) phase = "ended";
    else if (soldOut) phase = "sold_out";
    else if (start !== null && now < start) phase = "scheduled";
    return { start, end, total, left, phase, now };
  }

  renderSales() {
    const rows = [...this.allSales()].map(([id, sale]) => ({ id, sale, v: this.saleView(id, sale) }));
    rows.sort((a, b) => {
      const rank = PHASE_RANK[a.v.phase] - PHASE_RANK[b.v.phase];
      if (rank) return rank;
      if (a.v.phase === "open") return (a.v.end ?? Infinity) - (b.v.end ?? Infinity); // ending soonest first
      if (a.v.phase === "scheduled") return (a.v.start ?? 0) - (b.v.start ?? 0); // starting soonest first
      return (b.v.end ?? 0) - (a.v.end ?? 0) || (b.v.start ?? 0) - (a.v.start ?? 0); // newest first
    });
    const keep = FINISHED_SALES_SHOWN[this.mode] ?? 3;
    let finished = 0;
    const want = new Map();
    for (const r of rows) {
      if (r.v.phase === "sold_out" || r.v.phase === "ended") {
        if (++finished > keep) continue;
      }
      want.set(r.id, r.sale);
    }
    syncKeyed(this.salesEl, this.saleEls, want, (id) => this.saleNode(id), (id, refs, sale) => this.updateSale(id, refs, sale));
    const hidden = rows.length - want.size;
    this.salesMoreEl.textContent = hidden > 0 ? `+ ${hidden} earlier sale${hidden > 1 ? "s" : ""} (over)` : "";
  }

  saleNode(id) {
    const refs = {
      img: h("img", { class: "thumb", alt: "", width: 52, height: 52, loading: "lazy" }),
      tag: h("span", { class: "tag", text: "Main venue", hidden: true }),
      title: h("h3"),
      price: h("span", { class: "now" }),
      was: h("s", { class: "was" }),
      off: h("span", { class: "off" }),
      timer: h("span", { class: "timer", "data-testid": "sale-timer" }),
      bar: h("span", { class: "bar-fill" }),
      left: h("span", { class: "left", "data-testid": "sale-left" }),
      limit: h("span", { class: "muted small" }),
      result: h("p", { class: "buy-result", role: "status", "data-testid": "buy-result" }),
    };
    refs.img.addEventListener("error", () => {
      refs.img.dataset.failed = "1";
      refs.img.src = "/static/products/product.svg";
    }, { once: true });
    let actions;
    if (this.mode === "viewer") {
      refs.coupon = h("select", { class: "coupon-pick", "aria-label": "Coupon", "data-testid": "buy-coupon", hidden: true, onchange: () => (this.couponChoice[id] = refs.coupon.value) });
      refs.buy = h("button", { type: "button", class: "btn buy", "data-testid": "buy", onclick: () => this.buy(id) }, "Buy now");
      actions = h("div", { class: "sale-actions" }, refs.coupon, refs.buy);
    } else {
      refs.start = h("button", { type: "button", class: "btn small", "data-testid": "sale-start-now", onclick: () => this.saleAction(id, "start") }, "Start now");
      refs.end = h("button", { type: "button", class: "btn small ghost", "data-testid": "sale-end-now", onclick: () => this.saleAction(id, "end") }, "End now");
      refs.sid = h("code", { class: "muted small sale-id", text: id });
      actions = h("div", { class: "sale-actions host" }, refs.sid, refs.start, refs.end);
    }
    refs.el = h(
      "article",
      { class: "sale", dataset: { sale: id } },
      h("div", { class: "sale-top" }, h("span", { class: "bolt" }, icon("bolt", "icon fill"), " Flash sale"), refs.tag, refs.timer),
      h("div", { class: "sale-head" }, refs.img, h("div", { class: "sale-title" }, refs.title, h("p", { class: "price" }, refs.price, refs.was, refs.off))),
      h("div", { class: "bar" }, refs.bar),
      h("div", { class: "sale-foot" }, refs.left, refs.limit),
      actions,
      refs.result,
    );
    return refs;
  }

  updateSale(id, refs, sale) {
    const v = this.saleView(id, sale);
    const was = refs.el.dataset.phase;
    refs.el.dataset.phase = v.phase;
    // a scheduled sale opened by its clock: no event says so (a "start now" does), so the feed says it here, once
    if (was === "scheduled" && v.phase === "open") this.addFeed({ ch: str(sale.venue) || this.client.venue, epoch: "clock", offset: id, kind: "sale.started", data: { sale }, ts: v.now });
    const src = safeImage(sale.image_url || this.festival?.products.get(str(sale.sku))?.image_url);
    if (!refs.img.dataset.failed && refs.img.getAttribute("src") !== src) refs.img.setAttribute("src", src);
    refs.title.textContent = this.saleTitle(sale);
    refs.tag.hidden = str(sale.venue) === this.client.venue || !sale.venue;
    const price = num(sale.price_cents);
    const list = num(sale.list_price_cents);
    refs.price.textContent = money(price);
    refs.was.textContent = list && price !== null && list > price ? money(list) : "";
    refs.off.textContent = list && price !== null && list > price ? `-${Math.round((1 - price / list) * 100)}%` : "";
    refs.timer.textContent = {
      scheduled: `starts in ${duration((v.start ?? v.now) - v.now)}`,
      open: v.end !== null ? `ends in ${duration(v.end - v.now)}` : "on now",
      sold_out: "sold out",
      ended: "ended",
    }[v.phase];
    const pct = v.total ? Math.max(0, Math.min(100, ((v.left ?? 0) / v.total) * 100)) : 0;
    refs.bar.style.width = `${pct}%`;
    refs.left.textContent = v.left === null || v.left === undefined ? "" : `${compact(v.left)}${v.total ? " / " + compact(v.total) : ""} left`;
    const limit = num(sale.per_user_limit);
    refs.limit.textContent = limit ? `limit ${limit} per person` : "";
    const bs = this.buyState[id] || {};
    if (this.mode === "viewer") {
      this.updateCouponPick(id, refs, sale, v.phase);
      const full = v.phase === "open" && limit !== null && this.heldUnits(id) >= limit; // the server would say limit_reached
      refs.buy.disabled = !!bs.busy || v.phase !== "open" || full;
      refs.buy.textContent = bs.busy
        ? "Buying…"
        : full
          ? `Limit reached (${limit} per person)`
          : { scheduled: "Not yet", open: `Buy now · ${money(this.payable(id, sale))}`, sold_out: "Sold out", ended: "Ended" }[v.phase];
    } else {
      const mine = this.canDrive(str(sale.venue));
      refs.start.hidden = !mine || v.phase !== "scheduled";
      refs.end.hidden = !mine || v.phase === "ended" || v.phase === "scheduled";
      refs.start.disabled = refs.end.disabled = !!bs.busy;
    }
    refs.result.textContent = bs.text || "";
    refs.result.className = `buy-result ${bs.ok === true ? "ok" : bs.ok === false ? "bad" : ""}`;
    refs.result.dataset.status = str(bs.status);
  }

  /** Host: open or close a sale's window now. */
  async saleAction(id, action) {
    const sale = this.allSales().get(id);
    if (!sale || !this.hostApi) return;
    const bs = (this.buyState[id] ??= {});
    bs.busy = true;
    this.renderSales();
    const res = await this.hostApi("POST", `/api/venues/${encodeURIComponent(str(sale.venue))}/sales/${encodeURIComponent(id)}/${action}`);
    bs.busy = false;
    bs.ok = res.ok;
    bs.status = res.ok ? action : str(res.data?.code);
    bs.text = res.ok ? (action === "start" ? "✓ Started: viewers can buy now" : "✓ Ended") : `✗ ${describeFailure(res)}`;
    this.renderSales();
  }

  // ---- buying -------------------------------------------------------------------------------------------------
  /** The wallet's coupons this sale accepts (brand, minimum spend, not expired, one left), best first. */
  usableCoupons(sale) {
    const now = this.client.serverNow();
    const out = [];
    for (const [id, w] of this.wallet) {
      const c = w.coupon;
      if (!isObj(c) || w.invalid || !(num(w.unused) > 0)) continue;
      if (c.brand && str(c.brand) !== str(sale.brand)) continue;
      if ((num(c.min_spend_cents) ?? 0) > (num(sale.price_cents) ?? 0)) continue;
      if ((num(c.expires_at_ms) ?? Infinity) <= now) continue;
      out.push([id, c]);
    }
    return out.sort((a, b) => (num(b[1].value_cents) ?? 0) - (num(a[1].value_cents) ?? 0));
  }

  chosenCoupon(id, sale) {
    const usable = this.usableCoupons(sale);
    const pick = this.couponChoice[id];
    if (pick === "") return null; // "no coupon"
    if (pick && usable.some(([cid]) => cid === pick)) return pick;
    return usable.length ? usable[0][0] : null; // the best one by default
  }

  /** What one unit costs with the chosen coupon (the server computes the real amount). */
  payable(id, sale) {
    const price = num(sale.price_cents) ?? 0;
    const cid = this.chosenCoupon(id, sale);
    const c = cid ? this.wallet.get(cid)?.coupon : null;
    return Math.max(0, price - (num(c?.value_cents) ?? 0));
  }

  updateCouponPick(id, refs, sale, phase) {
    const usable = phase === "open" || phase === "scheduled" ? this.usableCoupons(sale) : [];
    const sig = usable.map(([cid]) => cid).join(",");
    if (refs.coupon.dataset.sig !== sig) {
      refs.coupon.dataset.sig = sig;
      refs.coupon.replaceChildren(
        h("option", { value: "", text: "No coupon" }),
        ...usable.map(([cid, c]) => h("option", { value: cid, text: `Coupon ${money(c.value_cents)} off` })),
      );
    }
    refs.coupon.hidden = usable.length === 0;
    const chosen = this.chosenCoupon(id, sale) || "";
    if (refs.coupon.value !== chosen) refs.coupon.value = chosen;
  }

  async buy(id) {
    const bs = (this.buyState[id] ??= {});
    const sale = this.allSales().get(id);
    if (bs.busy || !sale) return;
    // a retry after a lost answer reuses the request id: the server answers "duplicate" with the same reservation
    const rid = bs.retryId || uuid();
    Object.assign(bs, { busy: true, text: "", ok: undefined, status: "" });
    this.renderSales();
    const msg = { type: "buy", id: rid, sale: id, qty: 1 };
    if (Array.isArray(this.place?.loc)) msg.loc = this.place.loc;
    const coupon = this.chosenCoupon(id, sale);
    if (coupon) msg.coupon = coupon;
    try {
      let data = {};
      for (let attempt = 0; ; attempt++) {
        data = (await this.client.request(msg)) || {};
        if (data.status !== "busy" || attempt >= BUSY_RETRIES) break;
        await sleep((num(data.retry_after_ms) ?? 200) * (1 + Math.random())); // shed by admission: nothing taken yet
      }
      const status = str(data.status);
      bs.retryId = null;
      bs.status = status;
      if (status === "ok" || status === "duplicate") {
        bs.ok = true;
        bs.text = "✓ Reserved for you — pay in “My orders”";
        if (status === "ok" && coupon) this.spendCoupon(coupon);
        this.addReservation(sale, data);
      } else {
        bs.ok = false;
        const starts = num(data.starts_at_ms);
        bs.text = status === "not_started" && starts ? `Not yet: it starts at ${clockTime(starts - this.client.clockOffset)}` : BUY_MESSAGES[status] || status;
        if (status === "coupon_invalid" && coupon && this.wallet.has(coupon)) {
          this.wallet.get(coupon).invalid = true;
          this.saveOwned();
        }
      }
    } catch (err) {
      const code = str(err?.code) || "error";
      bs.retryId = code === "disconnected" || code === "timeout" ? rid : null;
      bs.ok = false;
      bs.status = code;
      bs.text = BUY_MESSAGES[code] || `${code}${err?.message ? ": " + str(err.message) : ""}`;
    } finally {
      bs.busy = false;
      this.renderSales();
    }
  }

  spendCoupon(id) {
    const w = this.wallet.get(id);
    if (!w) return;
    w.unused = Math.max(0, (num(w.unused) ?? 1) - 1);
    this.saveOwned();
  }

  /** Units of a sale this viewer holds (reserved and still payable, or paid), as far as this tab knows. */
  heldUnits(saleId) {
    const now = this.client.serverNow();
    let n = 0;
    for (const r of this.myOrders.values()) {
      if (r.sale !== saleId) continue;
      if (r.state === "paid" || (r.state === "reserved" && (r.pay_by === null || r.pay_by > now))) n += r.qty || 1;
    }
    return n;
  }

  /** Keep a buy's reservation (the buy reply) in "My orders". */
  addReservation(sale, d) {
    const rid = str(d.reservation);
    if (!rid) return;
    const prev = this.myOrders.get(rid) || {};
    this.myOrders.delete(rid); // re-insert: newest last
    this.myOrders.set(rid, {
      ...prev,
      reservation: rid,
      sale: str(d.sale),
      title: this.saleTitle(sale),
      image_url: sale?.image_url || null,
      qty: num(d.qty) ?? 1,
      unit_price_cents: num(d.unit_price_cents),
      discount_cents: num(d.discount_cents) ?? 0,
      amount_cents: num(d.amount_cents),
      coupon: d.coupon || null,
      pay_by: num(d.pay_by),
      mode: d.mode || null,
      store: d.store || null,
      distance_km: num(d.distance_km),
      pickup_fallback: d.pickup_fallback === true,
      state: str(d.state) || prev.state || "reserved",
      order: d.order || prev.order || null,
    });
    while (this.myOrders.size > MAX_MY_ORDERS) this.myOrders.delete(this.myOrders.keys().next().value);
    this.saveOwned();
    this.renderOrders();
    refreshMyOrders(this);
  }

  // ---- my orders: reservation -> pay (the demo's simulated payment) -> order ------------------------------------
  renderOrders() {
    if (this.mode !== "viewer") return;
    const want = new Map([...this.myOrders].reverse()); // newest first
    syncKeyed(this.ordersEl, this.orderEls, want, (rid) => this.orderNode(rid), (rid, refs, r) => this.updateOrder(rid, refs, r));
  }

  orderNode(rid) {
    const refs = {
      title: h("h3"),
      amount: h("strong", { class: "amount", "data-testid": "order-amount" }),
      was: h("s", { class: "was small" }),
      fulfilIcon: h("span", { class: "fulfil-icon" }),
      fulfil: h("span", { "data-testid": "fulfilment" }),
      countdown: h("span", { class: "countdown", "data-testid": "pay-countdown" }),
      pay: h("button", { type: "button", class: "btn small pay", "data-testid": "pay", onclick: () => this.pay(rid) }, "Pay"),
      done: h("p", { class: "order-done", "data-testid": "order-id" }),
      note: h("p", { class: "buy-result bad", role: "status" }),
      pickup: pickupBox(),
    };
    refs.el = h(
      "article",
      { class: "order", dataset: { reservation: rid } },
      h("div", { class: "order-head" }, refs.title, h("span", { class: "order-price" }, refs.was, " ", refs.amount)),
      h("p", { class: "fulfil small" }, refs.fulfilIcon, refs.fulfil),
      h("div", { class: "order-pay" }, refs.countdown, refs.pay),
      refs.done,
      refs.pickup,
      refs.note,
    );
    return refs;
  }

  updateOrder(rid, refs, r) {
    const now = this.client.serverNow();
    const left = r.pay_by !== null ? r.pay_by - now : null;
    const state = r.state === "reserved" && left !== null && left <= 0 ? "expired" : r.state;
    refs.el.dataset.state = state;
    refs.title.textContent = `${r.title}${r.qty > 1 ? ` ×${r.qty}` : ""}`;
    refs.amount.textContent = money(r.amount_cents);
    refs.was.textContent = r.discount_cents > 0 && r.unit_price_cents !== null ? money(r.unit_price_cents * r.qty) : "";
    const f = fulfilmentText(r);
    const iconName = refs.fulfilIcon.dataset.icon;
    if (iconName !== f.icon) {
      refs.fulfilIcon.dataset.icon = f.icon;
      refs.fulfilIcon.replaceChildren(icon(f.icon));
    }
    refs.fulfil.textContent = f.text;
    refs.countdown.textContent =
      state === "reserved" ? (left !== null ? `Pay within ${duration(Math.floor(left / 1000) * 1000)}` : "Waiting for payment") : state === "paid" ? "Paid" : "Payment window closed: released";
    refs.countdown.classList.toggle("urgent", state === "reserved" && left !== null && left < 60000);
    refs.pay.hidden = state !== "reserved";
    refs.pay.disabled = !!r.busy;
    refs.pay.textContent = r.busy ? "Paying…" : `Pay ${money(r.amount_cents)}`;
    refs.done.hidden = !r.order;
    refs.done.dataset.order = str(r.order);
    refs.done.title = str(r.order);
    refs.done.replaceChildren(icon("receipt"), ` Paid · order ${shortRef(r.order)}`);
    refs.note.textContent = r.note || "";
    renderPickup(refs.pickup, r);
  }

  async pay(rid) {
    const r = this.myOrders.get(rid);
    if (!r || r.busy) return;
    r.busy = true;
    r.note = "";
    this.renderOrders();
    const res = await api("POST", `/api/reservations/${encodeURIComponent(rid)}/pay`, { token: this.client.token });
    r.busy = false;
    const status = str(res.data?.status);
    if (res.ok && (status === "paid" || status === "duplicate")) {
      r.state = "paid";
      r.order = str(res.data.order) || r.order;
      r.amount_cents = num(res.data.amount_cents) ?? r.amount_cents;
    } else if (res.ok && status === "expired") {
      r.state = "expired";
      r.note = "Too late: the payment window closed and the item went back on sale.";
    } else {
      r.note =
        res.status === 404 && demoMode !== true
          ? "Pay through the platform's checkout: the simulated payment exists only in demo mode."
          : res.status === 404
            ? "This reservation is unknown to the shop (a new guest session?)"
            : `Payment failed — ${describeFailure(res)}`;
    }
    this.saveOwned();
    this.renderOrders();
    refreshMyOrders(this); // the pickup code comes with the payment
  }

  // ---- coupons ------------------------------------------------------------------------------------------------
  allCoupons() {
    const out = new Map();
    for (const [, st] of this.channelStates()) {
      for (const [id, c] of Object.entries(isObj(st.coupons) ? st.coupons : {})) if (isObj(c)) out.set(id, c);
    }
    return out;
  }

  renderCoupons() {
    const now = this.client.serverNow();
    const want = new Map();
    for (const [id, c] of this.allCoupons()) if ((num(c.expires_at_ms) ?? Infinity) > now) want.set(id, c); // expired: gone
    syncKeyed(this.couponsEl, this.couponEls, want, (id) => this.couponNode(id), (id, refs, c) => this.updateCoupon(id, refs, c));
  }

  couponNode(id) {
    const refs = {
      value: h("strong", { class: "coupon-value" }),
      terms: h("span", { class: "muted small" }),
      result: h("span", { class: "buy-result small", "data-testid": "grab-result" }),
    };
    if (this.mode === "viewer") refs.grab = h("button", { type: "button", class: "btn small", "data-testid": "grab", onclick: () => this.grab(id) }, "Grab");
    refs.el = h(
      "div",
      { class: "coupon", dataset: { coupon: id } },
      h("span", { class: "coupon-icon" }, icon("ticket")),
      h("div", { class: "coupon-main" }, refs.value, refs.terms, refs.result),
      refs.grab || null,
    );
    return refs;
  }

  updateCoupon(id, refs, c) {
    const now = this.client.serverNow();
    const expires = num(c.expires_at_ms);
    const min = num(c.min_spend_cents);
    refs.value.textContent = `${money(c.value_cents)} off`;
    refs.terms.textContent = [
      min ? `on ${money(min)}+` : "no minimum",
      c.brand ? `${this.brandName(c.brand)} only` : "any brand",
      expires !== null ? `${duration(expires - now)} left` : "",
      this.mode === "host" ? `${compact(c.total)} issued by ${str(c.issuer)}` : "",
    ]
      .filter(Boolean)
      .join(" · ");
    const cs = this.couponState[id] || {};
    const w = this.wallet.get(id);
    if (refs.grab) {
      const full = w && num(w.grabbed) >= (num(c.per_user_limit) ?? 1);
      refs.grab.disabled = !!cs.busy || !!cs.soldOut || !!full;
      refs.grab.textContent = cs.busy ? "…" : full ? "In wallet" : cs.soldOut ? "Gone" : "Grab";
    }
    refs.result.textContent = cs.text || "";
    refs.result.className = `buy-result small ${cs.ok === true ? "ok" : cs.ok === false ? "bad" : ""}`;
    refs.result.dataset.status = str(cs.status);
  }

  async grab(id) {
    const cs = (this.couponState[id] ??= {});
    if (cs.busy) return;
    cs.busy = true;
    this.renderCoupons();
    try {
      const data = (await this.client.request({ type: "coupon.grab", id: uuid(), coupon: id })) || {};
      const status = str(data.status);
      cs.status = status;
      cs.ok = status === "ok";
      if (num(data.unused) !== null && (status === "ok" || num(data.grabbed) > 0)) {
        this.wallet.set(id, { coupon: this.allCoupons().get(id) || { coupon_id: id }, unused: num(data.unused), grabbed: num(data.grabbed) });
        this.saveOwned();
        this.renderSales(); // the coupon may now lower a sale's price
      }
      if (status === "sold_out") cs.soldOut = true;
      cs.text = cs.ok
        ? `✓ In your wallet${num(data.unused) > 1 ? ` (×${data.unused})` : ""} · ${compact(data.left)} left`
        : GRAB_MESSAGES[status] || status;
    } catch (err) {
      cs.ok = false;
      cs.status = str(err?.code);
      cs.text = BUY_MESSAGES[str(err?.code)] || str(err?.message) || "failed";
    } finally {
      cs.busy = false;
      this.renderCoupons();
    }
  }
}

/** Keyed list rendering: create missing nodes, update all, remove stale; keeps DOM nodes (and focus) stable. */
function syncKeyed(container, refsByKey, want, create, update = null) {
  for (const [key, refs] of refsByKey) {
    if (!want.has(key)) {
      (refs.el || refs).remove();
      refsByKey.delete(key);
    }
  }
  let i = 0;
  for (const [key, value] of want) {
    let refs = refsByKey.get(key);
    if (!update) {
      // simple nodes (cards): rebuilt when their data changed
      const sig = JSON.stringify(value);
      if (!refs || refs.lhSig !== sig) {
        const node = create(key, value);
        node.lhSig = sig;
        if (refs) refs.replaceWith(node);
        refs = node;
        refsByKey.set(key, node);
      }
    } else if (!refs) {
      refs = create(key, value);
      refsByKey.set(key, refs);
    }
    if (update) update(key, refs, value);
    const el = refs.el || refs;
    if (container.children[i] !== el) container.insertBefore(el, container.children[i] || null);
    i++;
  }
  container.closest(".panel")?.classList.toggle("is-empty", want.size === 0);
}

function shortUser(user) {
  return user.startsWith("guest-") ? "Guest " + user.slice(6, 10) : user;
}

// ---------------------------------------------------------------------------------------------
// 5. pages
// ---------------------------------------------------------------------------------------------

/** /watch?venue=<id>[&guide=<share code>]: the share code goes on the websocket URL (it credits the guide). */
export async function startWatch(root = document.getElementById("app")) {
  const params = new URLSearchParams(location.search);
  root.replaceChildren(h("p", { class: "loading" }, "Loading the festival…"));
  const festival = await loadFestival().catch((err) => {
    console.warn("festival:", err);
    return null;
  });
  const venue = params.get("venue") || festival?.main_venue || "main";
  const guide = params.get("guide");
  if (guide) writeSession("livehub.guide", guide); // kept for the tab: a reload or a room switch still credits the guide
  // A token from the platform's login (?token=...) is used as is; otherwise the demo's guest login.
  const given = params.get("token") || (params.get("moderate") === "1" && (await demoModeratorToken())) || readSession("livehub.token");
  if (given) writeSession("livehub.token", given);
  const auth = given ? { token: given, user: tokenUser(given) } : await guestAuth();
  if (!auth) {
    root.replaceChildren(
      h("p", { class: "notice demo-off" },
        "Guest logins are off: this livehub does not run in demo mode. The platform's login provides your viewer token (open this page as /watch?venue=…&token=…)."),
    );
    return;
  }
  let view = null;
  const client = new LiveClient({
    token: auth.token,
    venue,
    guide: guide || readSession("livehub.guide"),
    refreshToken: async () => {
      if (given) return given; // the platform's token: it renews it, not this page
      const fresh = await guestAuth(true);
      if (!fresh) return auth.token;
      if (view) view.owner = fresh.user;
      return fresh.token;
    },
  });
  view = new VenueView(root, client, { festival, mode: "viewer", switcher: true, owner: auth.user });
  client.on("snapshot", ({ venueChanged }) => {
    if (!venueChanged) return;
    const q = new URLSearchParams(location.search); // keeps ?guide=
    q.set("venue", client.venue);
    history.replaceState(null, "", `${location.pathname}?${q}`);
  });
  client.on("status", ({ status, detail }) => {
    // an unknown venue in the URL (close 4004): show the main venue instead
    const main = festival?.main_venue || "main";
    if (status === "offline" && detail.startsWith("4004") && client.venue !== main) {
      view.flash(`Unknown venue “${client.venue}”: showing the main venue`);
      client.venue = main;
      client.positions = {};
      setTimeout(() => client.connect(), 0);
    }
  });
  attachGroupBuy(view, client, REDUCERS);
  window.livehub = { client, view, festival };
  client.start();
  return window.livehub;
}

/** The current UTC hour as YYYYMMDDHH (the guide contest's buckets). */
export function utcHour(ms = Date.now()) {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, "");
}

/** "2024061214" (UTC) -> "22:00–23:00" in local time, with the date when it is not today. */
export function hourLabel(hour) {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)$/.exec(str(hour));
  if (!m) return str(hour);
  const start = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4]));
  const end = new Date(start.getTime() + 3600000);
  const hm = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = start.toDateString() === new Date().toDateString();
  return `${today ? "" : start.toLocaleDateString([], { month: "short", day: "numeric" }) + " "}${hm(start)}–${hm(end)}`;
}

/** /panel: host login, then the live view of the host's venue and the controls. */
export async function startPanel(root = document.getElementById("app")) {
  const festival = await loadFestival().catch(() => null);
  const session = readSession("livehub.host");
  if (session?.token) renderConsole(root, festival, session);
  else renderLogin(root, festival);
}

function renderLogin(root, festival, notice = "") {
  const hostIn = h("input", { name: "host", required: true, autocomplete: "username", placeholder: "host-main", "data-testid": "login-host" });
  const keyIn = h("input", { name: "key", type: "password", required: true, autocomplete: "current-password", "data-testid": "login-key" });
  const err = h("p", { class: "form-error", role: "alert", "data-testid": "login-error", text: notice });
  const submit = h("button", { type: "submit", class: "btn", "data-testid": "login-submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "login panel",
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        err.textContent = "";
        const res = await api("POST", "/api/auth/host", { body: { host: hostIn.value.trim(), key: keyIn.value } });
        submit.disabled = false;
        if (!res.ok || !res.data.token) {
          err.textContent = describeFailure(res);
          return;
        }
        const s = { token: res.data.token, host: str(res.data.host), venue: str(res.data.venue) };
        writeSession("livehub.host", s);
        renderConsole(root, festival, s);
      },
    },
    h("h1", {}, "Host control panel"),
    h("p", { class: "muted", text: festival?.title ? `${festival.title}` : "" }),
    h("label", {}, "Host id", hostIn),
    h("label", {}, "Key", keyIn),
    submit,
    err,
    h("p", { class: "muted small", "data-testid": "login-hint" }, "Host ids and keys are set per host in the festival's config file ([[hosts]]: id, and key_hash from `livehub hash-key`); ask the festival's operator for yours. In demo mode the config's comments list the demo keys."),
  );
  root.replaceChildren(h("div", { class: "login-wrap" }, h("a", { class: "logo big", href: "/" }, "live", h("b", {}, "hub")), form));
  hostIn.focus();
}

function renderConsole(root, festival, session) {
  const isMain = festival ? festival.byId.get(session.venue)?.kind === "main" : session.venue === "main";
  const viewRoot = h("div", { class: "panel-view" });
  const dashRoot = h("div", { class: "dash-root" }); // the live numbers (dashboard.js)
  const ops = h("div", { class: "ops" });
  const controls = h("div", { class: "controls" });
  const logout = h("button", { type: "button", class: "btn ghost small", "data-testid": "logout" }, "Log out");
  root.replaceChildren(
    h(
      "div",
      { class: "console" },
      h(
        "header",
        { class: "console-bar" },
        h("a", { class: "logo", href: "/" }, "live", h("b", {}, "hub")),
        h("span", { class: "console-title" }, "Control panel"),
        h("span", { class: "spacer" }),
        h("span", { class: "who", "data-testid": "panel-host" }, `${session.host} · ${festival?.byId.get(session.venue)?.title || session.venue}`),
        logout,
      ),
      h("div", { class: "console-grid" }, h("div", { class: "console-main" }, dashRoot, viewRoot, ops), controls),
    ),
  );
  const client = new LiveClient({ token: session.token, venue: session.venue });
  let left = false;
  const leave = (notice) => {
    if (left) return;
    left = true;
    client.stop();
    clearInterval(view.ticker);
    writeSession("livehub.host", null);
    renderLogin(root, festival, notice);
  };
  /** A host call; an expired token sends the host back to the login. */
  const hostApi = async (method, path, body) => {
    const res = await api(method, path, { body, token: session.token });
    if (res.status === 401) leave("Your session expired: log in again.");
    return res;
  };
  const canDrive = (venue) => isMain || venue === session.venue;
  const view = new VenueView(viewRoot, client, { festival, mode: "host", switcher: false, logo: false, bar: false, canDrive, hostApi });
  logout.before(view.statusEl);
  logout.addEventListener("click", () => leave(""));
  client.on("unauthorized", () => leave("Your session expired: log in again."));
  const guideList = h("datalist", { id: "lh-guides" }); // guide ids seen on the leaderboard, for the coupon form
  const ctx = { festival, session, client, isMain, hostApi, guideList, view };
  buildOps(ops, ctx);
  import("./dashboard.js").then((m) => m.buildDashboard(dashRoot, ctx));
  buildControls(controls, ctx);
  for (const plugin of PANEL_PLUGINS) plugin(controls, ctx);
  attachGroupBuy(view, client, REDUCERS);
  attachGroupBuyPanel(controls, ctx);
  window.livehub = { client, view, festival, session };
  client.start();
}

/** Replace a select's options, keeping the chosen value when it is still offered. */
function setOptions(select, options) {
  const sig = JSON.stringify(options);
  if (select.dataset.sig === sig) return;
  select.dataset.sig = sig;
  const keep = select.value;
  select.replaceChildren(...options.map(([value, text]) => h("option", { value, text })));
  if (options.some(([value]) => value === keep)) select.value = keep;
}

function productImage(url, size) {
  const img = h("img", { src: safeImage(url), alt: "", width: size, height: size });
  img.addEventListener("error", () => (img.src = "/static/products/product.svg"), { once: true });
  return img;
}

function buildControls(box, { festival, session, client, isMain, hostApi, guideList }) {
  const brandVenues = (festival?.venues || []).filter((v) => v.kind !== "main").sort((a, b) => str(a.title).localeCompare(str(b.title)));
  const venueOptions = (list) => list.map((v) => h("option", { value: str(v.id), text: str(v.title) || str(v.id) }));
  const brandName = (b) => festival?.brandNames.get(str(b)) || str(b);
  const at = (ms) => clockTime(ms - client.clockOffset);

  /** Call a host endpoint and show the outcome in `out` ("✓ what happened" or "✗ HTTP 400 · code: why"). */
  const call = async (out, method, path, body, describe = summarize) => {
    out.className = "result pending";
    out.textContent = "…";
    const res = await hostApi(method, path, body);
    out.className = `result ${res.ok ? "ok" : "bad"}`;
    out.textContent = res.ok ? `✓ ${describe(res.data)}` : `✗ ${describeFailure(res)}`;
    return res;
  };
  const result = (testid) => h("p", { class: "result", role: "status", "aria-live": "polite", "data-testid": testid });
  const section = (title, ...children) => h("section", { class: "panel control" }, h("h2", {}, title), ...children);
  const field = (label, input) => h("label", {}, label, input);
  const int = (name, value, min, max, testid) => h("input", { type: "number", name, value, min, max, step: 1, required: true, "data-testid": testid });
  const cents = (input) => Math.round(Number(input.value) * 100);
  let drive = session.venue; // the venue the controls act on
  const venuePath = (suffix) => `/api/venues/${encodeURIComponent(drive)}/${suffix}`;
  const redraws = []; // when the driven venue or its state changes
  const redraw = () => redraws.forEach((fn) => fn());
  client.on("snapshot", redraw);
  client.on("event", redraw);

  // the venue driven (the main host may drive every venue)
  if (isMain && festival) {
    const main = festival.byId.get(festival.main_venue);
    const select = h(
      "select",
      {
        "data-testid": "drive-venue",
        onchange: () => {
          drive = select.value;
          client.switchVenue(drive);
          redraw();
        },
      },
      main ? h("option", { value: str(main.id), text: `★ ${str(main.title)}` }) : null,
      venueOptions(brandVenues),
    );
    box.append(section("Driving", field("Venue", select), h("p", { class: "muted small", text: "The main host may drive every venue; the live view follows." })));
  }

  // announcement
  const annText = h("textarea", { rows: 2, maxLength: 500, placeholder: "Tell everyone something…", "data-testid": "announce-text" });
  const annOut = result("announce-result");
  box.append(
    section(
      "Announcement",
      h(
        "form",
        {
          onsubmit: async (e) => {
            e.preventDefault();
            const text = annText.value.trim();
            if (!text) return;
            const res = await call(annOut, "POST", venuePath("events"), { kind: "announcement", data: { text } });
            if (res.ok) annText.value = "";
          },
        },
        annText,
        h("button", { class: "btn", type: "submit", "data-testid": "announce-send" }, "Publish"),
      ),
      annOut,
    ),
  );

  if (isMain) {
    // visit call to action
    const pickRoom = () => h("option", { value: "", disabled: true, selected: true, text: "— pick a brand room —" }); // no default: the first brand alphabetically is nobody's choice
    const ctaTarget = h("select", { "data-testid": "cta-target", required: true }, pickRoom(), venueOptions(brandVenues));
    const ctaText = h("input", { type: "text", maxLength: 200, placeholder: "e.g. 50% off in the next 10 minutes!", "data-testid": "cta-text" });
    const ctaOut = result("cta-result");
    box.append(
      section(
        "Send viewers to a brand room",
        h(
          "form",
          {
            onsubmit: (e) => {
              e.preventDefault();
              call(ctaOut, "POST", `/api/venues/${encodeURIComponent(festival?.main_venue || "main")}/cta`, { target: ctaTarget.value, text: ctaText.value.trim() }, () => `Sent viewers to ${ctaTarget.selectedOptions[0]?.textContent || ctaTarget.value}`);
            },
          },
          field("Brand room", ctaTarget),
          field("Message", ctaText),
          h("button", { class: "btn", type: "submit", "data-testid": "cta-send" }, "Send call to action"),
        ),
        ctaOut,
      ),
    );
    // co-host link-up
    const coTarget = h("select", { "data-testid": "cohost-target", required: true }, pickRoom(), venueOptions(brandVenues));
    const coOut = result("cohost-result");
    const coNow = h("p", { class: "muted small" });
    const mainId = festival?.main_venue || "main";
    const showCohost = () => {
      const st = client.state[mainId]?.cohost;
      coNow.textContent = isObj(st) && st.active !== false ? `Now linked with ${festival?.byId.get(str(st.brand_venue))?.title || st.brand_venue}` : "No link-up running.";
    };
    redraws.push(showCohost);
    box.append(
      section(
        "Co-host link-up",
        field("Brand room", coTarget),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", class: "btn", "data-testid": "cohost-start", onclick: () => (coTarget.value ? call(coOut, "POST", `/api/venues/${mainId}/cohost`, { brand_venue: coTarget.value }, () => "Link-up started") : (coOut.textContent = "✗ Pick a brand room first")) }, "Start link-up"),
          h("button", { type: "button", class: "btn ghost", "data-testid": "cohost-end", onclick: () => call(coOut, "DELETE", `/api/venues/${mainId}/cohost`, undefined, () => "Link-up ended") }, "End link-up"),
        ),
        coNow,
        coOut,
      ),
    );
  }

  // ---- products of the driven venue's brand (the main venue: every product) ----
  const productsOf = () => {
    const brand = festival?.byId.get(drive)?.brand;
    return [...(festival?.products.values() || [])].filter((p) => !brand || p.brand === brand);
  };
  const skuList = h("datalist", { id: "lh-skus" });
  const productSearch = h("input", { type: "search", placeholder: "Find a product…", "aria-label": "Find a product", oninput: () => drawProducts() });
  const productList = h("div", { class: "product-list", "data-testid": "products" });
  const productMore = h("p", { class: "muted small" });
  const productTile = (p) => {
    const price = num(p.price_cents), list = num(p.list_price_cents);
    return h(
      "div",
      { class: "product", dataset: { sku: str(p.sku) } },
      productImage(p.image_url, 44),
      h("div", { class: "product-body" }, h("strong", { text: str(p.title) }), h("span", { class: "muted small", text: `${str(p.sku)} · ${brandName(p.brand)}` })),
      h("span", { class: "product-price" }, h("span", { class: "now", text: money(price) }), list && price !== null && list > price ? h("s", { class: "was", text: money(list) }) : null),
      h(
        "div",
        { class: "product-act" },
        h("button", { type: "button", class: "btn small", "data-testid": "product-pin", onclick: () => pinCard(str(p.sku)) }, "Pin"),
        h("button", { type: "button", class: "btn small ghost", "data-testid": "product-sell", onclick: () => prefillSale(p) }, "Sale…"),
      ),
    );
  };
  const drawProducts = () => {
    const all = productsOf();
    const sig = `${drive}|${all.length}`;
    if (skuList.dataset.sig !== sig) {
      skuList.dataset.sig = sig;
      skuList.replaceChildren(...all.map((p) => h("option", { value: str(p.sku), text: `${str(p.title)} · ${money(p.price_cents)}` })));
    }
    const q = productSearch.value.trim().toLowerCase();
    const hits = all.filter((p) => !q || `${p.sku} ${p.title} ${brandName(p.brand)}`.toLowerCase().includes(q));
    productSearch.hidden = all.length <= 6;
    const shown = hits.slice(0, 8);
    if (productList.dataset.sig !== `${sig}|${q}`) {
      productList.dataset.sig = `${sig}|${q}`;
      productList.replaceChildren(...shown.map(productTile));
    }
    productMore.textContent = !all.length
      ? "The festival lists no products for this venue's brand."
      : hits.length > shown.length
        ? `${hits.length - shown.length} more — search to narrow (or type a SKU below)`
        : "";
  };
  redraws.push(drawProducts);
  box.append(section("Products", skuList, productSearch, productList, productMore));

  // ---- the pinned product card (optionally with a flash sale and a coupon attached) ----
  const skuInput = (testid) => h("input", { type: "text", list: "lh-skus", required: true, placeholder: "SKU", autocomplete: "off", "data-testid": testid });
  const cardSku = skuInput("card-sku");
  const cardSale = h("select", { "data-testid": "card-sale", "aria-label": "Attach a flash sale" });
  const cardCoupon = h("select", { "data-testid": "card-coupon", "aria-label": "Attach a coupon" });
  const cardNow = h("p", { class: "muted small", "data-testid": "card-now" });
  const cardOut = result("card-result");
  const drawCard = () => {
    const st = client.state[drive] || {};
    const now = client.serverNow();
    const sku = cardSku.value.trim();
    const sales = Object.values(isObj(st.sales) ? st.sales : {}).filter((s) => isObj(s) && (num(s.ends_at_ms) ?? Infinity) > now && (!sku || s.sku === sku));
    setOptions(cardSale, [["", "— none —"], ...sales.map((s) => [str(s.sale_id), `${money(s.price_cents)} · ${str(s.title)} (${str(s.sale_id)})`])]);
    const coupons = Object.values(isObj(st.coupons) ? st.coupons : {}).filter((c) => isObj(c) && (num(c.expires_at_ms) ?? Infinity) > now);
    setOptions(cardCoupon, [["", "— none —"], ...coupons.map((c) => [str(c.coupon_id), `${money(c.value_cents)} off (${str(c.coupon_id)})`])]);
    const card = st.card;
    cardNow.textContent = isObj(card) ? `Pinned now: ${str(card.title)} (${str(card.sku)})${card.sale ? " with sale " + str(card.sale) : ""}` : "Nothing pinned in this venue.";
  };
  cardSku.addEventListener("input", drawCard);
  redraws.push(drawCard);
  const pinCard = (sku, extra = {}) => {
    cardSku.value = sku;
    return call(cardOut, "POST", venuePath("cards"), { sku, ...extra }, () => `Pinned ${sku}${extra.sale ? " with its flash sale" : ""}`);
  };
  box.append(
    section(
      "Pinned product card",
      h(
        "form",
        {
          class: "grid-form",
          onsubmit: (e) => {
            e.preventDefault();
            pinCard(cardSku.value.trim(), { sale: cardSale.value || undefined, coupon: cardCoupon.value || undefined });
          },
        },
        field("Product (SKU)", cardSku),
        field("Flash sale", cardSale),
        field("Coupon", cardCoupon),
        h(
          "div",
          { class: "row wide" },
          h("button", { class: "btn", type: "submit", "data-testid": "card-pin" }, "Pin"),
          h("button", { class: "btn ghost", type: "button", "data-testid": "card-unpin", onclick: () => call(cardOut, "DELETE", venuePath("cards"), undefined, () => "Unpinned") }, "Unpin"),
        ),
      ),
      cardNow,
      cardOut,
    ),
  );

  // ---- flash sale ----
  const saleSku = skuInput("sale-sku");
  const saleIns = {
    price: h("input", { type: "number", name: "price", min: 0.01, step: 0.01, required: true, placeholder: "99.00", "data-testid": "sale-price" }),
    stock: int("stock", 100, 1, 10000000, "sale-stock"),
    limit: int("per_user_limit", 1, 1, 1000, "sale-limit"),
    startsIn: int("starts_in_s", 10, 0, 30 * 86400, "sale-starts-in"),
    duration: int("duration_s", 300, 1, 30 * 86400, "sale-duration"),
    ttl: int("reservation_ttl_s", 300, 1, 86400, "sale-ttl"),
  };
  const fillPrice = () => {
    const p = festival?.products.get(saleSku.value.trim());
    if (p && !saleIns.price.value && num(p.price_cents)) saleIns.price.value = (Math.round(p.price_cents * 0.8) / 100).toFixed(2); // a flash price: 20 % off
  };
  saleSku.addEventListener("input", fillPrice); // a known SKU typed or picked: suggest its price
  const prefillSale = (p) => {
    saleSku.value = str(p.sku);
    saleIns.price.value = "";
    fillPrice();
    saleIns.price.scrollIntoView({ behavior: "smooth", block: "center" });
    saleIns.price.focus();
  };
  const saleOut = result("sale-result");
  box.append(
    section(
      "Flash sale",
      h(
        "form",
        {
          class: "grid-form",
          onsubmit: async (e) => {
            e.preventDefault();
            delete saleOut.dataset.sale;
            const res = await call(
              saleOut,
              "POST",
              venuePath("sales"),
              {
                sku: saleSku.value.trim(),
                stock: Number(saleIns.stock.value),
                price_cents: cents(saleIns.price),
                per_user_limit: Number(saleIns.limit.value),
                starts_in_s: Number(saleIns.startsIn.value),
                duration_s: Number(saleIns.duration.value),
                reservation_ttl_s: Number(saleIns.ttl.value),
              },
              (d) => {
                const s = isObj(d.sale) ? d.sale : {};
                const starts = num(s.starts_at_ms);
                const when = starts !== null && starts > client.serverNow() + 1000 ? `starts ${at(starts)}` : "on now";
                return `Flash sale ${str(s.sale_id)}: ${compact(s.stock)} of ${str(s.title)} at ${money(s.price_cents)}, ${when}, ends ${at(num(s.ends_at_ms) ?? 0)}`;
              },
            );
            if (res.ok && isObj(res.data.sale)) saleOut.dataset.sale = str(res.data.sale.sale_id);
          },
        },
        field("Product (SKU)", saleSku),
        field("Flash price ¥", saleIns.price),
        field("Stock", saleIns.stock),
        field("Per person", saleIns.limit),
        field("Starts in (s)", saleIns.startsIn),
        field("Lasts (s)", saleIns.duration),
        field("Pay within (s)", saleIns.ttl),
        h("button", { class: "btn wide", type: "submit", "data-testid": "sale-create" }, "Schedule flash sale"),
      ),
      h("p", { class: "muted small", text: "Open or close a sale early with its buttons in the live view." }),
      saleOut,
    ),
  );

  // ---- coupons (optionally issued on behalf of one of the brand's shopping guides) ----
  const cIns = {
    value: h("input", { type: "number", min: 0.01, step: 0.01, value: 10, required: true, "data-testid": "coupon-value" }),
    min: h("input", { type: "number", min: 0, step: 0.01, value: 99, required: true, "data-testid": "coupon-min" }),
    total: int("total", 1000, 1, 10000000, "coupon-total"),
    limit: int("per_user_limit", 1, 1, 1000, "coupon-limit"),
    expires: int("expires_in_s", 3600, 1, 30 * 86400, "coupon-expires"),
    guide: h("input", { type: "text", list: "lh-guides", placeholder: "guide id (see Top guides)", autocomplete: "off", "data-testid": "coupon-guide" }),
    onlyGuide: h("input", { type: "text", list: "lh-guides", placeholder: "guide id: only their customers", autocomplete: "off", "data-testid": "coupon-only-guide" }),
    onlyStore: h("input", { type: "text", placeholder: "store id: only pickups there", autocomplete: "off", "data-testid": "coupon-only-store" }),
  };
  const couponOut = result("coupon-result");
  box.append(
    section(
      "Drop coupons",
      guideList,
      h(
        "form",
        {
          class: "grid-form",
          onsubmit: (e) => {
            e.preventDefault();
            const guide = cIns.guide.value.trim();
            call(
              couponOut,
              "POST",
              venuePath("coupons"),
              {
                value_cents: cents(cIns.value),
                min_spend_cents: cents(cIns.min),
                total: Number(cIns.total.value),
                per_user_limit: Number(cIns.limit.value),
                expires_in_s: Number(cIns.expires.value),
                guide: guide || undefined,
                only_guide: cIns.onlyGuide.value.trim() || undefined,
                only_store: cIns.onlyStore.value.trim() || undefined,
              },
              (d) => {
                const c = isObj(d.coupon) ? d.coupon : {};
                const only = `${c.only_guide ? `, only for ${str(c.only_guide)}'s customers` : ""}${c.only_store ? `, only for pickups at ${str(c.only_store)}` : ""}`;
                return `${compact(c.total)} coupon${c.total === 1 ? "" : "s"} of ${money(c.value_cents)} off dropped (${str(c.coupon_id)}${guide ? ", from " + str(c.issuer) : ""}), until ${at(num(c.expires_at_ms) ?? 0)}${only}`;
              },
            );
          },
        },
        field("Value ¥", cIns.value),
        field("Min. spend ¥", cIns.min),
        field("How many", cIns.total),
        field("Per person", cIns.limit),
        field("Valid for (s)", cIns.expires),
        h("label", { class: "wide" }, "From guide (optional)", cIns.guide),
        h("label", { class: "wide" }, "Only for this guide's customers (optional)", cIns.onlyGuide),
        h("label", { class: "wide" }, "Only for pickups at this store (optional)", cIns.onlyStore),
        h("button", { class: "btn wide", type: "submit", "data-testid": "coupon-drop" }, "Drop coupons"),
      ),
      couponOut,
    ),
  );
  redraw();
}

/** The host's live operations: paid orders as they come in, the guide leaderboard, a store's orders. */
function buildOps(box, { festival, session, client, isMain, hostApi, guideList, view }) {
  const ownBrand = festival?.byId.get(session.venue)?.brand || null;
  const section = (cls, title, ...children) => h("section", { class: `panel ops-section ${cls}` }, h("h2", {}, ...title), ...children);

  // ---- live orders (`order` frames: the host's venue; the main host: every venue) ----
  const orderList = h("ol", { class: "orders", "data-testid": "orders" });
  const orderSum = h("span", { class: "ops-summary", "data-testid": "orders-summary" });
  const seen = new Set();
  const storesSeen = h("datalist", { id: "lh-stores" });
  const storeIds = new Set();
  const saleTitle = (orderId) => {
    const id = str(orderId);
    const sale = view.allSales().get(id.slice(0, id.lastIndexOf(":")));
    return sale ? view.saleTitle(sale) : "";
  };
  const addOrder = (f) => {
    const id = str(f.order);
    if (!id || seen.has(id)) return;
    seen.add(id);
    const pickup = f.mode === "pickup";
    const title = saleTitle(id);
    orderList.prepend(
      h(
        "li",
        { dataset: { order: id, venue: str(f.venue), guide: str(f.guide) } },
        h("time", { text: clockTime(num(f.ts) ? f.ts - client.clockOffset : Date.now()) }),
        h("strong", { class: "amount", text: money(f.amount_cents) }),
        h("span", { class: "order-what" }, title ? h("span", { class: "order-title", text: title }) : null, h("span", { class: "muted small" }, icon(pickup ? "store" : "truck"), pickup ? ` pickup at ${str(f.store)}` : " home delivery")),
        f.guide ? h("span", { class: "tag guide", text: `guide ${str(f.guide)}` }) : null,
        isMain && str(f.venue) !== session.venue ? h("span", { class: "tag", text: str(festival?.byId.get(str(f.venue))?.title || f.venue) }) : null,
        h("code", { class: "order-ref", title: id, text: shortRef(id) }),
      ),
    );
    while (orderList.childElementCount > 100) orderList.lastElementChild.remove();
    // the summary is the server's count and GMV (dashboard.js, from the stats frames): not summed here since the page loaded
    orderList.closest(".panel")?.classList.remove("is-empty");
    if (f.store && !storeIds.has(str(f.store))) {
      storeIds.add(str(f.store));
      storesSeen.append(h("option", { value: str(f.store) }));
    }
    if (f.guide) refreshSoon(); // the guide's sale counts now: don't wait for the next push
  };

  // ---- guide leaderboard (`leaderboard` frames every few seconds, or GET for another hour) ----
  const hourSel = h("select", { "data-testid": "board-hour", "aria-label": "Hour", onchange: () => loadBoard() });
  const fillHours = () => {
    const now = Date.now();
    const opts = [["", "This hour (live)"]];
    for (let i = 1; i < 24; i++) {
      const hr = utcHour(now - i * 3600000);
      opts.push([hr, hourLabel(hr)]);
    }
    setOptions(hourSel, opts);
  };
  hourSel.addEventListener("focus", fillHours);
  fillHours();
  const boardNote = h("p", { class: "result", role: "status" });
  const board = h("div", { class: "board" });
  let boardTimer = null;
  const drawBoard = (data) => {
    board.replaceChildren(leaderboardTable(data, ownBrand, (b) => festival?.brandNames.get(str(b)) || str(b)));
    for (const g of Array.isArray(data.guides) ? data.guides : []) {
      if (!isObj(g) || !g.guide_id || guideList.querySelector(`option[value="${CSS.escape(str(g.guide_id))}"]`)) continue;
      if (!ownBrand || g.brand === ownBrand) guideList.append(h("option", { value: str(g.guide_id), text: `${str(g.name)} · ${str(g.store)}` }));
    }
  };
  const loadBoard = async () => {
    clearTimeout(boardTimer);
    const hour = hourSel.value;
    const res = await api("GET", `/api/guides/leaderboard${hour ? "?hour=" + encodeURIComponent(hour) : ""}`);
    if (hourSel.value !== hour) return; // another hour was picked meanwhile
    boardNote.className = res.ok ? "result" : "result bad";
    boardNote.textContent = res.ok ? "" : `✗ ${describeFailure(res)}`;
    if (res.ok) drawBoard(res.data);
  };
  const refreshSoon = () => {
    if (hourSel.value) return;
    clearTimeout(boardTimer);
    boardTimer = setTimeout(loadBoard, 300);
  };
  client.on("volatile", (f) => {
    if (f.type === "order") addOrder(f);
    else if (f.type === "leaderboard" && !hourSel.value) drawBoard(f); // live: pushed to hosts
  });

  // ---- a store's orders and pickups ----
  const storeIn = h("input", { type: "text", list: "lh-stores", required: true, placeholder: "store id (see an order's pickup)", autocomplete: "off", "data-testid": "store-id", "aria-label": "Store id" });
  const storeOut = h("div", { class: "store-orders", "data-testid": "store-orders" });
  const lookup = async (e) => {
    e.preventDefault();
    const id = storeIn.value.trim();
    if (!id) return;
    storeOut.replaceChildren(h("p", { class: "result pending", text: "…" }));
    const res = await hostApi("GET", `/api/stores/${encodeURIComponent(id)}/orders?limit=50`);
    storeOut.replaceChildren(res.ok ? storeOrdersView(res.data) : h("p", { class: "result bad", text: `✗ ${describeFailure(res)}` }));
  };

  box.append(
    section(
      "live-orders is-empty",
      [icon("receipt"), " Live orders ", orderSum],
      orderList,
      h("p", { class: "empty", text: isMain ? "Paid orders of every venue appear here as they come in." : "Paid orders of this venue appear here as they come in." }),
    ),
    section(
      "guide-board",
      [icon("trophy"), " Top guides"],
      h("div", { class: "row board-controls" }, hourSel, h("button", { type: "button", class: "btn ghost small", "data-testid": "board-refresh", onclick: () => loadBoard() }, "Refresh")),
      boardNote,
      board,
      h("p", { class: "muted small", text: "Ranked by paid sales credited through guides' share codes, per hour. The live hour updates by itself." }),
    ),
    section(
      "store-lookup",
      [icon("store"), " Store orders"],
      h("form", { class: "row", onsubmit: lookup }, storesSeen, storeIn, h("button", { class: "btn ghost small", type: "submit", "data-testid": "store-lookup" }, icon("search"), "Look up")),
      storeOut,
    ),
  );
  drawBoard({ hour: utcHour(), guides: [] });
  loadBoard();
}

function summarize(data) {
  if (!isObj(data)) return "done";
  if (data.epoch !== undefined && data.offset !== undefined) return `published (#${data.offset})`;
  const text = JSON.stringify(data);
  return text.length > 160 ? text.slice(0, 157) + "…" : text;
}

/** GET /api/guides/leaderboard and the `leaderboard` frame: {hour, guides: [{guide_id, name, store, brand, sales_cents, commission_cents}]}. */
function leaderboardTable(data, ownBrand, brandName = (b) => str(b)) {
  const rows = (Array.isArray(data?.guides) ? data.guides : []).filter(isObj);
  const brands = !ownBrand; // the main host sees every brand's guides: name the brand
  const body = rows.length
    ? rows.map((g, i) =>
        h(
          "tr",
          { class: ownBrand && g.brand === ownBrand ? "mine" : "", dataset: { guide: str(g.guide_id), salesCents: String(num(g.sales_cents) ?? 0) } },
          h("td", { class: "rank", text: String(i + 1) }),
          h("td", {}, h("strong", { text: str(g.name) || str(g.guide_id) }), h("span", { class: "muted small", text: ` ${str(g.guide_id)}` })),
          h("td", { text: str(g.store) }),
          brands ? h("td", { text: brandName(g.brand) }) : null,
          h("td", { class: "num", text: money(g.sales_cents) }),
          h("td", { class: "num muted", text: money(g.commission_cents) }),
        ),
      )
    : [h("tr", {}, h("td", { colSpan: brands ? 6 : 5, class: "muted", text: "No sales credited in this hour yet." }))];
  return h(
    "table",
    { class: "table", "data-testid": "leaderboard", dataset: { hour: str(data?.hour) } },
    h("caption", { class: "muted small", text: data?.hour ? hourLabel(data.hour) : "" }),
    h("thead", {}, h("tr", {}, ["#", "Guide", "Store", brands ? "Brand" : null, "Sales", "Commission"].filter(Boolean).map((t) => h("th", { text: t, class: t === "Sales" || t === "Commission" ? "num" : "" })))),
    h("tbody", {}, body),
  );
}

/** GET /api/stores/{id}/orders: {store: {id, name, brand}, orders: [order fields as strings], pickups}. */
function storeOrdersView(data) {
  const store = isObj(data.store) ? data.store : {};
  const orders = (Array.isArray(data.orders) ? data.orders : []).filter(isObj);
  const pickups = Array.isArray(data.pickups) ? data.pickups.length : 0;
  const sum = orders.reduce((acc, o) => acc + (Number(o.amount_cents) || 0), 0);
  return h(
    "div",
    {},
    h("p", { class: "store-head" }, h("strong", { text: str(store.name) || str(store.id) }), h("span", { class: "muted small", text: ` ${str(store.id)} · ${str(store.brand)}` })),
    h("p", { class: "muted small", text: `${orders.length} latest order${orders.length === 1 ? "" : "s"} · ${pickups} for pickup · ${money(sum)}` }),
    orders.length
      ? h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, ["Time", "Order", "Item", "Amount", "How", "Guide"].map((t) => h("th", { text: t })))),
          h(
            "tbody",
            {},
            orders.map((o) =>
              h(
                "tr",
                { dataset: { order: str(o.order_id) } },
                h("td", { text: Number(o.created_at_ms) ? clockTime(Number(o.created_at_ms)) : "" }),
                h("td", {}, h("code", { title: str(o.order_id), text: shortRef(o.order_id) })),
                h("td", { text: `${str(o.sku)}${Number(o.qty) > 1 ? " ×" + o.qty : ""}` }),
                h("td", { class: "num", text: money(Number(o.amount_cents)) }),
                h("td", { text: o.mode === "pickup" ? "pickup" : "delivery" }),
                h("td", { text: str(o.guide_id) }),
              ),
            ),
          ),
        )
      : h("p", { class: "muted", text: "No orders for this store yet." }),
  );
}

/** / : the festival's rooms. */
export async function startIndex(root = document.getElementById("app")) {
  const festival = await loadFestival().catch(() => null);
  const list = h("ul", { class: "room-list" });
  const search = h("input", { type: "search", placeholder: "Find a brand room…", "aria-label": "Find a brand room" });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const venues = (festival?.venues || []).filter((v) => v.kind !== "main" && (!q || str(v.title).toLowerCase().includes(q)));
    list.replaceChildren(
      ...venues.sort((a, b) => str(a.title).localeCompare(str(b.title))).map((v) => h("li", {}, h("a", { href: `/watch?venue=${encodeURIComponent(v.id)}`, text: str(v.title) || str(v.id) }))),
    );
  };
  search.addEventListener("input", draw);
  const main = festival?.byId.get(festival.main_venue);
  root.replaceChildren(
    h(
      "div",
      { class: "landing" },
      h("a", { class: "logo big", href: "/" }, "live", h("b", {}, "hub")),
      h("h1", { text: festival?.title || "livehub" }),
      h("p", { class: "muted", text: festival ? `One main venue and ${festival.venues.length - 1} brand rooms, live together.` : "The festival API is unavailable." }),
      h(
        "div",
        { class: "row" },
        h("a", { class: "btn", href: `/watch?venue=${encodeURIComponent(main?.id || "main")}` }, `Watch ${main ? str(main.title) : "the main venue"}`),
        h("a", { class: "btn ghost", href: "/panel" }, "Host control panel"),
      ),
      h("h2", {}, "Brand rooms"),
      search,
      list,
    ),
  );
  draw();
}
