// livehub — /guide: a shopping guide's own page.  Sign in with a guide token (the platform's, or
// `livehub token --role guide --guide <id>`; in demo mode: the demo guide login), then: the share
// link and its QR poster, sales and commission by hour with the rank, the latest credited orders,
// the customers' open reservations and the recent hourly winners.  Refreshed every few seconds.

import { api, describeFailure, h, hourLabel, money } from "/static/livehub.js";

const SESSION_KEY = "livehub.guideSession";
const REFRESH_MS = 5000;

const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));
const list = (v) => (Array.isArray(v) ? v : []);

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function writeSession(value) {
  try {
    if (value === null) sessionStorage.removeItem(SESSION_KEY);
    else sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  } catch {
    /* storage disabled: this tab only */
  }
}

/** /guide: the login, or the signed-in guide's page. */
export async function startGuide(root = document.getElementById("app")) {
  const session = readSession();
  if (session?.token) renderPage(root, session.token);
  else renderLogin(root);
}

function renderLogin(root, problem = "") {
  const token = h("textarea", { rows: 3, placeholder: "paste your guide token", "data-testid": "guide-token" });
  const demoGuide = h("input", { type: "text", value: "b1-g1", "data-testid": "demo-guide", autocomplete: "off" });
  const message = h("p", { class: "muted", "data-testid": "guide-login-message", text: problem });
  const signIn = (value) => {
    writeSession({ token: value });
    renderPage(root, value);
  };
  root.replaceChildren(
    h("main", { class: "guide-login panel" },
      h("h1", { text: "Shopping guide sign-in" }),
      h("label", {}, "Guide token", token),
      h("button", { type: "button", "data-testid": "guide-sign-in",
                    onclick: () => token.value.trim() && signIn(token.value.trim()) }, "Sign in"),
      h("div", { class: "guide-demo", "data-testid": "guide-demo-login" },
        h("label", {}, "Demo guide id", demoGuide),
        h("button", { type: "button", "data-testid": "guide-demo-sign-in", onclick: async () => {
          const res = await api("POST", "/api/auth/guide", { body: { guide: demoGuide.value.trim() } });
          if (res.ok && res.data.token) signIn(res.data.token);
          else message.textContent = res.status === 404 ? "No demo login here: use your guide token." : describeFailure(res);
        } }, "Sign in as demo guide")),
      message));
}

