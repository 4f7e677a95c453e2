// livehub — the host dashboard at the top of /panel: the live numbers kept on the server.
//
// Fed by the `stats` frame (the host's venue) and, for the main host, `festival_stats` (the
// festival and every venue), pushed once a second (docs/protocol.md, "Live numbers"), and read
// once over HTTP when the panel opens, so a reload shows what was sold, not 0.  Charts use
// uPlot (MIT), vendored in /static/vendor/ and loaded on first use; without it the numbers
// still show, only the charts are missing.

import { clockTime, compact, duration, h, money } from "./livehub.js";

const UPLOT_JS = "/static/vendor/uPlot.iife.min.js";
const UPLOT_CSS = "/static/vendor/uPlot.min.css";
const STOCK_POINTS = 600; // stock samples kept for the live sale's chart (ten minutes at 1/s)
const FLASH_DISCOUNT = 0.8; // one-click flash sale: 20 % off the regular price ...
const FLASH_STOCK = 50; // ... this many units ...
const FLASH_DURATION_S = 300; // ... for five minutes

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

let uplotPromise = null;
/** uPlot's constructor, loaded once (a classic script: it defines window.uPlot); null if it failed. */
function loadUplot() {
  uplotPromise ??= new Promise((resolve) => {
    if (window.uPlot) return resolve(window.uPlot);
    document.head.append(h("link", { rel: "stylesheet", href: UPLOT_CSS }));
    const script = h("script", { src: UPLOT_JS });
    script.addEventListener("load", () => resolve(window.uPlot || null));
    script.addEventListener("error", () => resolve(null));
    document.head.append(script);
  });
  return uplotPromise;
}

/** A small uPlot sparkline of one series; ``update(xs, ys)`` redraws it (seconds on x). */
function chart(box, { label, color, fill, height = 64 }) {
  let plot = null;
  let pending = null;
  const sizeOf = () => ({ width: Math.max(120, box.clientWidth || 240), height });
  loadUplot().then((UPlot) => {
    if (!UPlot) return;
    const opts = {
      ...sizeOf(),
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [{ show: false }, { show: true, size: 34, font: "11px system-ui", grid: { stroke: "#eef0f4" }, ticks: { show: false } }],
      series: [{}, { label, stroke: color, fill, width: 2, points: { show: false } }],
    };
    plot = new UPlot(opts, pending || [[], []], box);
    window.addEventListener("resize", () => plot.setSize(sizeOf()));
  });
  return {
    update(xs, ys) {
      pending = [xs, ys];
      if (plot) plot.setData(pending);
    },
  };
}

