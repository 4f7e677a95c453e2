// my_orders.js — "My orders" of the watch page, from the server (GET /api/me/orders).
//
// The server keeps a buyer's reservations, orders and pickups (livehub.services.my_orders), so a
// reload, another tab or another device shows them, pay link and pickup code included.  The view
// (livehub.js VenueView) calls refreshMyOrders when it (re)connects, after a buy and after a
// payment; the server's list then replaces what the tab knew.  While a reservation waits for its
// payment (a provider's callback confirms it elsewhere) the list is re-read every 10 s, while a
// paid pickup waits for its hand-over every 30 s; otherwise not at all.  A pickup order shows its store's
// name, address and distance and, once paid, the pickup code the buyer shows at the counter.

import { api, clockTime, distance, h, icon } from "/static/livehub.js";

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (v === null || v === undefined ? "" : String(v));
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

const MAX_SHOWN = 20; // the newest orders shown (the server keeps more)
const POLL_RESERVED_MS = 10000;
const POLL_PICKUP_MS = 30000;
const timers = new WeakMap(); // view -> the next re-read
const inFlight = new WeakMap(); // view -> {running, again}: one request at a time, one more if asked meanwhile

/** The server's order (GET /api/me/orders) in the shape VenueView keeps in myOrders. */
export function fromServer(o, prev = {}) {
  return {
    ...prev,
    reservation: str(o.reservation),
    sale: str(o.sale),
    title: str(o.title) || prev.title || str(o.sku) || "Flash-sale item",
    image_url: o.image_url || prev.image_url || null,
    qty: num(o.qty) ?? 1,
    unit_price_cents: num(o.unit_price_cents),
    discount_cents: num(o.discount_cents) ?? 0,
    amount_cents: num(o.amount_cents),
    coupon: o.coupon || null,
    pay_by: num(o.pay_by),
    mode: o.mode || null,
    store: o.store || null,
    distance_km: num(o.distance_km),
    pickup_fallback: o.pickup_fallback === true,
    state: str(o.state) || prev.state || "reserved",
    order: o.order || null,
    pickup: isObj(o.pickup) ? o.pickup : null,
  };
}

/** Fetch the buyer's orders and show them (coalesced: at most one request in flight per view). */
export async function refreshMyOrders(view) {
  if (view.mode !== "viewer" || !view.client?.token) return;
  const state = inFlight.get(view) || { running: false, again: false };
  inFlight.set(view, state);
  if (state.running) {
    state.again = true;
    return;
  }
  state.running = true;
  try {
    do {
      state.again = false;
      const res = await api("GET", "/api/me/orders", { token: view.client.token });
      if (!res.ok || !Array.isArray(res.data?.orders)) return; // keep what the tab knows
      const next = new Map();
      const mine = res.data.orders.filter((o) => isObj(o) && o.kind === "reservation" && o.reservation);
      for (const o of mine.slice(0, MAX_SHOWN).reverse()) { // oldest first: the view shows newest first
        const prev = view.myOrders.get(str(o.reservation));
        // the same object when the tab had it: a payment in flight keeps writing to what is shown
        next.set(str(o.reservation), prev ? Object.assign(prev, fromServer(o, prev)) : { ...fromServer(o), busy: false, note: "" });
      }
      view.myOrders = next;
      view.saveOwned();
      view.renderOrders();
      schedule(view);
    } while (state.again);
  } finally {
    state.running = false;
  }
}

/** Re-read while something can change without this tab doing anything (see the top). */
function schedule(view) {
  clearTimeout(timers.get(view));
  const now = Date.now();
  const orders = [...view.myOrders.values()];
  const reserved = orders.some((r) => r.state === "reserved" && (r.pay_by === null || r.pay_by > now));
  const waiting = orders.some((r) => r.state === "paid" && r.pickup && !r.pickup.picked_up_at_ms);
  const wait = reserved ? POLL_RESERVED_MS : waiting ? POLL_PICKUP_MS : 0;
  if (wait) timers.set(view, setTimeout(() => refreshMyOrders(view), wait));
}

/** The pickup part of an order card (filled by renderPickup). */
export function pickupBox() {
  return h("div", { class: "pickup-info", "data-testid": "pickup", hidden: true });
}

/** Where and how the buyer picks up: store name, address, distance; the code once paid. */
export function renderPickup(el, r) {
  const p = isObj(r.pickup) ? r.pickup : null;
  el.hidden = !p;
  if (!p) return;
  const where = [str(p.name) || str(p.store), str(p.address)].filter(Boolean).join(" · ");
  const away = distance(p.distance_km);
  const parts = [
    h("p", { class: "pickup-where small" }, icon("store"), " ", h("span", { "data-testid": "pickup-store", text: where }),
      away ? h("span", { class: "muted", text: ` · ${away} away` }) : null),
  ];
  if (p.picked_up_at_ms) {
    parts.push(h("p", { class: "pickup-done small", "data-testid": "picked-up", text: `Picked up at ${clockTime(p.picked_up_at_ms)}` }));
  } else if (p.code) {
    parts.push(h("p", { class: "pickup-code" }, "Pickup code ", h("strong", { "data-testid": "pickup-code", text: str(p.code) })),
      h("p", { class: "muted small", text: "Show this code at the store's counter." }));
  } else if (r.state === "reserved") {
    parts.push(h("p", { class: "muted small", text: "Your pickup code comes with the payment." }));
  }
  el.replaceChildren(...parts);
}
