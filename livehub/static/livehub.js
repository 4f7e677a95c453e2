// livehub.js — the shared browser client of /watch, /panel and /.
//
// Plain ES module, no dependencies, no build step.  Four parts:
//   1. small helpers: DOM building (text only, never innerHTML with data), money, time, HTTP;
//   2. LiveClient: one websocket to livehub with exact resume (per-channel epoch/offset),
//      reconnect with backoff, requests with ids, batched likes and a server clock offset;
//   3. applyEvent: how each event kind changes a channel's latest-value state (one table:
//      extend it when the server grows new kinds);
//   4. VenueView: renders one venue (counters, banners, pinned cards, flash sales, coupons,
//      live updates, comments) for both pages; startWatch / startPanel / startIndex wire pages.
//
// Everything arriving from the network is rendered with textContent; unknown frames and
// unknown event kinds are ignored by viewers (hosts see the latter in their feed).

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
const firstOf = (obj, ...keys) => {
  for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
};

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

/** A viewer token for this tab (POST /api/auth/guest), cached in sessionStorage. */
export async function guestAuth(fresh = false) {
  const cached = fresh ? null : readSession("livehub.guest");
  if (cached?.token) return cached;
  for (let attempt = 0; ; attempt++) {
    const res = await api("POST", "/api/auth/guest");
    if (res.ok && res.data.token) {
      writeSession("livehub.guest", { token: res.data.token, user: res.data.user });
      return res.data;
    }
    await sleep(Math.min(10000, 500 * 2 ** attempt));
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
  const addProduct = (p, venue) => {
    if (isObj(p) && p.sku) products.set(str(p.sku), { ...p, venue: p.venue ?? venue });
  };
  (Array.isArray(f.products) ? f.products : isObj(f.products) ? Object.values(f.products) : []).forEach((p) =>
    addProduct(p),
  );
  venues.forEach((v) => (Array.isArray(v.products) ? v.products : []).forEach((p) => addProduct(p, v.id)));
  const main = str(f.main_venue) || venues.find((v) => v.kind === "main")?.id || "main";
  return { ...f, main_venue: main, venues, byId, products, hasProducts: products.size > 0 };
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
 * venueChanged}, "event" (the frame), "volatile" (online/likes/comment/stock/... frames),
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
        if (isObj(c.stock)) {
          for (const [sale, left] of Object.entries(c.stock)) {
            const n = isObj(left) ? num(left.stock) : num(left);
            if (n !== null) this.stock[sale] = { ...this.stock[sale], stock: n, sold_out: n <= 0 };
          }
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
    if (f.kind === "sale.sold_out") {
      const id = eventSaleId(f.data);
      if (id) this.stock[id] = { stock: 0, sold_out: true }; // until a newer stock frame says otherwise
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
      if (sale) {
        const n = num(f.stock);
        this.stock[sale] = { stock: n ?? this.stock[sale]?.stock, sold_out: f.sold_out === true || n === 0 };
      }
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

function normalizeState(st) {
  st.sales = toMap(st.sales, (s) => saleId(s));
  st.coupons = toMap(st.coupons, (c) => couponId(c));
  return st;
}

function toMap(value, keyOf) {
  const out = {};
  if (Array.isArray(value)) {
    for (const v of value) if (isObj(v) && keyOf(v)) out[keyOf(v)] = v;
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) if (isObj(v)) out[k] = v;
  }
  return out;
}

export const saleId = (s) => str(firstOf(s, "sale_id", "id", "sale"));
export const couponId = (c) => str(firstOf(c, "coupon_id", "id", "coupon"));

/** The object an event is about: data[key] when it is an object, else data itself. */
function subject(data, key) {
  return isObj(data?.[key]) ? data[key] : isObj(data) ? data : {};
}

export function eventSaleId(data) {
  return saleId(subject(data, "sale")) || str(data?.sale_id) || (typeof data?.sale === "string" ? data.sale : "");
}

function withSale(st, data, patch) {
  st.sales = isObj(st.sales) ? st.sales : {};
  const sale = subject(data, "sale");
  const id = eventSaleId(data);
  if (!id) return;
  st.sales[id] = { ...st.sales[id], ...sale, ...patch };
}

function withCoupon(st, data, patch) {
  st.coupons = isObj(st.coupons) ? st.coupons : {};
  const coupon = subject(data, "coupon");
  const id = couponId(coupon) || str(data?.coupon_id) || (typeof data?.coupon === "string" ? data.coupon : "");
  if (!id) return;
  st.coupons[id] = { ...st.coupons[id], ...coupon, ...patch };
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
    st.card = subject(d, "card");
  },
  "card.unpinned": (st) => {
    delete st.card;
  },
  "sale.created": (st, d) => withSale(st, d, {}),
  "sale.scheduled": (st, d) => withSale(st, d, {}),
  "sale.started": (st, d) => withSale(st, d, { ended: false }),
  "sale.ended": (st, d) => withSale(st, d, { ended: true }),
  "sale.sold_out": (st, d) => withSale(st, d, { sold_out: true }),
  "coupon.dropped": (st, d) => withCoupon(st, d, {}),
  "coupon.started": (st, d) => withCoupon(st, d, {}),
  "coupon.sold_out": (st, d) => withCoupon(st, d, { sold_out: true }),
  "coupon.ended": (st, d) => withCoupon(st, d, { ended: true }),
};

export function applyEvent(st, kind, data) {
  const reduce = REDUCERS[kind];
  if (reduce) reduce(st, data);
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
  coupon_invalid: "That coupon can't be used here",
  busy: "Very busy right now — try again",
  not_found: "This sale no longer exists",
  unavailable: "Buying isn't available right now",
  rate_limited: "Too fast — wait a moment",
  disconnected: "Connection lost — tap again to retry",
  timeout: "No answer — tap again to retry (it's safe)",
};

const STATUS_TEXT = { idle: "Idle", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };

const MAX_COMMENTS = 100;
const CTA_MAX_AGE_MS = 15 * 60 * 1000;
const MAX_FEED = 50;

export class VenueView {
  /**
   * root: an element to render into.  opts: festival (indexed, may be null), mode "viewer" |
   * "host", switcher (venue select in the bar), logo (brand + festival title in the bar).
   */
  constructor(root, client, opts = {}) {
    this.root = root;
    this.client = client;
    this.festival = opts.festival || null;
    this.mode = opts.mode || "viewer";
    this.location = readSession("livehub.loc"); // [lat, lon] when the viewer shared it
    this.buyState = {}; // sale id -> {busy, text, ok, requestId}
    this.couponState = {}; // coupon id -> {busy, text, ok}
    this.ctaDismissed = null;
    this.feedOnce = new Set();
    this.likesShown = 0;
    this.saleEls = new Map();
    this.cardEls = new Map();
    this.couponEls = new Map();
    this.renderQueued = false;
    this.build(opts);
    client.on("status", (d) => this.renderStatus(d));
    client.on("snapshot", (d) => this.onSnapshot(d));
    client.on("event", (f) => this.onEvent(f));
    client.on("volatile", (f) => this.onVolatile(f));
    client.on("error", (f) => this.flash(`${str(f.code)}: ${str(f.message)}`));
    this.ticker = setInterval(() => this.tick(), 250);
  }

  // ---- skeleton ------------------------------------------------------------------------------
  build(opts) {
    const f = this.festival;
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

    // the shop: pinned cards, flash sales, coupons
    this.cardsEl = h("div", { class: "cards", "data-testid": "cards" });
    this.salesEl = h("div", { class: "sales", "data-testid": "sales" });
    this.couponsEl = h("div", { class: "coupons", "data-testid": "coupons" });
    this.locBtn = h("button", { type: "button", class: "link", onclick: () => this.askLocation() });
    const shop = h(
      "aside",
      { class: "shop" },
      h("div", { class: "panel is-empty" }, h("h2", {}, "Pinned product"), this.cardsEl, h("p", { class: "empty", text: "Nothing pinned right now." })),
      h(
        "div",
        { class: "panel is-empty" },
        h("h2", {}, "Flash sales"),
        this.salesEl,
        h("p", { class: "empty", text: "No flash sale yet — stay tuned." }),
        h("p", { class: "loc-line" }, this.locBtn),
      ),
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
    this.renderLocation();
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

  venueTitle(id) {
    const v = this.festival?.byId.get(id);
    return str(v?.title) || str(id);
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
  }

  tick() {
    if (this.saleEls.size) this.renderSales();
    if (this.couponEls.size) this.renderCoupons();
  }

  // ---- counters and likes -----------------------------------------------------------------------
  renderCounters() {
    const c = this.client;
    const mine = c.counters[c.venue] || {};
    this.onlineEl.textContent = compact(mine.online);
    this.likesShown = Math.max(this.likesShown, num(mine.likes) ?? 0); // likes only grow: never flicker down
    this.likesEl.textContent = compact(this.likesShown);
    this.likesEl.dataset.server = String(num(mine.likes) ?? 0);
    const main = this.festival?.main_venue || "main";
    const fest = c.counters[main];
    const inBrand = c.venue && c.venue !== main && fest;
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
    const fromMain = f.ch === (this.festival?.main_venue || "main") && this.client.venue !== f.ch;
    const where = fromMain ? "Main venue" : "";
    switch (f.kind) {
      case "announcement":
        return { icon: "megaphone", text: str(d.text) || "(empty announcement)", where };
      case "cta.visit":
        return { icon: "go", text: `Visit ${str(d.title) || this.venueTitle(str(d.target))}${d.text ? " — " + str(d.text) : ""}`, where };
      case "cohost.started":
        return { icon: "link", text: `Link-up started with ${this.venueTitle(str(d.brand_venue))}`, where };
      case "cohost.ended":
        return { icon: "link", text: "Link-up ended", where };
      case "card.pinned": {
        const card = subject(d, "card");
        return { icon: "pin", text: `Pinned: ${str(card.title) || str(card.sku)}`, where };
      }
      case "card.unpinned":
        return { icon: "pin", text: "Card unpinned", where };
      case "sale.started":
      case "sale.sold_out":
      case "sale.ended": {
        const sale = this.allSales().get(eventSaleId(d)) || subject(d, "sale");
        const what = { "sale.started": "Flash sale started", "sale.sold_out": "Sold out", "sale.ended": "Flash sale ended" }[f.kind];
        return { icon: "bolt", text: `${what}: ${this.saleTitle(sale)}`, where };
      }
      case "coupon.dropped":
        return { icon: "ticket", text: `Coupons dropped: ${money(firstOf(subject(d, "coupon"), "value_cents"))} off`, where };
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

  // ---- comments ---------------------------------------------------------------------------------------
  addComment(f) {
    if (str(f.venue) !== this.client.venue) return; // the main venue's chat also reaches brand rooms: not shown
    const el = this.commentsEl;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    const user = str(f.user);
    const mine = user === this.client.user;
    el.append(
      h(
        "li",
        { class: mine ? "mine" : "" },
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
    const main = this.festival?.main_venue || "main";
    const cta = c.state[main]?.cta;
    const target = isObj(cta) ? str(cta.target) : "";
    const key = isObj(cta) ? `${target}|${str(cta.text)}` : "";
    const at = isObj(cta) ? num(firstOf(cta, "at", "ts", "since", "sent_at")) : null;
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

  // ---- pinned cards -------------------------------------------------------------------------------------
  /** What is known about a SKU: the festival's product list, else a pinned card of it. */
  product(sku) {
    const key = str(sku);
    if (!key) return null;
    const known = this.festival?.products.get(key);
    if (known) return known;
    for (const [, st] of this.channelStates()) if (isObj(st.card) && str(st.card.sku) === key) return st.card;
    return null;
  }

  renderCards() {
    const want = new Map();
    for (const [ch, st] of this.channelStates()) if (isObj(st.card)) want.set(ch, st.card);
    syncKeyed(this.cardsEl, this.cardEls, want, (ch, card) => this.cardNode(ch, card));
  }

  cardNode(ch, raw) {
    const card = { ...(this.product(raw.sku) || {}), ...raw };
    const price = num(card.price_cents), list = num(card.list_price_cents);
    const off = price !== null && list && list > price ? Math.round((1 - price / list) * 100) : 0;
    const img = h("img", { src: safeImage(card.image_url), alt: "", loading: "lazy", width: 96, height: 96 });
    img.addEventListener("error", () => (img.src = "/static/products/product.svg"), { once: true });
    const saleRef = card.sale;
    const sid = isObj(saleRef) ? saleId(saleRef) : str(saleRef);
    const main = this.festival?.main_venue || "main";
    return h(
      "article",
      { class: "card", dataset: { sku: str(card.sku) } },
      img,
      h(
        "div",
        { class: "card-body" },
        ch === main && this.client.venue !== main ? h("span", { class: "tag", text: "Main venue" }) : null,
        h("h3", { text: str(card.title) || str(card.sku) }),
        h("p", { class: "muted", text: str(card.brand_name || this.brandName(card.brand) || card.brand) }),
        h(
          "p",
          { class: "price" },
          h("span", { class: "now", text: money(price) }),
          list && list !== price ? h("s", { class: "was", text: money(list) }) : null,
          off ? h("span", { class: "off", text: `-${off}%` }) : null,
        ),
        sid ? h("p", { class: "muted small" }, icon("bolt", "icon fill"), " Flash price below") : null,
      ),
    );
  }

  brandName(brand) {
    const b = str(brand);
    if (!b || !this.festival) return "";
    const v = this.festival.venues.find((x) => x.brand === b);
    return v ? str(v.title).replace(/ live room$/, "") : "";
  }

  // ---- flash sales ------------------------------------------------------------------------------------------
  saleTitle(sale) {
    const p = this.product(sale?.sku);
    return str(sale?.title) || str(p?.title) || str(sale?.sku) || saleId(sale);
  }

  allSales() {
    const out = new Map();
    for (const [, st] of this.channelStates()) {
      for (const [id, sale] of Object.entries(isObj(st.sales) ? st.sales : {})) out.set(id, sale);
    }
    return out;
  }

  saleView(id, sale) {
    const now = this.client.serverNow();
    const start = num(firstOf(sale, "starts_at_ms", "starts_at", "start_ms"));
    const end = num(firstOf(sale, "ends_at_ms", "ends_at", "end_ms"));
    const total = num(firstOf(sale, "stock", "total"));
    const live = this.client.stock[id]; // volatile stock frames are newer than the sale's state
    const left = num(live?.stock) ?? num(firstOf(sale, "available", "left", "remaining")) ?? total;
    const soldOut = live ? live.sold_out === true || left === 0 : sale.sold_out === true || left === 0;
    let phase = "open";
    if (sale.ended === true || sale.phase === "ended" || (end !== null && now >= end)) phase = "ended";
    else if (soldOut) phase = "sold_out";
    else if (start !== null && now < start) phase = "scheduled";
    return { start, end, total, left, phase, now };
  }

  renderSales() {
    const want = this.allSales();
    syncKeyed(this.salesEl, this.saleEls, want, (id) => this.saleNode(id), (id, refs, sale) => this.updateSale(id, refs, sale));
  }

  saleNode(id) {
    const refs = {
      title: h("h3"),
      price: h("span", { class: "now" }),
      was: h("s", { class: "was" }),
      timer: h("span", { class: "timer" }),
      bar: h("span", { class: "bar-fill" }),
      left: h("span", { class: "left" }),
      limit: h("span", { class: "muted small" }),
      buy: h("button", { type: "button", class: "btn buy", "data-testid": "buy", onclick: () => this.buy(id) }, "Buy now"),
      result: h("p", { class: "buy-result", role: "status" }),
    };
    refs.el = h(
      "article",
      { class: "sale", dataset: { sale: id } },
      h("div", { class: "sale-head" }, h("span", { class: "bolt" }, icon("bolt", "icon fill")), refs.title, refs.timer),
      h("p", { class: "price" }, refs.price, refs.was),
      h("div", { class: "bar" }, refs.bar),
      h("div", { class: "sale-foot" }, refs.left, refs.limit),
      h("div", { class: "sale-actions" }, refs.buy),
      refs.result,
    );
    return refs;
  }

  updateSale(id, refs, sale) {
    const v = this.saleView(id, sale);
    const p = this.product(sale.sku);
    refs.el.dataset.phase = v.phase;
    refs.title.textContent = this.saleTitle(sale);
    refs.price.textContent = money(firstOf(sale, "price_cents"));
    const list = num(firstOf(sale, "list_price_cents")) ?? num(p?.list_price_cents);
    refs.was.textContent = list && list !== num(sale.price_cents) ? money(list) : "";
    refs.timer.textContent =
      v.phase === "scheduled"
        ? `starts in ${duration(v.start - v.now)}`
        : v.phase === "open"
          ? v.end !== null
            ? `ends in ${duration(v.end - v.now)}`
            : "on now"
          : v.phase === "sold_out"
            ? "sold out"
            : "ended";
    const pct = v.total ? Math.max(0, Math.min(100, ((v.left ?? 0) / v.total) * 100)) : 0;
    refs.bar.style.width = `${pct}%`;
    refs.left.textContent = v.left === null || v.left === undefined ? "" : `${compact(v.left)}${v.total ? " / " + compact(v.total) : ""} left`;
    const limit = num(sale.per_user_limit);
    refs.limit.textContent = limit ? `limit ${limit} per person` : "";
    const bs = this.buyState[id] || {};
    refs.buy.disabled = !!bs.busy || v.phase !== "open";
    refs.buy.textContent = bs.busy ? "Buying…" : v.phase === "scheduled" ? "Not yet" : v.phase === "open" ? "Buy now" : v.phase === "sold_out" ? "Sold out" : "Ended";
    refs.result.textContent = bs.text || "";
    refs.result.className = `buy-result ${bs.ok === true ? "ok" : bs.ok === false ? "bad" : ""}`;
  }

  async buy(id) {
    const bs = (this.buyState[id] ??= {});
    if (bs.busy) return;
    // a retry after a lost answer reuses the request id: the server answers "duplicate" with the same reservation
    const rid = bs.retryId || uuid();
    bs.busy = true;
    bs.text = "";
    bs.ok = undefined;
    this.renderSales();
    const msg = { type: "buy", id: rid, sale: id, qty: 1 };
    if (Array.isArray(this.location)) msg.loc = this.location;
    try {
      const data = (await this.client.request(msg)) || {};
      const status = str(data.status) || "ok";
      bs.retryId = null;
      if (status === "ok" || status === "duplicate") {
        bs.ok = true;
        bs.text = this.describeReservation(data);
      } else {
        bs.ok = false;
        bs.text = BUY_MESSAGES[status] ? `${BUY_MESSAGES[status]} (${status})` : status;
      }
    } catch (err) {
      const code = str(err?.code) || "error";
      bs.retryId = code === "disconnected" || code === "timeout" ? rid : null;
      bs.ok = false;
      bs.text = `${BUY_MESSAGES[code] || str(err?.message) || "Failed"} (${code})`;
    } finally {
      bs.busy = false;
      this.renderSales();
    }
  }

  describeReservation(d) {
    const parts = ["✓ Reserved"];
    const qty = num(d.qty);
    if (qty && qty > 1) parts[0] += ` ×${qty}`;
    const store = isObj(d.store) ? str(d.store.name || d.store.id) : str(d.store_name || d.store);
    const km = num(d.distance_km);
    const mode = str(d.mode);
    if (mode === "pickup" && store) parts.push(`pick up at ${store}${km !== null ? ` (${km.toFixed(1)} km)` : ""}`);
    else if (mode === "delivery" || mode) parts.push(`${mode || "delivery"}${store ? " from " + store : ""}${km !== null ? ` (${km.toFixed(1)} km)` : ""}`);
    else if (store) parts.push(`store ${store}`);
    const payBy = num(firstOf(d, "pay_by", "pay_by_ms", "deadline_ms"));
    if (payBy) parts.push(`pay by ${clockTime(payBy - this.client.clockOffset)}`);
    const res = str(isObj(d.reservation) ? d.reservation.reservation_id || d.reservation.id : d.reservation);
    if (res) parts.push(`#${res.slice(-8)}`);
    return parts.join(" · ");
  }

  askLocation() {
    if (Array.isArray(this.location)) {
      this.location = null;
      writeSession("livehub.loc", null);
      this.renderLocation();
      return;
    }
    if (!navigator.geolocation) {
      this.flash("Location isn't available in this browser");
      return;
    }
    this.locBtn.textContent = "Locating…";
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        this.location = [Number(pos.coords.latitude.toFixed(4)), Number(pos.coords.longitude.toFixed(4))];
        writeSession("livehub.loc", this.location);
        this.renderLocation();
      },
      (err) => {
        this.flash(`No location: ${err.message || "denied"}`);
        this.renderLocation();
      },
      { timeout: 10000, maximumAge: 600000 },
    );
  }

  renderLocation() {
    this.locBtn.replaceChildren(
      icon("location"),
      Array.isArray(this.location)
        ? ` Nearest store from ${this.location[0]}, ${this.location[1]} (forget)`
        : " Use my location to pick up at the nearest store",
    );
  }

  // ---- coupons ------------------------------------------------------------------------------------------------
  renderCoupons() {
    const want = new Map();
    for (const [, st] of this.channelStates()) {
      for (const [id, c] of Object.entries(isObj(st.coupons) ? st.coupons : {})) want.set(id, c);
    }
    syncKeyed(this.couponsEl, this.couponEls, want, (id) => this.couponNode(id), (id, refs, c) => this.updateCoupon(id, refs, c));
  }

  couponNode(id) {
    const refs = {
      value: h("strong", { class: "coupon-value" }),
      terms: h("span", { class: "muted small" }),
      grab: h("button", { type: "button", class: "btn small", onclick: () => this.grab(id) }, "Grab"),
      result: h("span", { class: "buy-result small" }),
    };
    refs.el = h("div", { class: "coupon", dataset: { coupon: id } }, h("div", {}, refs.value, refs.terms), h("div", { class: "coupon-act" }, refs.grab, refs.result));
    return refs;
  }

  updateCoupon(id, refs, c) {
    const now = this.client.serverNow();
    const expires = num(firstOf(c, "expires_at_ms", "expires_at"));
    const over = c.ended === true || c.sold_out === true || (expires !== null && now >= expires);
    const min = num(c.min_spend_cents);
    refs.value.textContent = `${money(c.value_cents) || "Coupon"} off`;
    refs.terms.textContent = [min ? ` on ${money(min)}+` : "", expires && !over ? ` · ${duration(expires - now)} left` : "", c.sold_out ? " · all taken" : ""].join("");
    const cs = this.couponState[id] || {};
    refs.grab.disabled = !!cs.busy || over || cs.ok === true;
    refs.grab.textContent = cs.ok === true ? "Got it" : over ? "Gone" : "Grab";
    refs.result.textContent = cs.text || "";
    refs.result.className = `buy-result small ${cs.ok === true ? "ok" : cs.ok === false ? "bad" : ""}`;
  }

  async grab(id) {
    const cs = (this.couponState[id] ??= {});
    if (cs.busy) return;
    cs.busy = true;
    this.renderCoupons();
    try {
      const data = (await this.client.request({ type: "coupon.grab", id: uuid(), coupon: id })) || {};
      const status = str(data.status) || "ok";
      cs.ok = status === "ok";
      cs.text = cs.ok ? "✓ in your wallet" : status;
    } catch (err) {
      cs.ok = false;
      cs.text = str(err?.code) || "failed";
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
// pages
// ---------------------------------------------------------------------------------------------

/** /watch?venue=<id>[&guide=<code>] */
export async function startWatch(root = document.getElementById("app")) {
  const params = new URLSearchParams(location.search);
  root.replaceChildren(h("p", { class: "loading" }, "Loading the festival…"));
  const festival = await loadFestival().catch((err) => {
    console.warn("festival:", err);
    return null;
  });
  const venue = params.get("venue") || festival?.main_venue || "main";
  const guide = params.get("guide");
  if (guide) writeSession("livehub.guide", guide);
  const auth = await guestAuth();
  const client = new LiveClient({
    token: auth.token,
    venue,
    guide: guide || readSession("livehub.guide"),
    refreshToken: async () => (await guestAuth(true)).token,
  });
  const view = new VenueView(root, client, { festival, mode: "viewer", switcher: true });
  client.on("snapshot", ({ venueChanged }) => {
    if (!venueChanged) return;
    const q = new URLSearchParams(location.search);
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
  window.livehub = { client, view, festival };
  client.start();
  return window.livehub;
}

/** The current UTC hour as YYYYMMDDHH (the guide contest's buckets). */
export function utcHour(ms = Date.now()) {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, "");
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
  );
  root.replaceChildren(h("div", { class: "login-wrap" }, h("a", { class: "logo big", href: "/" }, "live", h("b", {}, "hub")), form));
  hostIn.focus();
}

function renderConsole(root, festival, session) {
  const isMain = festival ? festival.byId.get(session.venue)?.kind === "main" : session.venue === "main";
  const viewRoot = h("div", { class: "panel-view" });
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
      h("div", { class: "console-grid" }, viewRoot, controls),
    ),
  );
  const client = new LiveClient({ token: session.token, venue: session.venue });
  const view = new VenueView(viewRoot, client, { festival, mode: "host", switcher: false, logo: false, bar: false });
  logout.before(view.statusEl);
  const leave = (notice) => {
    client.stop();
    clearInterval(view.ticker);
    writeSession("livehub.host", null);
    renderLogin(root, festival, notice);
  };
  logout.addEventListener("click", () => leave(""));
  client.on("unauthorized", () => leave("Your session expired: log in again."));
  buildControls(controls, { festival, session, client, isMain, leave });
  window.livehub = { client, view, festival, session };
  client.start();
}

function buildControls(box, { festival, session, client, isMain, leave }) {
  const token = session.token;
  const brandVenues = (festival?.venues || []).filter((v) => v.kind !== "main").sort((a, b) => str(a.title).localeCompare(str(b.title)));
  const venueOptions = (list) => list.map((v) => h("option", { value: str(v.id), text: str(v.title) || str(v.id) }));

  /** POST/DELETE/GET a host endpoint and show the outcome in `out`; returns the response. */
  const call = async (out, method, path, body) => {
    out.className = "result pending";
    out.textContent = "…";
    const res = await api(method, path, { body, token });
    if (res.status === 401) {
      leave("Your session expired: log in again.");
      return res;
    }
    out.className = `result ${res.ok ? "ok" : "bad"}`;
    out.textContent = res.ok ? `✓ ${summarize(res.data)}` : `✗ ${describeFailure(res)}`;
    return res;
  };
  const result = () => h("p", { class: "result", role: "status", "aria-live": "polite" });
  const section = (title, ...children) => h("section", { class: "panel control" }, h("h2", {}, title), ...children);
  const field = (label, input) => h("label", {}, label, input);
  let drive = session.venue; // the venue the controls act on

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
          refreshProducts();
        },
      },
      main ? h("option", { value: str(main.id), text: `★ ${str(main.title)}` }) : null,
      venueOptions(brandVenues),
    );
    box.append(section("Driving", field("Venue", select), h("p", { class: "muted small", text: "The main host may drive every venue; the live view follows." })));
  }

  // announcement
  const annText = h("textarea", { rows: 2, maxLength: 500, placeholder: "Tell everyone something…", "data-testid": "announce-text" });
  const annOut = result();
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
            const res = await call(annOut, "POST", `/api/venues/${encodeURIComponent(drive)}/events`, { kind: "announcement", data: { text } });
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
    const ctaTarget = h("select", { "data-testid": "cta-target" }, venueOptions(brandVenues));
    const ctaText = h("input", { type: "text", maxLength: 200, placeholder: "e.g. 50% off in the next 10 minutes!", "data-testid": "cta-text" });
    const ctaOut = result();
    box.append(
      section(
        "Send viewers to a brand room",
        h(
          "form",
          {
            onsubmit: (e) => {
              e.preventDefault();
              call(ctaOut, "POST", `/api/venues/${encodeURIComponent(festival?.main_venue || "main")}/cta`, { target: ctaTarget.value, text: ctaText.value.trim() });
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
    const coTarget = h("select", { "data-testid": "cohost-target" }, venueOptions(brandVenues));
    const coOut = result();
    const coNow = h("p", { class: "muted small" });
    const mainId = festival?.main_venue || "main";
    const showCohost = () => {
      const st = client.state[mainId]?.cohost;
      coNow.textContent = isObj(st) && st.active !== false ? `Now linked with ${festival?.byId.get(str(st.brand_venue))?.title || st.brand_venue}` : "No link-up running.";
    };
    client.on("snapshot", showCohost);
    client.on("event", showCohost);
    box.append(
      section(
        "Co-host link-up",
        field("Brand room", coTarget),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", class: "btn", "data-testid": "cohost-start", onclick: () => call(coOut, "POST", `/api/venues/${mainId}/cohost`, { brand_venue: coTarget.value }) }, "Start link-up"),
          h("button", { type: "button", class: "btn ghost", "data-testid": "cohost-end", onclick: () => call(coOut, "DELETE", `/api/venues/${mainId}/cohost`) }, "End link-up"),
        ),
        coNow,
        coOut,
      ),
    );
  }

  // product card (commerce)
  const skuList = h("datalist", { id: "lh-skus" });
  const skuInput = () => h("input", { type: "text", list: "lh-skus", required: true, placeholder: "SKU", autocomplete: "off" });
  const refreshProducts = () => {
    if (!festival?.hasProducts) return;
    const brand = festival.byId.get(drive)?.brand;
    const items = [...festival.products.values()].filter((p) => !brand || p.brand === brand);
    skuList.replaceChildren(...items.map((p) => h("option", { value: str(p.sku), text: `${str(p.title)} · ${money(p.price_cents)}` })));
  };
  refreshProducts();
  const cardSku = skuInput();
  cardSku.dataset.testid = "card-sku";
  const cardOut = result();
  box.append(
    section(
      "Pinned product card",
      skuList,
      h(
        "form",
        {
          onsubmit: (e) => {
            e.preventDefault();
            call(cardOut, "POST", `/api/venues/${encodeURIComponent(drive)}/cards`, { sku: cardSku.value.trim() });
          },
        },
        field("Product", cardSku),
        h(
          "div",
          { class: "row" },
          h("button", { class: "btn", type: "submit", "data-testid": "card-pin" }, "Pin"),
          h("button", { class: "btn ghost", type: "button", "data-testid": "card-unpin", onclick: () => call(cardOut, "DELETE", `/api/venues/${encodeURIComponent(drive)}/cards`) }, "Unpin"),
        ),
      ),
      festival?.hasProducts ? null : h("p", { class: "muted small", text: "The festival API lists no products: type a SKU." }),
      cardOut,
    ),
  );

  // flash sale
  const int = (name, value, min, max) => h("input", { type: "number", name, value, min, max, step: 1, required: true });
  const saleSku = skuInput();
  const saleIns = {
    stock: int("stock", 100, 1, 10000000),
    price: h("input", { type: "number", name: "price", min: 0.01, step: 0.01, required: true, placeholder: "9.90" }),
    limit: int("per_user_limit", 1, 1, 100),
    startsIn: int("starts_in_s", 10, 0, 86400),
    duration: int("duration_s", 300, 1, 86400),
  };
  saleSku.addEventListener("change", () => {
    const p = festival?.products.get(saleSku.value.trim());
    if (p && !saleIns.price.value && num(p.price_cents)) saleIns.price.value = (p.price_cents / 100).toFixed(2);
  });
  const saleOut = result();
  box.append(
    section(
      "Flash sale",
      h(
        "form",
        {
          class: "grid-form",
          onsubmit: (e) => {
            e.preventDefault();
            call(saleOut, "POST", `/api/venues/${encodeURIComponent(drive)}/sales`, {
              sku: saleSku.value.trim(),
              stock: Number(saleIns.stock.value),
              price_cents: Math.round(Number(saleIns.price.value) * 100),
              per_user_limit: Number(saleIns.limit.value),
              starts_in_s: Number(saleIns.startsIn.value),
              duration_s: Number(saleIns.duration.value),
            });
          },
        },
        field("Product", saleSku),
        field("Flash price ¥", saleIns.price),
        field("Stock", saleIns.stock),
        field("Per person", saleIns.limit),
        field("Starts in (s)", saleIns.startsIn),
        field("Lasts (s)", saleIns.duration),
        h("button", { class: "btn wide", type: "submit", "data-testid": "sale-start" }, "Schedule flash sale"),
      ),
      saleOut,
    ),
  );

  // coupons
  const cIns = {
    value: h("input", { type: "number", min: 0.01, step: 0.01, value: 10, required: true }),
    min: h("input", { type: "number", min: 0, step: 0.01, value: 99, required: true }),
    total: int("total", 1000, 1, 10000000),
    limit: int("per_user_limit", 1, 1, 100),
    expires: int("expires_in_s", 3600, 1, 30 * 86400),
  };
  const couponOut = result();
  box.append(
    section(
      "Drop coupons",
      h(
        "form",
        {
          class: "grid-form",
          onsubmit: (e) => {
            e.preventDefault();
            call(couponOut, "POST", `/api/venues/${encodeURIComponent(drive)}/coupons`, {
              value_cents: Math.round(Number(cIns.value.value) * 100),
              min_spend_cents: Math.round(Number(cIns.min.value) * 100),
              total: Number(cIns.total.value),
              per_user_limit: Number(cIns.limit.value),
              expires_in_s: Number(cIns.expires.value),
            });
          },
        },
        field("Value ¥", cIns.value),
        field("Min. spend ¥", cIns.min),
        field("How many", cIns.total),
        field("Per person", cIns.limit),
        field("Valid for (s)", cIns.expires),
        h("button", { class: "btn wide", type: "submit", "data-testid": "coupon-drop" }, "Drop coupons"),
      ),
      couponOut,
    ),
  );

  // guide leaderboard
  const hourIn = h("input", { type: "text", value: utcHour(), pattern: "\\d{10}", maxLength: 10, title: "YYYYMMDDHH (UTC)" });
  const board = h("div", { class: "board" });
  const boardOut = result();
  const loadBoard = async () => {
    const res = await call(boardOut, "GET", `/api/guides/leaderboard?hour=${encodeURIComponent(hourIn.value.trim())}`);
    board.replaceChildren(res.ok ? leaderboardTable(res.data) : "");
  };
  box.append(
    section(
      "Top sellers of the hour",
      h(
        "form",
        {
          class: "row",
          onsubmit: (e) => {
            e.preventDefault();
            loadBoard();
          },
        },
        field("Hour (UTC)", hourIn),
        h("button", { class: "btn ghost", type: "submit", "data-testid": "board-load" }, "Load"),
      ),
      boardOut,
      board,
    ),
  );
}

function summarize(data) {
  if (!isObj(data)) return "done";
  if (data.epoch !== undefined && data.offset !== undefined) return `published (#${data.offset})`;
  const text = JSON.stringify(data);
  return text.length > 160 ? text.slice(0, 157) + "…" : text;
}

function leaderboardTable(data) {
  const rows = Array.isArray(data) ? data : firstOf(data, "guides", "top", "leaderboard", "rows", "items") || [];
  if (!Array.isArray(rows) || !rows.length) return h("p", { class: "muted", text: "No sales credited in this hour yet." });
  const cols = [...new Set(rows.filter(isObj).flatMap((r) => Object.keys(r)))].slice(0, 6);
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, h("th", { text: "#" }), cols.map((c) => h("th", { text: c.replace(/_cents$/, "").replace(/_/g, " ") })))),
    h(
      "tbody",
      {},
      rows.filter(isObj).map((r, i) => h("tr", {}, h("td", { text: String(i + 1) }), cols.map((c) => h("td", { text: c.endsWith("_cents") ? money(r[c]) : str(r[c]) })))),
    ),
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
