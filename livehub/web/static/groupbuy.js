// Group buys (拼团) on the watch page and the host panel (docs/protocol.md, "Group buys").
//
// A deal's open groups are latest-value state `groupdeal:<deal>` of its venue (shown by the
// server as state.groupdeals[deal]); every change is a `groups.*` event carrying the same value.
// Viewers see each open group fill up ("2 of 3 joined, 04:12 left", ticking on the server's
// clock), start a group or join one; `/watch?venue=<v>&group=<id>` opens the join dialog of a
// shared group.  Joining is paying: in demo mode the server pays with its simulated provider.
//
// livehub.js calls attachGroupBuy(view, client) for every live view and attachGroupBuyPanel(box,
// ctx) for the host's controls; nothing here runs at import time (livehub.js imports this module).

import { api, describeFailure, h, money } from "./livehub.js";

const GROUP_KINDS = ["groups.opened", "groups.updated", "groups.completed", "groups.expired"];
const SETTLED_SHOWN = 4; // completed / expired groups kept on screen per deal
const OUTCOME = {
  joined: "You are in: paid, waiting for the group to fill up.",
  completed: "Group complete: every member's order is confirmed.",
  duplicate: "You are in this group already.",
  already_member: "You are in this group already.",
  full: "That group is full: start a new one.",
  expired: "That group's time is up.",
  no_stock: "No groups left to start in this deal.",
  ended: "This group deal has ended.",
};

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

/** "2 of 3 joined, 04:12 left" (the server's group_rules.fill_text). */
export function fillText(joined, size, leftMs) {
  const s = Math.max(0, Math.ceil(leftMs / 1000));
  const two = (n) => String(n).padStart(2, "0");
  return `${joined} of ${size} joined, ${two(Math.floor(s / 60))}:${two(s % 60)} left`;
}

let installed = false;

/** The reducers of the groups.* events (each sets state.groupdeals[deal] as the server's state did). */
function install(reducers) {
  if (installed) return;
  installed = true;
  const setDeal = (st, d) => {
    const deal = isObj(d.deal) ? str(d.deal.deal) : "";
    if (!deal) return;
    st.groupdeals = isObj(st.groupdeals) ? st.groupdeals : {};
    st.groupdeals[deal] = { deal: d.deal, open: d.open, groups: Array.isArray(d.groups) ? d.groups : [] };
  };
  for (const kind of GROUP_KINDS) reducers[kind] = setDeal;
}

/** The group-buy panel of a live view (viewers: start and join; hosts: watch them fill up). */
export function attachGroupBuy(view, client, reducers) {
  install(reducers);
  const viewer = view.mode === "viewer";
  const list = h("div", { class: "groupdeals", "data-testid": "groupdeals" });
  const notice = h("p", { class: "result", role: "status", "aria-live": "polite", "data-testid": "group-notice" });
  const dialog = h("div", { class: "group-dialog", role: "dialog", hidden: true, "data-testid": "group-dialog" });
  const panel = h("div", { class: "panel groupbuy-panel is-empty", "data-testid": "groupbuy" },
    h("h2", {}, "Group buys"), dialog, list, notice, h("p", { class: "empty", text: "No group deal right now." }));
  const shop = view.root.querySelector(".shop");
  if (shop) shop.prepend(panel);
  else view.root.append(panel);

  const settled = new Map(); // deal -> [group view] completed or expired, newest first
  const mine = new Set(); // group ids this viewer joined (this page)
  const busy = new Set();
  const deals = () => {
    const st = client.state[client.venue] || {};
    return isObj(st.groupdeals) ? Object.values(st.groupdeals) : [];
  };
  const say = (ok, text) => {
    notice.className = `result ${ok ? "ok" : "bad"}`;
    notice.textContent = text;
  };
  const answer = (res) => {
    if (!res.ok) return say(false, `✗ ${describeFailure(res)}`);
    const d = res.data;
    if (["joined", "completed", "duplicate", "already_member"].includes(d.status) && d.group) mine.add(str(d.group));
    say(["joined", "completed", "duplicate", "already_member"].includes(d.status), OUTCOME[d.status] || str(d.status));
    if (d.status === "completed") dialog.hidden = true;
    render();
  };
  const call = async (key, path) => {
    if (busy.has(key)) return;
    busy.add(key);
    render();
    try {
      answer(await api("POST", path, { body: { id: crypto.randomUUID() }, token: client.token }));
    } finally {
      busy.delete(key);
      render();
    }
  };
  const start = (deal) => call(`start:${deal}`, `/api/groupdeals/${encodeURIComponent(deal)}/groups`);
  const join = (group) => call(`join:${group}`, `/api/groups/${encodeURIComponent(group)}/join`);

  const groupRow = (g, now) => {
    const id = str(g.group);
    const state = str(g.state);
    const text = state === "open" ? fillText(g.joined, g.size, g.deadline_ms - now)
      : state === "completed" ? `${g.size} of ${g.size} joined · complete ✓` : `${g.joined} of ${g.size} joined · expired, refunded`;
    const row = h("div", { class: `group-row state-${state}`, "data-testid": "group", "data-group": id, "data-state": state },
      h("span", { class: "group-fill", "data-testid": "group-fill", text }));
    if (state === "open" && viewer) {
      if (mine.has(id)) row.append(h("span", { class: "muted small", text: "you're in" }));
      else row.append(h("button", { type: "button", class: "btn small", "data-testid": "group-join", disabled: busy.has(`join:${id}`), onclick: () => join(id) }, "Join"));
      row.append(h("a", { class: "small", href: str(g.share), "data-testid": "group-share", text: "share" }));
    }
    return row;
  };
  const render = () => {
    const now = client.serverNow();
    const shown = deals();
    panel.classList.toggle("is-empty", shown.length === 0);
    list.replaceChildren(...shown.map((entry) => {
      const d = entry.deal;
      const id = str(d.deal);
      const open = now < d.ends_at_ms;
      const done = new Set((settled.get(id) || []).map((g) => str(g.group)));
      const groups = entry.groups.filter((g) => g.deadline_ms > now && !done.has(str(g.group))); // a late update from another node
      return h("div", { class: "groupdeal", "data-testid": "groupdeal", "data-deal": id },
        h("div", { class: "groupdeal-head" },
          h("strong", { text: str(d.title) }),
          h("span", { class: "muted small", text: ` groups of ${d.group_size} · ${money(d.group_price_cents)} each` }),
          viewer && open ? h("button", { type: "button", class: "btn small", "data-testid": "group-start", disabled: busy.has(`start:${id}`) || d.left === 0, onclick: () => start(id) }, d.left === 0 ? "No groups left" : "Start a group") : null),
        groups.map((g) => groupRow(g, now)),
        (settled.get(id) || []).map((g) => groupRow(g, now)));
    }));
  };

  client.on("snapshot", render);
  client.on("event", (f) => {
    if (!GROUP_KINDS.includes(f.kind) || !isObj(f.data)) return;
    const deal = isObj(f.data.deal) ? str(f.data.deal.deal) : "";
    if (Array.isArray(f.data.settled) && deal) {
      const done = [...f.data.settled, ...(settled.get(deal) || [])].slice(0, SETTLED_SHOWN);
      settled.set(deal, done);
      for (const g of f.data.settled) {
        if (mine.has(str(g.group))) say(g.state === "completed", g.state === "completed" ? OUTCOME.completed : "Your group expired: your payment is refunded.");
      }
    }
    render();
  });
  setInterval(render, 1000);

  // a shared group: /watch?venue=<v>&group=<id> opens its join dialog
  const shared = new URLSearchParams(location.search).get("group");
  if (shared && viewer) openDialog(shared);

  async function openDialog(group) {
    const res = await api("GET", `/api/groups/${encodeURIComponent(group)}`);
    if (!res.ok) return say(false, `✗ ${describeFailure(res)}`);
    const g = res.data;
    const d = isObj(g.deal) ? g.deal : {};
    const left = g.deadline_ms - g.now_ms;
    dialog.replaceChildren(
      h("p", {}, h("strong", { text: `Join a group buy of ${str(d.title)}` }), ` at ${money(d.group_price_cents)}`),
      h("p", { "data-testid": "group-dialog-fill", text: g.state === "open" ? fillText(g.joined, g.size, left) : OUTCOME[g.state === "completed" ? "full" : "expired"] }),
      g.state === "open" ? h("button", { type: "button", class: "btn", "data-testid": "group-dialog-join", onclick: () => join(str(g.group)) }, `Join and pay ${money(d.group_price_cents)}`) : null,
      h("button", { type: "button", class: "btn ghost small", onclick: () => (dialog.hidden = true) }, "Close"),
    );
    dialog.hidden = false;
  }
  render();
}

