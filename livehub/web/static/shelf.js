// livehub shelf.js: the venue's product shelf (the "shopping bag"), the pinned card's own Buy
// button, pre-sales (定金: deposit now, balance in a later window) for viewers, and the host
// panel's controls for both.  It plugs into livehub.js (VIEW_PLUGINS, PANEL_PLUGINS, REDUCERS);
// the pages import it once.  Protocol: docs/protocol.md, "The shelf" and "Pre-sales".

import { PANEL_PLUGINS, REDUCERS, VIEW_PLUGINS, api, clockTime, duration, h, money, safeImage, uuid } from "/static/livehub.js";

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const MAX_DEPOSITS = 20; // deposits this tab remembers

// latest-value state: `shelf` (the whole list each time) and `presale:<id>` (as state.presales[id])
REDUCERS["shelf.updated"] = (st, d) => {
  if (isObj(d.shelf)) st.shelf = d.shelf;
  else delete st.shelf;
};
REDUCERS["presale.scheduled"] = (st, d) => {
  if (isObj(d.presale) && d.presale.presale_id) (st.presales ??= {})[str(d.presale.presale_id)] = d.presale;
};

/** The shelf's items as shown: the pinned card's product first, then the host's order. */
export function pinnedOnTop(items, pinnedSku) {
  if (!pinnedSku) return items;
  const pinned = items.find((i) => i.sku === pinnedSku);
  return [pinned || { sku: pinnedSku, pinned_only: true }, ...items.filter((i) => i.sku !== pinnedSku)];
}

/** Where a pre-sale stands at server time `now`: phase and the time to the next change. */
export function presalePhase(p, now) {
  if (now < p.deposit_starts_at_ms) return { phase: "scheduled", next: p.deposit_starts_at_ms };
  if (now < p.deposit_ends_at_ms) return { phase: "deposit", next: p.deposit_ends_at_ms };
  if (now < p.balance_starts_at_ms) return { phase: "waiting", next: p.balance_starts_at_ms };
  if (now < p.balance_ends_at_ms) return { phase: "balance", next: p.balance_ends_at_ms };
  return { phase: "ended", next: null };
}

const PHASE_TEXT = {
  scheduled: "Deposits open in",
  deposit: "Deposits close in",
  waiting: "Balance window opens in",
  balance: "Pay the balance within",
  ended: "Pre-sale over",
};

const PAY_TEXT = {
  paid: "✓ Paid",
  duplicate: "✓ Paid",
  not_started: "The balance window has not opened yet",
  deposit_due: "Pay the deposit first",
  lapsed: "Too late: the deposit was not paid in time (any payment is refunded)",
  forfeited: "The balance window closed: the deposit is kept",
  refunded: "The balance window closed: the deposit is refunded",
};

const STATE_TEXT = {
  deposit_due: "Deposit due",
  balance_due: "Deposit paid · balance due in its window",
  completed: "✓ Completed",
  lapsed: "Deposit not paid in time",
  forfeited: "Balance not paid: deposit kept",
  refunded: "Balance not paid: deposit refunded",
};

const DEPOSIT_TEXT = {
  ok: "✓ Deposit placed — pay it below",
  duplicate: "✓ Deposit placed — pay it below",
  not_started: "Deposits are not open yet",
  ended: "Deposits are closed",
  sold_out: "All units are taken",
  limit_reached: "You hold as many as allowed",
  bad_quantity: "Not that many",
};

// ---- viewers ------------------------------------------------------------------------------------
VIEW_PLUGINS.push((view) => new ShelfView(view));

