// store.js — the storefront page (/store) for a store's staff.
//
// Sign in with a staff token (?token=… from the shop's login, `livehub token --role staff --store …`,
// or in demo mode the clerk login POST /api/auth/staff), then: the pickups waiting to be handed over
// with the verify box (the buyer shows their pickup code: POST /api/stores/{store}/pickups/{code}),
// what was handed over, the stock per sku with an adjust control (POST /api/stores/{store}/stock,
// once per request id) and the store's latest orders.  Everything is re-read every few seconds.

import { api, clockTime, describeFailure, h, icon, money, shortRef, uuid } from "/static/livehub.js";

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (v === null || v === undefined ? "" : String(v));
const REFRESH_MS = 5000;
const SESSION = "livehub.staff";

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

function writeSession(value) {
  try {
    if (value === null) sessionStorage.removeItem(SESSION);
    else sessionStorage.setItem(SESSION, JSON.stringify(value));
  } catch {
    /* storage disabled: this tab signs in again after a reload */
  }
}

/** The claims of a token (display and the store id only: the server checks the token). */
function claims(token) {
  try {
    const part = token.split(".")[1];
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

export async function startStore(root = document.getElementById("app")) {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    const c = claims(given);
    writeSession({ token: given, user: str(c.sub), store: params.get("store") || str(c.store) });
  }
  const session = readSession();
  if (session?.token && session.store) return renderFront(root, session);
  renderLogin(root, params.get("store") || "");
}

function renderLogin(root, store, notice = "") {
  const storeIn = h("input", { name: "store", required: true, value: store, placeholder: "b1-s1", "data-testid": "staff-store" });
  const tokenIn = h("input", { name: "token", placeholder: "staff token (empty: the demo's clerk login)", "data-testid": "staff-token" });
  const err = h("p", { class: "form-error", role: "alert", "data-testid": "staff-login-error", text: notice });
  const submit = h("button", { type: "submit", class: "btn", "data-testid": "staff-login" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login panel",
      onsubmit: async (e) => {
        e.preventDefault();
        err.textContent = "";
        const storeId = storeIn.value.trim();
        let session;
        if (tokenIn.value.trim()) {
          session = { token: tokenIn.value.trim(), user: str(claims(tokenIn.value.trim()).sub), store: storeId };
        } else {
          submit.disabled = true;
          const res = await api("POST", "/api/auth/staff", { body: { store: storeId } });
          submit.disabled = false;
          if (!res.ok || !res.data.token) {
            err.textContent = res.status === 404 && res.data?.message?.includes("store") ? describeFailure(res)
              : res.status === 404 ? "No demo login here: paste the staff token your shop's login gave you." : describeFailure(res);
            return;
          }
          session = { token: res.data.token, user: str(res.data.user), store: str(res.data.store) };
        }
        writeSession(session);
        renderFront(root, session);
      },
    },
    h("h1", {}, "Storefront"),
    h("p", { class: "muted", text: "Hand over pickups and keep the stock right." }),
    h("label", {}, "Store id", storeIn),
    h("label", {}, "Staff token", tokenIn),
    submit,
    err,
  );
  root.replaceChildren(h("div", { class: "login-wrap" }, h("a", { class: "logo big", href: "/" }, "live", h("b", {}, "hub")), form));
  storeIn.focus();
}

function renderFront(root, session) {
  const base = `/api/stores/${encodeURIComponent(session.store)}`;
  const call = (method, path, body) => api(method, base + path, { token: session.token, body });
  const title = h("h1", { "data-testid": "store-name", text: session.store });
  const address = h("p", { class: "muted", "data-testid": "store-address" });
  const problem = h("p", { class: "form-error", role: "alert", "data-testid": "store-error" });
  const codeIn = h("input", { name: "code", autocomplete: "off", placeholder: "K7QM3XPA", maxlength: 12, "data-testid": "verify-code" });
  const verifyBtn = h("button", { type: "submit", class: "btn", "data-testid": "verify" }, "Hand over");
  const verifyOut = h("p", { class: "buy-result", role: "status", "data-testid": "verify-result" });
  const waitingEl = h("ol", { class: "orders", "data-testid": "pickups-waiting" });
  const doneEl = h("ol", { class: "orders", "data-testid": "pickups-done" });
  const stockEl = h("div", { class: "store-stock", "data-testid": "stock" });
  const ordersEl = h("ol", { class: "orders", "data-testid": "store-orders" });

  const verifyForm = h(
    "form",
    {
      class: "row",
      onsubmit: async (e) => {
        e.preventDefault();
        const code = codeIn.value.trim();
        if (!code) return;
        verifyBtn.disabled = true;
        const res = await call("POST", `/pickups/${encodeURIComponent(code)}`);
        verifyBtn.disabled = false;
        const d = isObj(res.data) ? res.data : {};
        if (res.ok) {
          verifyOut.className = "buy-result ok";
          verifyOut.textContent = `✓ Hand over ${str(d.title)}${d.qty > 1 ? ` ×${d.qty}` : ""} · order ${shortRef(d.order)}`;
          codeIn.value = "";
        } else {
          verifyOut.className = "buy-result bad";
          const det = isObj(d.details) ? d.details : {};
          verifyOut.textContent =
            d.code === "already_picked_up" ? `Already picked up at ${clockTime(det.picked_up_at_ms)} (by ${str(det.picked_up_by)}): do not hand it over again`
              : d.code === "not_found" ? "No such pickup code at this store" : d.code === "rate_limited" ? "Too many wrong codes: wait a minute" : describeFailure(res);
        }
        refresh();
      },
    },
    codeIn,
    verifyBtn,
  );

  const signOut = h("button", { type: "button", class: "btn ghost small", onclick: () => { writeSession(null); clearInterval(timer); renderLogin(root, session.store); } }, "Sign out");
  root.replaceChildren(
    h("div", { class: "storefront" },
      h("header", { class: "panel" }, h("a", { class: "logo", href: "/" }, "live", h("b", {}, "hub")), title, address,
        h("p", { class: "muted small", text: `Signed in as ${session.user || "staff"}` }), signOut, problem),
      h("section", { class: "panel" }, h("h2", {}, icon("store"), " Hand over a pickup"),
        h("p", { class: "muted small", text: "Type the code the buyer shows." }), verifyForm, verifyOut),
      h("section", { class: "panel" }, h("h2", {}, "Waiting for pickup"), waitingEl),
      h("section", { class: "panel" }, h("h2", {}, "Handed over"), doneEl),
      h("section", { class: "panel" }, h("h2", {}, "Stock"), stockEl),
      h("section", { class: "panel" }, h("h2", {}, icon("receipt"), " Latest orders"), ordersEl),
    ),
  );

  const pickupRow = (r, done) =>
    h("li", { class: "order", dataset: { order: str(r.order) } },
      h("strong", { text: `${str(r.title)}${r.qty > 1 ? ` ×${r.qty}` : ""}` }), " ",
      h("span", { class: "muted small", text: `order ${shortRef(r.order)} · buyer ${str(r.user)} · ${clockTime(r.created_at_ms)}` }),
      done ? h("span", { class: "small", text: ` · picked up ${clockTime(r.picked_up_at_ms)} by ${str(r.picked_up_by)}` }) : null);

  const adjustRow = (row) => {
    const deltaIn = h("input", { type: "number", step: 1, value: 1, class: "delta", "data-testid": "stock-delta" });
    const out = h("span", { class: "small", role: "status" });
    const go = h("button", {
      type: "button", class: "btn small", "data-testid": "stock-adjust",
      onclick: async () => {
        const delta = Number(deltaIn.value);
        if (!Number.isInteger(delta) || delta === 0) {
          out.textContent = "a whole number, not 0";
          return;
        }
        go.disabled = true;
        const res = await call("POST", "/stock", { id: uuid(), sku: row.sku, delta });
        go.disabled = false;
        out.textContent = res.ok ? `now ${res.data.units}` : describeFailure(res);
        refresh();
      },
    }, "Adjust");
    return h("tr", { dataset: { sku: str(row.sku) } },
      h("td", { text: str(row.title) }), h("td", { class: "muted small", text: str(row.sku) }),
      h("td", { "data-testid": "stock-units", text: String(row.units) }), h("td", { class: "muted", text: String(row.held) }),
      h("td", {}, deltaIn, " ", go, " ", out));
  };

  let stockKey = "";
  async function refresh() {
    const [pickups, stock, orders] = await Promise.all([call("GET", "/pickups?limit=200"), call("GET", "/stock"), call("GET", "/orders?limit=20")]);
    const failed = [pickups, stock, orders].find((r) => !r.ok);
    problem.textContent = failed ? describeFailure(failed) : "";
    if (failed && (failed.status === 401 || failed.status === 403)) {
      clearInterval(timer);
      writeSession(null);
      renderLogin(root, session.store, `${describeFailure(failed)}: sign in as staff of this store`);
      return;
    }
    if (pickups.ok) {
      const s = isObj(pickups.data.store) ? pickups.data.store : {};
      title.textContent = str(s.name) || session.store;
      address.textContent = str(s.address);
      const waiting = Array.isArray(pickups.data.waiting) ? pickups.data.waiting.filter(isObj) : [];
      const done = Array.isArray(pickups.data.picked_up) ? pickups.data.picked_up.filter(isObj) : [];
      waitingEl.replaceChildren(...(waiting.length ? waiting.map((r) => pickupRow(r, false)) : [h("li", { class: "muted", text: "Nobody waiting." })]));
      doneEl.replaceChildren(...(done.length ? done.map((r) => pickupRow(r, true)) : [h("li", { class: "muted", text: "Nothing handed over yet." })]));
    }
    if (stock.ok) {
      const rows = Array.isArray(stock.data.stock) ? stock.data.stock.filter(isObj) : [];
      const key = JSON.stringify(rows);
      if (key !== stockKey) { // re-drawn only when the stock changed: a delta being typed stays
        stockKey = key;
        stockEl.replaceChildren(h("table", {},
          h("thead", {}, h("tr", {}, ["Product", "SKU", "On hand", "Held", "Adjust"].map((t) => h("th", { text: t })))),
          h("tbody", {}, rows.map(adjustRow))));
      }
    }
    if (orders.ok) {
      const list = Array.isArray(orders.data.orders) ? orders.data.orders.filter(isObj) : [];
      ordersEl.replaceChildren(...(list.length
        ? list.map((o) => h("li", { class: "order" }, h("strong", { text: `${str(o.sku)} ×${str(o.qty)}` }), " ",
          h("span", { class: "muted small", text: `${money(Number(o.amount_cents) || 0)} · ${str(o.mode)} · order ${shortRef(o.order_id)}` })))
        : [h("li", { class: "muted", text: "No orders yet." })]));
    }
  }
  const timer = setInterval(refresh, REFRESH_MS);
  refresh();
  codeIn.focus();
}