/** The dashboard into ``box``; ``ctx`` is the panel's (festival, session, client, isMain, hostApi). */
export function buildDashboard(box, { festival, session, client, isMain, hostApi }) {
  if (!document.querySelector('link[href="/static/dashboard.css"]')) document.head.append(h("link", { rel: "stylesheet", href: "/static/dashboard.css" }));
  const venue = session.venue;
  const stat = (label, testid, extra = null) => {
    const value = h("strong", { class: "dash-value", "data-testid": testid }, "–");
    return { value, el: h("div", { class: extra ? "dash-stat wide" : "dash-stat" }, h("span", { class: "dash-label" }, label), value, extra) };
  };
  const gmv = stat(isMain ? "Festival GMV" : "GMV", "dash-gmv");
  const orders = stat("Paid orders", "dash-orders");
  const opmBox = h("div", { class: "dash-chart", "data-testid": "dash-opm-chart" });
  const opm = stat("Orders / min", "dash-opm", opmBox);
  const opmChart = chart(opmBox, { label: "orders/min", color: "#ff2d55", fill: "rgba(255,45,85,0.15)" });
  const online = stat("Online now", "dash-online");
  const peak = h("span", { class: "muted small", "data-testid": "dash-peak" });
  online.el.append(peak);
  const conv = stat("Conversion", "dash-conversion");
  const convNote = h("span", { class: "muted small", "data-testid": "dash-buyers" });
  conv.el.append(convNote);
  const reserved = stat("Reserved", "dash-reserved");
  const header = h("div", { class: "dash-header" }, gmv.el, orders.el, opm.el, online.el, conv.el, reserved.el);

  // the current sale: countdown and stock bar, stock over time
  const saleTitle = h("strong", { class: "dash-sale-title", "data-testid": "dash-sale-title" }, "No sale running");
  const countdown = h("span", { class: "dash-countdown", "data-testid": "dash-sale-countdown" });
  const bar = h("div", { class: "dash-bar-fill" });
  const stockBar = h("div", { class: "dash-bar", "data-testid": "dash-stock-bar", role: "meter", "aria-label": "Stock left" }, bar);
  const stockText = h("span", { class: "small", "data-testid": "dash-stock-text" });
  const stockBox = h("div", { class: "dash-chart" });
  const stockChart = chart(stockBox, { label: "stock", color: "#ff7a00", fill: "rgba(255,122,0,0.12)", height: 56 });
  const stockSeries = { sale: "", xs: [], ys: [] };
  const current = h("section", { class: "panel dash-sale", "data-testid": "dash-sale" },
    h("h2", {}, "On sale now"), h("div", { class: "row" }, saleTitle, h("span", { class: "spacer" }), countdown),
    stockBar, stockText, stockBox);  // prettier-ignore

  // the run of show: scheduled sales, with "start now"
  const showList = h("ol", { class: "dash-show", "data-testid": "dash-upcoming" });
  const showNote = h("p", { class: "muted small", role: "status" });
  const runOfShow = h("section", { class: "panel dash-run" }, h("h2", {}, "Run of show"), showList, showNote);

  // one click: a flash sale of a product, now
  const flashNote = h("p", { class: "muted small", role: "status", "data-testid": "dash-flash-note" });
  const brand = festival?.byId.get(venue)?.brand || null;
  const products = [...(festival?.products?.values() || [])].filter((p) => isMain || str(p.brand) === brand).slice(0, 12);
  const flashNow = async (p) => {
    const price = Math.max(1, Math.round(num(p.price_cents) * FLASH_DISCOUNT));
    const body = { sku: str(p.sku), stock: FLASH_STOCK, price_cents: price, per_user_limit: 1, starts_in_s: 0, duration_s: FLASH_DURATION_S };
    flashNote.textContent = "Starting…";
    const res = await hostApi("POST", `/api/venues/${encodeURIComponent(venue)}/sales`, body);
    if (!res.ok) {
      flashNote.textContent = `✗ ${res.data?.message || res.status}`;
      return;
    }
    const sale = res.data?.sale || {};
    await hostApi("POST", `/api/venues/${encodeURIComponent(venue)}/cards`, { sku: str(p.sku), sale: str(sale.sale_id) });
    flashNote.textContent = `✓ ${str(p.title)}: ${FLASH_STOCK} at ${money(price)} for ${FLASH_DURATION_S / 60} min`;
    refresh();
  };
  const tiles = h("div", { class: "dash-tiles", "data-testid": "dash-products" },
    ...products.map((p) => h("button", { type: "button", class: "dash-tile", "data-testid": "dash-flash", dataset: { sku: str(p.sku) }, title: `Flash sale now: ${FLASH_STOCK} units at ${money(Math.round(num(p.price_cents) * FLASH_DISCOUNT))}`, onclick: () => flashNow(p) },
      h("span", { class: "dash-tile-title", text: str(p.title) }), h("span", { class: "muted small", text: `${money(p.price_cents)} → ${money(Math.round(num(p.price_cents) * FLASH_DISCOUNT))}` }), h("span", { class: "tag", text: "⚡ flash now" }))));  // prettier-ignore
  const flash = h("section", { class: "panel dash-flash" }, h("h2", {}, "Flash sale now"), tiles, flashNote);

  // the main host: every venue, to pick where to send the audience
  const grid = h("div", { class: "dash-grid", "data-testid": "dash-grid" });
  const gridNote = h("p", { class: "muted small", role: "status", "data-testid": "dash-grid-note" });
  const gridSection = isMain ? h("section", { class: "panel dash-venues" }, h("h2", {}, "Venues"), grid, gridNote) : null;
  const tilesByVenue = new Map();
  const sendViewers = async (target, title) => {
    gridNote.textContent = `Sending viewers to ${title}…`;
    const res = await hostApi("POST", `/api/venues/${encodeURIComponent(venue)}/cta`, { target, text: `Join ${title} now!` });
    gridNote.textContent = res.ok ? `✓ Viewers sent to ${title}` : `✗ ${res.data?.message || res.status}`;
  };

  box.replaceChildren(h("div", { class: "dash", "data-testid": "dash" }, header,
    h("div", { class: "dash-row" }, current, runOfShow), flash, gridSection));  // prettier-ignore

  // ---- drawing ----
  const drawTotals = (f) => {
    const summary = document.querySelector('[data-testid="orders-summary"]'); // the live orders' heading (livehub.js)
    if (summary) summary.textContent = `${compact(num(f.orders))} · ${money(num(f.gmv_cents)) || "¥0"}`;
    gmv.value.textContent = money(num(f.gmv_cents)) || "¥0";
    gmv.value.dataset.cents = String(num(f.gmv_cents));
    orders.value.textContent = compact(num(f.orders));
    orders.value.dataset.count = String(num(f.orders));
    const perMinute = Array.isArray(f.orders_per_minute) ? f.orders_per_minute.map(num) : [];
    opm.value.textContent = String(perMinute.length ? perMinute[perMinute.length - 1] : 0);
    const lastMinute = Math.floor(num(f.ts) / 60000) * 60;
    opmChart.update(perMinute.map((_, i) => lastMinute - (perMinute.length - 1 - i) * 60), perMinute);
    online.value.textContent = compact(num(f.online));
    peak.textContent = ` peak ${compact(num(f.peak))}`;
    conv.value.textContent = `${(num(f.conversion) * 100).toFixed(1)} %`;
    convNote.textContent = ` ${compact(num(f.buyers))} buyers / ${compact(num(f.viewers))} viewers`;
  };

  let live = null;
  const drawVenue = (f) => {
    if (!isMain) drawTotals(f);
    reserved.value.textContent = compact(num(f.reservations));
    live = f.live_sale && typeof f.live_sale === "object" ? f.live_sale : null;
    if (!live) {
      saleTitle.textContent = "No sale running";
      stockText.textContent = "";
      bar.style.width = "0%";
      stockBar.dataset.stock = "";
    } else {
      const left = num(live.stock), initial = Math.max(1, num(live.initial));
      saleTitle.textContent = `${str(live.title)} · ${money(live.price_cents)}`;
      bar.style.width = `${Math.round((100 * left) / initial)}%`;
      bar.classList.toggle("low", left / initial < 0.2);
      stockBar.dataset.stock = String(left);
      stockBar.setAttribute("aria-valuenow", String(left));
      stockBar.setAttribute("aria-valuemax", String(initial));
      stockText.textContent = `${left} of ${initial} left · ${num(live.sold)} sold · ${num(live.reserved)} reserved`;
      if (stockSeries.sale !== live.sale) Object.assign(stockSeries, { sale: str(live.sale), xs: [], ys: [] });
      stockSeries.xs.push(num(f.ts) / 1000);
      stockSeries.ys.push(left);
      if (stockSeries.xs.length > STOCK_POINTS) (stockSeries.xs.shift(), stockSeries.ys.shift());
      stockChart.update(stockSeries.xs, stockSeries.ys);
    }
    drawCountdown();
    const soon = Array.isArray(f.upcoming) ? f.upcoming : [];
    showList.replaceChildren(...soon.map((s) => h("li", { dataset: { sale: str(s.sale) } },
      h("time", { text: clockTime(num(s.starts_at) - client.clockOffset) }), h("span", { class: "dash-show-title", text: `${str(s.title)} · ${num(s.initial)} at ${money(s.price_cents)}` }),
      h("button", { type: "button", class: "btn small ghost", "data-testid": "dash-start-now", onclick: () => startNow(str(s.sale)) }, "Start now"))));  // prettier-ignore
    if (!soon.length) showList.append(h("li", { class: "muted small" }, "Nothing scheduled"));
  };
  const drawCountdown = () => {
    if (!live) {
      countdown.textContent = "";
      return;
    }
    const left = num(live.ends_at) - client.serverNow();
    countdown.textContent = num(live.stock) === 0 ? "Sold out" : left > 0 ? `ends in ${duration(left)}` : "ended";
  };
  const startNow = async (saleId) => {
    const res = await hostApi("POST", `/api/venues/${encodeURIComponent(venue)}/sales/${encodeURIComponent(saleId)}/start`);
    showNote.textContent = res.ok ? "✓ Started" : `✗ ${res.data?.message || res.status}`;
    refresh();
  };
  const drawFestival = (f) => {
    drawTotals(f);
    if (!isMain) return;
    for (const v of Array.isArray(f.venues) ? f.venues : []) {
      const id = str(v.venue);
      let refs = tilesByVenue.get(id);
      if (!refs) {
        refs = { online: h("strong"), gmv: h("span", { class: "small" }), sale: h("span", { class: "muted small dash-venue-sale" }) };
        const title = str(v.title) || id;
        refs.el = h("div", { class: "dash-venue", "data-testid": "dash-venue", dataset: { venue: id } },
          h("span", { class: "dash-venue-title", text: title }), h("span", { class: "small" }, refs.online, " online"), refs.gmv, refs.sale,
          id === venue ? null : h("button", { type: "button", class: "btn small", "data-testid": "dash-send", onclick: () => sendViewers(id, title) }, "Send viewers"));  // prettier-ignore
        tilesByVenue.set(id, refs);
        grid.append(refs.el);
      }
      refs.online.textContent = compact(num(v.online));
      refs.online.dataset.count = String(num(v.online));
      refs.gmv.textContent = `${money(num(v.gmv_cents)) || "¥0"} · ${compact(num(v.orders))} orders`;
      refs.gmv.dataset.cents = String(num(v.gmv_cents));
      const sale = v.live_sale && typeof v.live_sale === "object" ? v.live_sale : null;
      refs.sale.textContent = sale ? `⚡ ${str(sale.title)}: ${num(sale.stock)} left` : "";
      refs.el.classList.toggle("has-sale", Boolean(sale));
    }
  };

  const refresh = async () => {
    const res = await hostApi("GET", `/api/venues/${encodeURIComponent(venue)}/stats`);
    if (res.ok) drawVenue({ ...res.data, ts: client.serverNow() });
    if (isMain) {
      const all = await hostApi("GET", "/api/festival/stats");
      if (all.ok) drawFestival({ ...all.data, ts: client.serverNow() });
    }
  };
  client.on("volatile", (f) => {
    if (f.type === "stats" && str(f.venue) === venue) drawVenue(f);
    else if (f.type === "festival_stats") drawFestival(f);
  });
  setInterval(drawCountdown, 1000);
  refresh();
}