class ShelfView {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.buying = {}; // buy sale id -> {busy, text, ok}
    this.presaleState = {}; // pre-sale id -> {busy, text, ok}
    this.deposits = new Map(); // deposit id -> {deposit, presale, state, deposit_cents, balance_cents, pay_by, order, busy, note}
    this.load();
    this.bagEl = h("ol", { class: "shelf", "data-testid": "shelf" });
    this.presalesEl = h("div", { class: "presales", "data-testid": "presales" });
    const cardPanel = view.cardsEl?.closest(".panel");
    this.bagPanel = h("div", { class: "panel shelf-panel is-empty" }, h("h2", {}, "Shopping bag"), this.bagEl, h("p", { class: "empty", text: "No products on the shelf." }));
    this.presalePanel = h("div", { class: "panel presales-panel is-empty" }, h("h2", {}, "Pre-sales"), this.presalesEl, h("p", { class: "empty", text: "No pre-sale right now." }));
    if (cardPanel) cardPanel.after(this.bagPanel, this.presalePanel);
    view.cardExtra = (ch, card) => this.cardBuy(card);
    const render = () => this.render();
    this.client.on("snapshot", render);
    this.client.on("event", (f) => {
      if (/^(shelf|presale|card)\./.test(str(f.kind))) render();
    });
    this.client.on("volatile", (f) => {
      if (f.type === "stock" && this.presaleIds().has(str(f.sale))) this.renderPresales();
    });
    setInterval(() => this.renderPresales(), 500);
    render();
  }

  key() {
    return `livehub.deposits.${this.view.owner || "anon"}`;
  }

  load() {
    try {
      for (const d of JSON.parse(sessionStorage.getItem(this.key()) || "[]")) if (isObj(d) && d.deposit) this.deposits.set(d.deposit, d);
    } catch {
      /* a corrupt entry: start afresh */
    }
  }

  save() {
    try {
      const list = [...this.deposits.values()].slice(-MAX_DEPOSITS).map(({ busy, ...d }) => d);
      sessionStorage.setItem(this.key(), JSON.stringify(list));
    } catch {
      /* storage full or off: deposits are kept for this page only */
    }
  }

  states() {
    return this.view.channelStates();
  }

  presales() {
    const out = new Map();
    for (const [, st] of this.states()) for (const [id, p] of Object.entries(isObj(st.presales) ? st.presales : {})) if (isObj(p)) out.set(id, p);
    return out;
  }

  presaleIds() {
    return new Set(this.presales().keys());
  }

  render() {
    this.renderBag();
    this.renderPresales();
  }

  // ---- the shopping bag ----
  renderBag() {
    const own = this.client.state[this.client.venue] || {};
    const items = isObj(own.shelf) && Array.isArray(own.shelf.items) ? own.shelf.items.filter(isObj) : [];
    const card = isObj(own.card) ? own.card : null;
    const shown = items.length ? pinnedOnTop(items, card ? str(card.sku) : "") : [];
    this.bagPanel.classList.toggle("is-empty", shown.length === 0);
    this.bagEl.replaceChildren(
      ...shown.map((item) => {
        const p = item.pinned_only ? card : item;
        const pinned = card && str(card.sku) === str(item.sku);
        return h(
          "li",
          { class: `shelf-item${pinned ? " pinned" : ""}`, dataset: { sku: str(item.sku) } },
          h("img", { src: safeImage(p?.image_url), alt: "", loading: "lazy", width: 40, height: 40 }),
          h("span", { class: "shelf-title", text: str(p?.title) || str(item.sku) }),
          h("span", { class: "shelf-price", text: num(p?.price_cents) !== null ? money(p.price_cents) : "" }),
          pinned ? h("span", { class: "tag", text: "Pinned" }) : null,
          item.sale ? h("span", { class: "tag sale", text: "Flash sale" }) : null,
          item.group ? h("span", { class: "tag group", text: "Group deal", title: str(item.group) }) : null,
          item.coupon ? h("span", { class: "tag coupon", text: "Coupon" }) : null,
        );
      }),
    );
  }

  // ---- the pinned card's own Buy button (a card without a flash sale: the regular price) ----
  cardBuy(card) {
    const saleId = str(card.buy_sale);
    if (!saleId || card.sale || this.view.mode !== "viewer") return null;
    const bs = (this.buying[saleId] ??= {});
    const note = h("span", { class: `buy-result small ${bs.ok === false ? "bad" : ""}`, role: "status", text: bs.text || "" });
    const btn = h("button", { type: "button", class: "btn small buy", "data-testid": "card-buy" }, `Buy ${money(num(card.price_cents))}`);
    btn.disabled = !!bs.busy;
    btn.addEventListener("click", async () => {
      if (bs.busy) return;
      bs.busy = true;
      btn.disabled = true;
      const rid = bs.retryId || uuid();
      const msg = { type: "buy", id: rid, sale: saleId, qty: 1 };
      if (Array.isArray(this.view.place?.loc)) msg.loc = this.view.place.loc;
      try {
        const data = (await this.client.request(msg)) || {};
        bs.retryId = null;
        bs.ok = data.status === "ok" || data.status === "duplicate";
        bs.text = bs.ok ? "✓ Reserved for you — pay in “My orders”" : str(data.status);
        if (bs.ok) this.view.addReservation({ title: card.title, image_url: card.image_url, sku: card.sku }, data);
      } catch (err) {
        const code = str(err?.code) || "error";
        bs.retryId = code === "disconnected" || code === "timeout" ? rid : null; // a retry answers "duplicate"
        bs.ok = false;
        bs.text = `Could not buy: ${code}`;
      }
      bs.busy = false;
      btn.disabled = false;
      note.textContent = bs.text;
      note.classList.toggle("bad", bs.ok === false);
    });
    return h("p", { class: "card-buy" }, btn, " ", note);
  }

  // ---- pre-sales ----
  renderPresales() {
    const presales = [...this.presales().values()];
    this.presalePanel.classList.toggle("is-empty", presales.length === 0);
    const now = this.client.serverNow();
    this.presalesEl.replaceChildren(...presales.map((p) => this.presaleNode(p, now)));
  }

  presaleNode(p, now) {
    const id = str(p.presale_id);
    const { phase, next } = presalePhase(p, now);
    // live stock frames, else the snapshot's counters, else the initial stock
    const left = this.client.stock?.[id]?.stock ?? num(this.client.counters?.[str(p.venue)]?.presale_stock?.[id]) ?? num(p.stock);
    const ps = (this.presaleState[id] ??= {});
    const mine = [...this.deposits.values()].filter((d) => d.presale === id);
    const viewer = this.view.mode === "viewer";
    return h(
      "article",
      { class: "presale", dataset: { presale: id, phase } },
      h("h3", { text: str(p.title) || str(p.sku) }),
      h(
        "p",
        { class: "presale-prices" },
        h("strong", { text: `Deposit ${money(num(p.deposit_cents))}` }),
        ` + balance ${money(num(p.balance_cents))} = ${money(num(p.price_cents))}`,
      ),
      h(
        "p",
        { class: "presale-when small", "data-testid": "presale-countdown" },
        next !== null ? `${PHASE_TEXT[phase]} ${duration(Math.max(0, Math.floor((next - now) / 1000)) * 1000)}` : PHASE_TEXT[phase],
        phase === "waiting" || phase === "deposit" ? ` · balance from ${clockTime(p.balance_starts_at_ms - this.client.clockOffset)}` : "",
      ),
      h("p", { class: "muted small", "data-testid": "presale-left", text: `${left ?? "?"} of ${num(p.stock) ?? "?"} left · unpaid balance: ${p.unpaid === "refund" ? "deposit refunded" : "deposit kept"}` }),
      viewer && phase === "deposit"
        ? h("button", { type: "button", class: "btn small", "data-testid": "presale-deposit", disabled: !!ps.busy, onclick: () => this.placeDeposit(p) }, `Put down ${money(num(p.deposit_cents))}`)
        : null,
      ps.text ? h("p", { class: `buy-result small ${ps.ok === false ? "bad" : ""}`, role: "status", text: ps.text }) : null,
      ...mine.map((d) => this.depositNode(d, phase)),
    );
  }

  depositNode(d, phase) {
    const due = d.state === "deposit_due" ? "deposit" : d.state === "balance_due" && phase === "balance" ? "balance" : null;
    const label = due === "deposit" ? `Pay deposit ${money(d.deposit_cents)}` : `Pay balance ${money(d.balance_cents)}`;
    return h(
      "div",
      { class: "deposit", dataset: { deposit: d.deposit, state: d.state } },
      h("span", { class: "small", "data-testid": "deposit-state", text: d.order ? `✓ Completed · order ${str(d.order).slice(-8)}` : STATE_TEXT[d.state] || d.state }),
      due ? h("button", { type: "button", class: "btn small pay", "data-testid": "deposit-pay", disabled: !!d.busy, onclick: () => this.pay(d) }, label) : null,
      d.note ? h("span", { class: "buy-result small", role: "status", text: d.note }) : null,
    );
  }

  async placeDeposit(p) {
    const id = str(p.presale_id);
    const ps = (this.presaleState[id] ??= {});
    if (ps.busy) return;
    ps.busy = true;
    this.renderPresales();
    ps.retryId = ps.retryId || uuid();
    const body = { id: ps.retryId };
    if (Array.isArray(this.view.place?.loc)) body.loc = this.view.place.loc; // routes the order at the balance
    const res = await api("POST", `/api/presales/${encodeURIComponent(id)}/deposit`, { body, token: this.client.token });
    ps.busy = false;
    const status = str(res.data?.status);
    ps.ok = res.ok && (status === "ok" || status === "duplicate");
    ps.text = res.ok ? DEPOSIT_TEXT[status] || status : `Could not place the deposit (${res.status})`;
    if (res.ok || res.status < 500) ps.retryId = null;
    if (ps.ok) this.remember(res.data);
    this.renderPresales();
  }

  remember(data) {
    const prev = this.deposits.get(str(data.deposit)) || {};
    this.deposits.set(str(data.deposit), {
      ...prev,
      deposit: str(data.deposit),
      presale: str(data.presale) || prev.presale,
      state: str(data.state) || prev.state,
      deposit_cents: num(data.deposit_cents) ?? prev.deposit_cents,
      balance_cents: num(data.balance_cents) ?? prev.balance_cents,
      order: data.order || prev.order || null,
    });
    this.save();
  }

  async pay(d) {
    if (d.busy) return;
    d.busy = true;
    d.note = "";
    this.renderPresales();
    const res = await api("POST", `/api/deposits/${encodeURIComponent(d.deposit)}/pay`, { token: this.client.token });
    d.busy = false;
    const status = str(res.data?.status);
    if (res.ok) {
      if (status === "paid" || status === "duplicate") {
        d.state = res.data.stage === "deposit" ? "balance_due" : "completed";
        d.order = res.data.order || d.order || null;
      } else if (["lapsed", "forfeited", "refunded"].includes(status)) d.state = status;
      d.note = PAY_TEXT[status] || status;
    } else {
      d.note = res.status === 404 ? "Pay through the platform's checkout (the simulated payment is demo-only)" : `Payment failed (${res.status})`;
    }
    this.save();
    this.renderPresales();
  }
}