/** The host's form: open a group deal on a product of the venue. */
export function attachGroupBuyPanel(box, { client, hostApi }) {
  const input = (name, value, min, max) => h("input", { type: "number", name, value, min, max, step: 1, required: true, "data-testid": `groupdeal-${name}` });
  const ins = {
    sku: h("input", { type: "text", name: "sku", required: true, placeholder: "b1-sku1", list: "lh-skus", "data-testid": "groupdeal-sku" }),
    price: h("input", { type: "number", name: "price", min: 0.01, step: 0.01, required: true, placeholder: "49.00", "data-testid": "groupdeal-price" }),
    size: input("group_size", 3, 2, 50),
    groups: input("groups", 10, 1, 100000),
    duration: input("duration_s", 3600, 1, 30 * 86400),
    ttl: input("group_ttl_s", 600, 1, 86400),
  };
  const out = h("p", { class: "result", role: "status", "aria-live": "polite", "data-testid": "groupdeal-result" });
  const field = (label, el) => h("label", {}, label, el);
  const submit = async (e) => {
    e.preventDefault();
    out.className = "result pending";
    out.textContent = "…";
    const res = await hostApi("POST", `/api/venues/${encodeURIComponent(client.venue)}/groupdeals`, {
      sku: ins.sku.value.trim(), group_price_cents: Math.round(Number(ins.price.value) * 100),
      group_size: Number(ins.size.value), groups: Number(ins.groups.value),
      duration_s: Number(ins.duration.value), group_ttl_s: Number(ins.ttl.value),
    });
    out.className = `result ${res.ok ? "ok" : "bad"}`;
    const d = res.ok && isObj(res.data.deal) ? res.data.deal : {};
    out.textContent = res.ok ? `✓ Group deal ${str(d.deal)}: ${d.groups} groups of ${d.group_size} at ${money(d.group_price_cents)}` : `✗ ${describeFailure(res)}`;
  };
  box.append(h("section", { class: "panel control", "data-testid": "groupdeal-control" }, h("h2", {}, "Group buy"),
    h("form", { class: "grid-form", onsubmit: submit },
      field("Product (SKU)", ins.sku), field("Group price ¥", ins.price), field("Group size", ins.size),
      field("Groups", ins.groups), field("Starts for (s)", ins.duration), field("Fill within (s)", ins.ttl),
      h("button", { class: "btn wide", type: "submit", "data-testid": "groupdeal-create" }, "Open group deal")),
    out));
}
