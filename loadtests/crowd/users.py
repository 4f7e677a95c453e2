"""The festival's crowd: viewers, buyers and hosts (locust user classes).

* :class:`Viewer` joins a venue (``--livehub-main-share`` of them the main venue, the rest
  a brand room; ``--livehub-guide-share`` through a guide's share code), stays, likes and
  comments at a human rate (a like every few seconds, a comment a minute), pings.
* :class:`Buyer` joins the same way, learns the sales from its snapshot and the ``sale.*``
  events, rushes each one the moment it opens (the node's clock), retries ``busy`` with
  backoff (same request id: idempotent), then pays (``--livehub-pay-ratio``) or abandons.
* :class:`Host` logs in and, every ``--livehub-sale-every-s``, schedules a flash sale
  ``--livehub-sale-lead-s`` ahead (every other one announced for later and opened by hand,
  ``POST …/sales/{id}/start``, after the lead) in a venue it drives (the main host alternates between the
  main venue, seen by every room, and the brand rooms) and pins its card; announcements and,
  for the main host, visit calls to action in between.

Weights make the 1+N mix: 20 viewers to 3 buyers; hosts are a fixed count
(``LIVEHUB_LOCUST_HOSTS``, default 1: the main venue's host).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
import uuid
from typing import Any

import gevent
from locust import HttpUser, between, task
from locust.exception import StopUser

from loadtests.crowd import auth
from loadtests.crowd.options import Options, of
from loadtests.crowd.target import Target, sales_in, target_of
from loadtests.crowd.ws import LiveSocket, fire, fire_ms

log = logging.getLogger("livehub.loadtests.users")
COMMENTS = ("wow", "how much?", "in stock?", "buy buy buy", "love it", "size?", "ship to Pudong?")
BUSY_RETRIES = 8  # a buy shed this often in a row is given up (reported as "buy gave up busy")
BACKOFF_MAX_S = 2.0


_node_seq = itertools.count(random.randrange(1_000))


def use_node(user: HttpUser, opts: Options) -> None:
    """Point ``user`` (its HTTP client and websocket) at one of ``--livehub-nodes``, round robin;
    HTTP without keep-alive."""
    # One connection per request: a pooled connection idle past the node's keep-alive timeout (uvicorn: 5 s)
    # can be closed by the node just as it is reused, a client-side race that would read as a failed payment.
    user.client.headers["Connection"] = "close"
    nodes = [n.strip().rstrip("/") for n in opts.nodes.split(",") if n.strip()]
    if nodes:
        user.host = nodes[next(_node_seq) % len(nodes)]
        user.client.base_url = user.host


class _Live(HttpUser):
    """A user holding one websocket in a venue; reconnects (reported) when the node closed it."""

    abstract = True
    opts: Options
    target: Target
    token: auth.Token
    sock: LiveSocket | None = None

    def on_start(self) -> None:
        self.opts = of(self.environment.parsed_options)
        self.rng = random.Random()
        use_node(self, self.opts)
        try:
            self.target = target_of(self.client, self.opts)
            self.token = auth.viewer(self.client, self.opts)
        except (auth.NoToken, RuntimeError) as exc:
            raise StopUser() from exc
        self.venue = self.target.pick_venue(self.rng, self.opts.main_share)
        self.guide = self.target.pick_guide(self.rng, self.venue, self.opts.guide_share)
        self.connect()

    def connect(self) -> bool:
        self.sock = LiveSocket(self.host or "", self.token.token, self.venue, main_venue=self.target.main_venue,
                               guide=self.guide, timeout_s=self.opts.timeout_s, on_frame=self.on_frame)  # fmt: skip
        if not self.sock.open():
            return False
        self.on_snapshot(self.sock.snapshot)
        return True

    def live(self) -> LiveSocket | None:
        """The open socket; a closed one is reopened (its close was reported as a failure)."""
        if self.sock is None or self.sock.closed:
            if not self.connect():
                gevent.sleep(self.rng.uniform(1, 3))
                return None
        return self.sock

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        pass

    def on_frame(self, frame: dict[str, Any]) -> None:
        pass

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()


class Viewer(_Live):
    weight = 20
    wait_time = between(2, 6)

    @task(10)
    def like(self) -> None:
        sock = self.live()
        if sock is not None:
            sock.send({"type": "like", "n": self.rng.randint(1, 3)})

    @task(1)
    def comment(self) -> None:
        sock = self.live()
        if sock is None or self.rng.random() > 0.3:  # ~ one comment a minute
            return
        started = time.perf_counter()
        answer = sock.request({"type": "comment", "text": self.rng.choice(COMMENTS)}, "comment")
        if answer is not None:
            fire("comment", started, answer["_length"])

    @task(1)
    def ping(self) -> None:
        sock = self.live()
        if sock is None:
            return
        started = time.perf_counter()
        answer = sock.request({"type": "ping"}, "ping")
        if answer is not None:
            fire("ping", started, answer["_length"])


class Buyer(_Live):
    weight = 3
    wait_time = between(0.2, 1)

    def on_start(self) -> None:
        self.sales: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()
        super().on_start()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.sales.update(sales_in(snapshot))
        for counters in (snapshot.get("counters") or {}).values():
            self.done.update(sid for sid, left in (counters.get("stock") or {}).items() if left == 0)

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "event" and str(frame.get("kind", "")).startswith("sale."):
            sale = (frame.get("data") or {}).get("sale")
            if isinstance(sale, dict) and "sale_id" in sale:
                self.sales[sale["sale_id"]] = sale
                if frame.get("kind") in ("sale.ended", "sale.sold_out"):
                    self.done.add(sale["sale_id"])
        elif frame.get("type") == "stock" and frame.get("sold_out"):
            self.done.add(str(frame.get("sale")))

    def next_sale(self, now_ms: float) -> dict[str, Any] | None:
        open_or_soon = [s for sid, s in self.sales.items() if sid not in self.done and s.get("ends_at_ms", 0) > now_ms]
        return min(open_or_soon, key=lambda s: s.get("starts_at_ms", 0), default=None)

    @task
    def rush(self) -> None:
        sock = self.live()
        if sock is None:
            return
        sale = self.next_sale(sock.server_now_ms())
        if sale is None:
            return
        wait_s = (sale.get("starts_at_ms", 0) - sock.server_now_ms()) / 1000
        if wait_s > 30:
            return  # far ahead: keep watching
        if wait_s > 0:
            gevent.sleep(wait_s + self.rng.uniform(0, 0.05))  # the moment it opens
        self.buy(sock, sale)
        self.done.add(sale["sale_id"])

    def buy(self, sock: LiveSocket, sale: dict[str, Any]) -> None:
        rid = "b-" + uuid.uuid4().hex[:16]
        qty = self.rng.randint(1, max(1, min(2, int(sale.get("per_user_limit", 1)))))
        message = {"type": "buy", "sale": sale["sale_id"], "qty": qty}
        backoff = 0.05
        for attempt in itertools.count():
            started = time.perf_counter()
            answer = sock.request(message, "buy", rid=rid)
            if answer is None:
                return
            data = answer.get("data") or {}
            status = str(data.get("status"))
            fire_ms(f"buy {status}", answer["_elapsed_ms"], answer["_length"])
            if status == "busy":
                if attempt >= BUSY_RETRIES:
                    fire("buy gave up busy", started, 0, f"still busy after {BUSY_RETRIES} retries")
                    return
                gevent.sleep(max(data.get("retry_after_ms", 0) / 1000, backoff) * self.rng.uniform(1, 1.5))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if status == "not_started" and attempt < BUSY_RETRIES:
                gevent.sleep(max(0.05, (data.get("starts_at_ms", 0) - sock.server_now_ms()) / 1000))
                continue
            if status in ("ok", "duplicate") and data.get("state") == "reserved":
                self.settle(str(data["reservation"]))
            return

    def settle(self, reservation: str) -> None:
        if self.rng.random() >= self.opts.pay_ratio:
            return  # abandoned: the reservation expires and its stock goes back
        gevent.sleep(self.rng.uniform(0.2, 2.0))
        auth.payer.pay(self.client, self.opts, self.token, reservation)


_host_seq = itertools.count()


class Host(HttpUser):
    fixed_count = int(os.environ.get("LIVEHUB_LOCUST_HOSTS", "1"))
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.opts = of(self.environment.parsed_options)
        self.rng = random.Random()
        use_node(self, self.opts)
        try:
            self.target = target_of(self.client, self.opts)
        except RuntimeError as exc:
            raise StopUser() from exc
        if not self.target.hosts:
            fire("host login", time.perf_counter(), 0, "no host credentials: set LIVEHUB_LOCUST_HOST_KEYS, "
                 "--livehub-config or LIVEHUB_SECRET")  # fmt: skip
            raise StopUser()
        login = self.target.hosts[next(_host_seq) % len(self.target.hosts)]
        try:
            self.token = auth.host(self.client, self.opts, login)
        except auth.NoToken as exc:
            fire("host login", time.perf_counter(), 0, str(exc))
            raise StopUser() from exc
        self.auth = {"Authorization": f"Bearer {self.token.token}"}
        main = self.target.main_venue
        self.venues = [main, *self.target.brand_venues] if self.token.venue == main else [self.token.venue or main]
        self.turn = itertools.cycle(self.venues)
        self.sock: LiveSocket | None = None
        self.open_panel()
        self.next_sale_at = time.monotonic()
        self.sales_made = itertools.count()

    def open_panel(self) -> None:
        """The control panel's websocket in the host's venue: ``join host``, then its events and orders."""
        self.sock = LiveSocket(self.host or "", self.token.token, self.venues[0], main_venue=self.target.main_venue,
                               guide=None, timeout_s=self.opts.timeout_s, on_frame=self.on_frame,
                               host=True)  # fmt: skip
        self.sock.open()

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "order" and "ts" in frame and self.sock is not None:
            fire_ms("order notice", time.time() * 1000 - frame["ts"])

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()

    @task
    def drive(self) -> None:
        if self.sock is None or self.sock.closed:
            self.open_panel()  # the close was reported as a failure
        if time.monotonic() >= self.next_sale_at:
            self.next_sale_at = time.monotonic() + self.opts.sale_every_s
            self.schedule_sale(next(self.turn))
        elif self.rng.random() < 0.5:
            self.announce()
        elif self.token.venue == self.target.main_venue and self.target.brand_venues:
            body = {"target": self.rng.choice(self.target.brand_venues), "text": "go see!"}
            self.client.post(f"/api/venues/{self.target.main_venue}/cta", json=body, headers=self.auth,
                             name="POST /api/venues/main/cta")  # fmt: skip

    def announce(self) -> None:
        venue = self.rng.choice(self.venues)
        self.client.post(f"/api/venues/{venue}/events", json={"kind": "announcement", "data": {"text": "deal soon"}},
                         headers=self.auth, name="POST /api/venues/{id}/events")  # fmt: skip

    def schedule_sale(self, venue: str) -> None:
        products = self.target.skus_for(venue)
        if not products:
            return
        product = self.rng.choice(products)
        o = self.opts
        lead = max(0, round(o.sale_lead_s))
        by_hand = next(self.sales_made) % 2 == 1  # every other sale: announced for later, opened by the host
        body = {"sku": product["sku"], "stock": o.sale_stock, "per_user_limit": o.sale_limit,
                "starts_in_s": lead * 10 + 60 if by_hand else lead, "duration_s": o.sale_duration_s,
                "reservation_ttl_s": o.reservation_ttl_s}  # fmt: skip
        with self.client.post(f"/api/venues/{venue}/sales", json=body, headers=self.auth,
                              name="POST /api/venues/{id}/sales", catch_response=True) as r:  # fmt: skip
            if r.status_code != 201:
                r.failure(f"sale refused: HTTP {r.status_code} {r.text[:120]}")
                return
            sale_id = r.json()["sale"]["sale_id"]
        self.client.post(f"/api/venues/{venue}/cards", json={"sku": product["sku"], "sale": sale_id},
                         headers=self.auth, name="POST /api/venues/{id}/cards")  # fmt: skip
        if by_hand:
            gevent.sleep(lead)
            self.client.post(f"/api/venues/{venue}/sales/{sale_id}/start", headers=self.auth,
                             name="POST /api/venues/{id}/sales/{sale}/start")  # fmt: skip