function renderPage(root, token) {
  const poster = h("img", { class: "guide-poster", alt: "QR poster of your share link", "data-testid": "guide-poster" });
  const link = h("a", { "data-testid": "share-link", target: "_blank", rel: "noopener" });
  const title = h("h1", { "data-testid": "guide-name", text: "…" });
  const totals = h("p", { class: "guide-totals", "data-testid": "guide-totals" });
  const hours = h("tbody", { "data-testid": "guide-hours" });
  const orders = h("ul", { class: "guide-orders", "data-testid": "credited-orders" });
  const reservations = h("ul", { class: "guide-reservations", "data-testid": "open-reservations" });
  const winners = h("ul", { class: "guide-winners", "data-testid": "hour-winners" });
  const status = h("p", { class: "muted", "data-testid": "guide-status" });
  const signOut = h("button", { type: "button", class: "ghost", onclick: () => {
    writeSession(null);
    renderLogin(root);
  } }, "Sign out");
  root.replaceChildren(
    h("main", { class: "guide-page" },
      h("header", { class: "guide-head" }, title, signOut),
      h("section", { class: "panel guide-share" }, h("h2", { text: "Your share link" }), link, poster),
      h("section", { class: "panel" }, h("h2", { text: "Sales and commission by hour" }), totals,
        h("table", { class: "guide-hours" },
          h("thead", {}, h("tr", {}, h("th", { text: "Hour" }), h("th", { text: "Sales" }),
            h("th", { text: "Commission" }), h("th", { text: "Rank" }))), hours)),
      h("section", { class: "panel" }, h("h2", { text: "Credited orders" }), orders),
      h("section", { class: "panel" }, h("h2", { text: "Customers' open reservations" }), reservations),
      h("section", { class: "panel" }, h("h2", { text: "Hourly winners" }), winners),
      status));

  const get = (path) => api("GET", path, { token });
  let posterLoaded = false;

  async function loadPoster() {
    try {
      const res = await fetch("/api/guides/me/poster.svg", { headers: { Authorization: `Bearer ${token}` } });
      if (!res.ok) return;
      poster.src = URL.createObjectURL(await res.blob());
      posterLoaded = true;
    } catch {
      /* retried on the next refresh */
    }
  }

  async function refresh() {
    const [me, mine, open, won] = await Promise.all([get("/api/guides/me"), get("/api/guides/me/hours"),
      get("/api/guides/me/reservations"), get("/api/guides/winners")]);
    if (me.status === 401 || me.status === 403) {
      writeSession(null);
      renderLogin(root, "That token is not a guide's (or it expired): sign in again.");
      return false;
    }
    if (!me.ok || !mine.ok) {
      status.textContent = describeFailure(me.ok ? mine : me);
      return true;
    }
    title.textContent = `${str(me.data.name)} · ${str(me.data.store)}`;
    const url = str(mine.data.link);
    link.href = url;
    link.textContent = url;
    if (!posterLoaded) await loadPoster();
    totals.textContent = `This hour: rank ${me.data.rank ?? "–"} · ${money(me.data.sales_cents)} sold · `
      + `${money(me.data.commission_cents)} commission.  Last ${list(mine.data.hours).length} hours: `
      + `${money(mine.data.sales_cents)} sold, ${money(mine.data.commission_cents)} commission.`;
    hours.replaceChildren(...list(mine.data.hours).filter((r) => r.sales_cents > 0 || r === mine.data.hours[0])
      .map((r) => h("tr", { dataset: { hour: str(r.hour) } }, h("td", { text: hourLabel(r.hour) }),
        h("td", { text: money(r.sales_cents) }), h("td", { text: money(r.commission_cents) }),
        h("td", { text: r.rank ?? "–" }))));
    const credited = list(mine.data.hours).flatMap((r) => list(r.orders).map((o) => ({ ...o, hour: r.hour })));
    orders.replaceChildren(...(credited.length ? credited.map((o) => h("li", { dataset: { order: str(o.order) } },
      h("span", { class: "ref", text: str(o.order) }), ` ${money(o.amount_cents)} · commission ${money(o.commission_cents)}`,
      h("span", { class: "muted", text: ` (${hourLabel(o.hour)})` }))) : [h("li", { class: "muted", text: "No credited orders yet." })]));
    const rows = open.ok ? list(open.data.reservations) : [];
    reservations.replaceChildren(...(rows.length ? rows.map((r) => h("li", { dataset: { reservation: str(r.reservation) } },
      `${str(r.user)} · ${r.qty} × ${str(r.sale)} · ${money(r.amount_cents)} · pay by `
      + new Date(r.pay_by).toLocaleTimeString())) : [h("li", { class: "muted", text: "No open reservations." })]),
    ...(open.ok && open.data.truncated ? [h("li", { class: "muted", text: "… and possibly more." })] : []));
    const wins = won.ok ? list(won.data.winners).slice().reverse() : [];
    winners.replaceChildren(...(wins.length ? wins.map((w) => h("li", { dataset: { hour: str(w.hour), guide: str(w.guide_id) } },
      `${hourLabel(w.hour)}: ${str(w.name)} (${money(w.sales_cents)})`)) : [h("li", { class: "muted", text: "No winners yet." })]));
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    return true;
  }

  (async () => {
    while (root.contains(title)) {
      const go = await refresh().catch((err) => {
        status.textContent = String(err?.message || err);
        return true;
      });
      if (!go) return;
      await new Promise((r) => setTimeout(r, REFRESH_MS));
    }
  })();
}