// ---- hosts: the shelf and pre-sales in the panel ----------------------------------------------------
PANEL_PLUGINS.push((box, ctx) => buildShelfControls(box, ctx));

/** "sku sale=s1 group=g1 coupon=c1" per line -> [{sku, sale?, group?, coupon?}] */
export function parseShelfLines(text) {
  const items = [];
  for (const line of str(text).split("\n")) {
    const [sku, ...rest] = line.trim().split(/\s+/);
    if (!sku) continue;
    const item = { sku };
    for (const part of rest) {
      const [k, v] = part.split("=");
      if (["sale", "group", "coupon"].includes(k) && v) item[k] = v;
    }
    items.push(item);
  }
  return items;
}

function buildShelfControls(box, { session, hostApi }) {
  const venue = session.venue;
  const out = h("p", { class: "result small", "data-testid": "shelf-result", role: "status" });
  const lines = h("textarea", { rows: 4, "data-testid": "shelf-items", "aria-label": "Shelf items", placeholder: "one product per line, in order:\nb1-sku1 sale=s-1 coupon=c-1 group=g-1" });
  const show = (res, what) => {
    out.textContent = res.ok ? what : `${str(res.data?.code) || res.status}: ${str(res.data?.message)}`;
    out.classList.toggle("bad", !res.ok);
  };
  const shelfForm = h(
    "form",
    {
      class: "control",
      onsubmit: async (e) => {
        e.preventDefault();
        const items = parseShelfLines(lines.value);
        show(await hostApi("POST", `/api/venues/${venue}/shelf`, { items }), `Shelf set: ${items.length} products`);
      },
    },
    h("h3", {}, "Shopping bag (the shelf)"),
    lines,
    h(
      "div",
      { class: "row" },
      h("button", { class: "btn", type: "submit", "data-testid": "shelf-set" }, "Set the shelf"),
      h("button", { class: "btn ghost", type: "button", "data-testid": "shelf-clear", onclick: async () => show(await hostApi("DELETE", `/api/venues/${venue}/shelf`), "Shelf cleared") }, "Clear"),
    ),
    out,
  );

  const field = (name, value, label) => h("label", {}, label, h("input", { name, value: String(value), "data-testid": `presale-${name}`, inputmode: "numeric" }));
  const psOut = h("p", { class: "result small", "data-testid": "presale-result", role: "status" });
  const unpaid = h("select", { name: "unpaid", "data-testid": "presale-unpaid" }, h("option", { value: "forfeit" }, "unpaid balance: deposit kept"), h("option", { value: "refund" }, "unpaid balance: deposit refunded"));
  const sku = h("input", { name: "sku", "data-testid": "presale-sku", "aria-label": "Pre-sale sku", placeholder: "sku" });
  const presaleForm = h(
    "form",
    {
      class: "control",
      onsubmit: async (e) => {
        e.preventDefault();
        const f = new FormData(presaleForm);
        const int = (k) => Number.parseInt(str(f.get(k)), 10);
        const body = {
          sku: sku.value.trim(),
          stock: int("stock"),
          deposit_cents: int("deposit_cents"),
          deposit_duration_s: int("deposit_min") * 60,
          balance_duration_s: int("balance_min") * 60,
          unpaid: unpaid.value,
        };
        const res = await hostApi("POST", `/api/venues/${venue}/presales`, body);
        psOut.textContent = res.ok ? `Pre-sale ${str(res.data?.presale?.presale_id)} scheduled` : `${str(res.data?.code) || res.status}: ${str(res.data?.message)}`;
        psOut.classList.toggle("bad", !res.ok);
      },
    },
    h("h3", {}, "Pre-sale (deposit now, balance later)"),
    sku,
    field("stock", 100, "units"),
    field("deposit_cents", 5000, "deposit (cents)"),
    field("deposit_min", 10, "deposit window (min)"),
    field("balance_min", 10, "balance window (min)"),
    unpaid,
    h("button", { class: "btn", type: "submit", "data-testid": "presale-create" }, "Schedule"),
    psOut,
  );
  box.append(h("section", { class: "panel shelf-controls" }, shelfForm, presaleForm));
}
