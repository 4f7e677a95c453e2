"""After a load test: read Redis and check what no load may break; print a report, exit 1 on a breach.

    python -m loadtests.invariants --redis-url redis://127.0.0.1:6379/0 --prefix lh [--sale s1 ...] [--presale p1 ...]

For every flash sale found under the prefix (every ``sale_spec`` key, or only the ``--sale``
ones):

* **units**: the initial stock == available + reserved + sold (read in one MULTI);
* **reservations**: the reservation hashes add up to the counts (reserved, sold, expired units);
* **orders == paid**: exactly one order hash per paid reservation, none for any other, and the
  orders' units add up to ``sold``;
* **per-user limit**: no user holds more than ``per_user_limit`` units (reserved + paid), by the
  sale's per-user hash and by the reservations themselves, and the two agree;
* **orders stream**: every order appears exactly once in the orders stream, and the stream names
  no order of a checked sale that does not exist.

For every pre-sale (every ``presale_spec`` key, or only the ``--presale`` ones):

* **units**: stock == available + deposit_due + balance_due + completed (units of lapsed,
  forfeited and refunded deposits went back to the available stock), no count negative;
* **deposits**: the deposit hashes add up to the counts, state by state;
* **orders == completed**: exactly one order hash per completed deposit, none for any other;
* **per-user limit**: no user holds more than ``per_user_limit`` units (deposit_due +
  balance_due + completed), by the per-user hash and by the deposits, and the two agree;
* **orders stream**: every pre-sale order appears exactly once in the orders stream.

Key names come only from ``livehub.store.keys.Keys``.  Right after a run a few effects may still
be under way (an unpaid reservation expiring, an order's stream entry relayed from the outbox),
so a check that finds a breach is repeated for up to ``--settle-s`` seconds before it is
reported; a breach that survives is real.  The check reads, it never writes.  Bounded: at most
``--max-reservations`` reservation keys per sale (more is itself reported, not silently
skipped), the orders stream read in pages of 10,000 entries. The orders stream is trimmed at about
a million entries (``OrderStore.stream_maxlen``): on a Redis that has seen more orders than that,
an old order is reported missing from the stream; check the recent sales with ``--sale``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from livehub.domain.presale_rules import is_presale_id, presale_order_id, split_presale_id
from livehub.domain.sale_rules import order_id_for, sale_of
from livehub.store.keys import Keys

STREAM_PAGE = 10_000
GLOB_SPECIALS = "*?[]\\"


@dataclass(frozen=True, slots=True)
class Breach:
    sale_id: str
    kind: str  # units | reservations | orders | limit | stream | scan
    detail: str

    def __str__(self) -> str:
        return f"BREACH sale {self.sale_id} [{self.kind}]: {self.detail}"


@dataclass(frozen=True, slots=True)
class SaleSummary:
    sale_id: str
    initial: int
    available: int
    reserved: int
    sold: int
    expired: int
    reservations: int
    orders: int
    buyers: int


@dataclass(frozen=True, slots=True)
class PresaleSummary:
    presale_id: str
    stock: int
    available: int
    counts: dict[str, int]  # units per deposit state
    deposits: int
    orders: int


@dataclass
class Report:
    prefix: str
    sales: list[SaleSummary] = field(default_factory=list)
    presales: list[PresaleSummary] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    stream_entries: int = 0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return not self.breaches

    def kinds(self) -> set[str]:
        return {b.kind for b in self.breaches}

    def render(self) -> str:
        lines = [f"invariants: prefix {self.prefix!r}, {len(self.sales)} sales, "
                 f"{self.stream_entries} orders-stream entries, {self.attempts} attempt(s)"]  # fmt: skip
        for s in self.sales:
            lines.append(
                f"  sale {s.sale_id}: initial {s.initial} = available {s.available} + reserved {s.reserved}"
                f" + sold {s.sold} (expired {s.expired}); {s.reservations} reservations, {s.orders} orders,"
                f" {s.buyers} buyers holding units"
            )
        for p in self.presales:
            c = p.counts
            lines.append(
                f"  pre-sale {p.presale_id}: stock {p.stock} = available {p.available} + deposit_due "
                f"{c['deposit_due']} + balance_due {c['balance_due']} + completed {c['completed']} (lapsed "
                f"{c['lapsed']}, forfeited {c['forfeited']}, refunded {c['refunded']}); {p.deposits} deposits, "
                f"{p.orders} orders"
            )
        lines.extend(f"  {b}" for b in self.breaches)
        lines.append("invariants: OK" if self.ok else f"invariants: {len(self.breaches)} BREACH(ES)")
        return "\n".join(lines)


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in GLOB_SPECIALS else c for c in text)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in (raw or {}).items()}


def _int(value: Any) -> int:
    return int(_s(value)) if value is not None else 0


def _owner(order_id: str) -> str:
    """The sale or pre-sale an order id belongs to (ValueError for neither)."""
    return split_presale_id(order_id)[0] if is_presale_id(order_id) else sale_of(order_id)


DEPOSIT_STATES = ("deposit_due", "balance_due", "completed", "lapsed", "forfeited", "refunded")
HELD_STATES = ("deposit_due", "balance_due", "completed")


class Checker:
    """Reads one prefix's sales and orders stream (synchronous redis-py: usable from gevent too)."""

    def __init__(self, client: redis.Redis, prefix: str, *, max_reservations: int = 200_000) -> None:
        self.r = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.globs = Keys(glob_escape(prefix))
        self.max_reservations = max_reservations

    # ---- finding keys (patterns built by Keys, so names live in one place) ------------
    def _scan(self, pattern: str, limit: int | None = None) -> Iterator[str]:
        for n, key in enumerate(self.r.scan_iter(match=pattern, count=1000)):
            if limit is not None and n >= limit:
                return
            yield _s(key)

    @staticmethod
    def _middle(template: str, key: str) -> str | None:
        """The part of ``key`` in place of the marker in ``template`` (``head<marker>tail``)."""
        head, _, tail = template.partition("\0")
        if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
            return key[len(head) : len(key) - len(tail)]
        return None

    def sale_ids(self) -> list[str]:
        template = self.keys.sale_spec("\0")
        found = {self._middle(template, k) for k in self._scan(self.globs.sale_spec("*"))}
        return sorted(s for s in found if s and ":" not in s and "}" not in s)

    def presale_ids(self) -> list[str]:
        template = self.keys.presale_spec("\0")
        found = {self._middle(template, k) for k in self._scan(self.globs.presale_spec("*"))}
        return sorted(s for s in found if s and ":" not in s and "}" not in s)

    def _reservation_keys(self, sale_id: str) -> list[str]:
        pattern = self.globs.reservation(glob_escape(sale_id), "*")
        return list(self._scan(pattern, self.max_reservations + 1))

    def _order_keys(self, sale_id: str) -> list[str]:
        pattern = self.globs.order(glob_escape(sale_id), "*")
        return list(self._scan(pattern, self.max_reservations + 1))

    def stream_counts(self, sale_ids: Iterable[str]) -> tuple[collections.Counter[str], int]:
        """Occurrences of each order id of ``sale_ids`` in the orders stream; and the entries read."""
        wanted = set(sale_ids)
        counts: collections.Counter[str] = collections.Counter()
        stream, start, total = self.keys.orders_stream(), "-", 0
        while True:
            page: Any = self.r.xrange(stream, min=start, max="+", count=STREAM_PAGE)
            for _entry_id, fields in page:
                total += 1
                order_id = _fields(fields).get("order_id", "")
                try:
                    if _owner(order_id) in wanted:
                        counts[order_id] += 1
                except ValueError:
                    pass
            if len(page) < STREAM_PAGE:
                return counts, total
            start = "(" + _s(page[-1][0])

    # ---- one sale -----------------------------------------------------------------------
    def check_sale(self, sale_id: str, in_stream: collections.Counter[str]) -> tuple[SaleSummary | None, list[Breach]]:
        k = self.keys
        res_keys = self._reservation_keys(sale_id)
        order_keys = self._order_keys(sale_id)
        breaches: list[Breach] = []
        if len(res_keys) > self.max_reservations or len(order_keys) > self.max_reservations:
            breaches.append(Breach(sale_id, "scan", f"more than {self.max_reservations} reservations or orders: "
                                   "raise --max-reservations"))  # fmt: skip
            res_keys, order_keys = res_keys[: self.max_reservations], order_keys[: self.max_reservations]
        pipe = self.r.pipeline(transaction=True)  # one MULTI: a consistent picture of the sale
        pipe.hgetall(k.sale_spec(sale_id))
        pipe.get(k.sale_stock(sale_id))
        pipe.hgetall(k.sale_counts(sale_id))
        pipe.hgetall(k.sale_users(sale_id))
        for key in res_keys:
            pipe.hgetall(key)
        for key in order_keys:
            pipe.hgetall(key)
        raw = pipe.execute()
        spec, stock, counts, users = _fields(raw[0]), raw[1], _fields(raw[2]), _fields(raw[3])
        reservations = [_fields(x) for x in raw[4 : 4 + len(res_keys)] if x]
        orders = [_fields(x) for x in raw[4 + len(res_keys) :] if x]
        if not spec:
            return None, []  # retired between the scan and the read
        initial, limit = int(spec.get("stock", 0)), int(spec.get("per_user_limit", 0))
        available = _int(stock)
        reserved, sold, expired = (_int(counts.get(f)) for f in ("reserved", "sold", "expired"))

        # units
        if initial != available + reserved + sold:
            breaches.append(Breach(sale_id, "units", f"initial {initial} != available {available} + reserved "
                                   f"{reserved} + sold {sold} (= {available + reserved + sold})"))  # fmt: skip
        if min(available, reserved, sold, expired) < 0:
            breaches.append(Breach(sale_id, "units", f"a negative count: available {available}, reserved "
                                   f"{reserved}, sold {sold}, expired {expired}"))  # fmt: skip

        # reservations add up to the counts
        by_state: collections.Counter[str] = collections.Counter()
        held: collections.Counter[str] = collections.Counter()
        paid_orders: set[str] = set()
        for r in reservations:
            qty, state = int(r.get("qty", 0)), r.get("state", "?")
            by_state[state] += qty
            if state in ("reserved", "paid"):
                held[r.get("user", "?")] += qty
            if state == "paid":
                paid_orders.add(r.get("order_id") or order_id_for(r.get("reservation_id", "")))
        for state, counted in (("reserved", reserved), ("paid", sold), ("expired", expired)):
            if by_state[state] != counted:
                breaches.append(Breach(sale_id, "reservations", f"{state} reservations hold {by_state[state]} "
                                       f"units, the counts say {counted}"))  # fmt: skip

        # orders == paid
        order_ids = [o.get("order_id", "?") for o in orders]
        dup_orders = [o for o, n in collections.Counter(order_ids).items() if n > 1]
        unpaid = sorted(set(order_ids) - paid_orders)
        missing = sorted(paid_orders - set(order_ids))
        if len(orders) != len(paid_orders) or unpaid or missing or dup_orders:
            breaches.append(Breach(sale_id, "orders", f"{len(orders)} orders != {len(paid_orders)} paid "
                                   f"reservations (orders without payment: {unpaid[:5]}, paid without order: "
                                   f"{missing[:5]})"))  # fmt: skip
        order_units = sum(int(o.get("qty", 0)) for o in orders)
        if order_units != sold:
            breaches.append(Breach(sale_id, "orders", f"orders carry {order_units} units, sold is {sold}"))

        # per-user limit
        recorded = {u: int(v) for u, v in users.items()}
        over = sorted({u for u, n in recorded.items() if n > limit} | {u for u, n in held.items() if n > limit})
        if over:
            detail = ", ".join(f"{u} holds {max(recorded.get(u, 0), held.get(u, 0))}" for u in over[:5])
            breaches.append(Breach(sale_id, "limit", f"{len(over)} users over the per-user limit {limit}: {detail}"))
        drift = sorted(u for u in set(recorded) | set(held) if recorded.get(u, 0) != held.get(u, 0))
        if drift:
            detail = ", ".join(f"{u}: hash {recorded.get(u, 0)} vs reservations {held.get(u, 0)}" for u in drift[:5])
            breaches.append(Breach(sale_id, "limit", f"{len(drift)} users' held units disagree ({detail})"))

        # orders stream: each order exactly once
        absent = sorted(o for o in order_ids if in_stream[o] == 0)
        twice = sorted(o for o in order_ids if in_stream[o] > 1)
        phantom = sorted(o for o in in_stream if sale_of(o) == sale_id and o not in set(order_ids))
        if absent:
            breaches.append(Breach(sale_id, "stream", f"{len(absent)} orders not in the orders stream: {absent[:5]}"))
        if twice:
            detail = ", ".join(f"{o} x{in_stream[o]}" for o in twice[:5])
            breaches.append(Breach(sale_id, "stream", f"{len(twice)} orders more than once in the stream: {detail}"))
        if phantom:
            breaches.append(Breach(sale_id, "stream", f"{len(phantom)} stream entries name no order: {phantom[:5]}"))

        summary = SaleSummary(sale_id, initial, available, reserved, sold, expired, len(reservations), len(orders),
                              sum(1 for n in held.values() if n > 0))  # fmt: skip
        return summary, breaches

    # ---- one pre-sale ---------------------------------------------------------------------
    def check_presale(self, presale_id: str, in_stream: collections.Counter[str]
                      ) -> tuple[PresaleSummary | None, list[Breach]]:  # fmt: skip
        k, pid = self.keys, glob_escape(presale_id)
        dep_keys = list(self._scan(self.globs.deposit(pid, "*"), self.max_reservations + 1))
        order_keys = list(self._scan(self.globs.presale_order(pid, "*"), self.max_reservations + 1))
        breaches: list[Breach] = []
        if len(dep_keys) > self.max_reservations or len(order_keys) > self.max_reservations:
            breaches.append(Breach(presale_id, "scan", f"more than {self.max_reservations} deposits or orders"))
            dep_keys, order_keys = dep_keys[: self.max_reservations], order_keys[: self.max_reservations]
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(k.presale_spec(presale_id))
        pipe.get(k.presale_stock(presale_id))
        pipe.hgetall(k.presale_counts(presale_id))
        pipe.hgetall(k.presale_users(presale_id))
        for key in [*dep_keys, *order_keys]:
            pipe.hgetall(key)
        raw = pipe.execute()
        spec, available, counts, users = _fields(raw[0]), _int(raw[1]), _fields(raw[2]), _fields(raw[3])
        deposits = [_fields(x) for x in raw[4 : 4 + len(dep_keys)] if x]
        orders = [_fields(x) for x in raw[4 + len(dep_keys) :] if x]
        if not spec:
            return None, []
        stock, limit = int(spec.get("stock", 0)), int(spec.get("per_user_limit", 0))
        c = {state: _int(counts.get(state)) for state in DEPOSIT_STATES}
        held_units = sum(c[state] for state in HELD_STATES)
        if stock != available + held_units:
            breaches.append(Breach(presale_id, "units", f"stock {stock} != available {available} + deposit_due "
                                   f"{c['deposit_due']} + balance_due {c['balance_due']} + completed "
                                   f"{c['completed']}"))  # fmt: skip
        if min(available, *c.values()) < 0:
            breaches.append(Breach(presale_id, "units", f"a negative count: available {available}, {c}"))
        by_state: collections.Counter[str] = collections.Counter()
        held: collections.Counter[str] = collections.Counter()
        completed: set[str] = set()
        for d in deposits:
            qty, state = int(d.get("qty", 0)), d.get("state", "?")
            by_state[state] += qty
            if state in HELD_STATES:
                held[d.get("user", "?")] += qty
            if state == "completed":
                completed.add(presale_order_id(d.get("deposit_id", "")))
        # settled deposits expire with the pre-sale (retention): a count may exceed the hashes left,
        # but never the other way round; the held states have no expiry and must match exactly
        for state in DEPOSIT_STATES:
            if by_state[state] > c[state] or (state in HELD_STATES and by_state[state] != c[state]):
                breaches.append(Breach(presale_id, "deposits", f"{state} deposits hold {by_state[state]} units, "
                                       f"the counts say {c[state]}"))  # fmt: skip
        order_ids = {o.get("order_id", "?") for o in orders}
        if order_ids != completed:
            breaches.append(Breach(presale_id, "orders", f"{len(order_ids)} orders != {len(completed)} completed "
                                   f"deposits (without a completed deposit: {sorted(order_ids - completed)[:5]}, "
                                   f"completed without an order: {sorted(completed - order_ids)[:5]})"))  # fmt: skip
        recorded = {u: int(v) for u, v in users.items()}
        over = sorted({u for u, n in recorded.items() if n > limit} | {u for u, n in held.items() if n > limit})
        if over:
            breaches.append(Breach(presale_id, "limit", f"{len(over)} users over the per-user limit {limit}"))
        drift = sorted(u for u in set(recorded) | set(held) if recorded.get(u, 0) != held.get(u, 0))
        if drift:
            breaches.append(Breach(presale_id, "limit", f"{len(drift)} users' held units disagree: {drift[:5]}"))
        absent = sorted(o for o in order_ids if in_stream[o] == 0)
        twice = sorted(o for o in order_ids if in_stream[o] > 1)
        if absent:
            breaches.append(Breach(presale_id, "stream", f"{len(absent)} orders not in the stream: {absent[:5]}"))
        if twice:
            breaches.append(Breach(presale_id, "stream", f"{len(twice)} orders more than once in the stream"))
        return PresaleSummary(presale_id, stock, available, c, len(deposits), len(orders)), breaches

    def check_once(self, sale_ids: Sequence[str] | None = None, presale_ids: Sequence[str] | None = None) -> Report:
        ids = list(sale_ids) if sale_ids else ([] if presale_ids else self.sale_ids())
        pids = list(presale_ids) if presale_ids else ([] if sale_ids else self.presale_ids())
        in_stream, total = self.stream_counts([*ids, *pids])
        report = Report(self.prefix, stream_entries=total)
        for presale_id in pids:
            presale, found = self.check_presale(presale_id, in_stream)
            if presale is None and presale_ids:
                found = [Breach(presale_id, "scan", "no such pre-sale (no spec key)")]
            if presale is not None:
                report.presales.append(presale)
            report.breaches.extend(found)
        for sale_id in ids:
            summary, breaches = self.check_sale(sale_id, in_stream)
            if summary is None and sale_ids:
                breaches = [Breach(sale_id, "scan", "no such sale (no spec key)")]
            if summary is not None:
                report.sales.append(summary)
            report.breaches.extend(breaches)
        return report

    def check(self, sale_ids: Sequence[str] | None = None, settle_s: float = 10.0, interval_s: float = 0.5,
              presale_ids: Sequence[str] | None = None) -> Report:  # fmt: skip
        """Check; while breaches remain and ``settle_s`` has not passed, wait and check again."""
        deadline = time.monotonic() + settle_s
        attempts = 1
        report = self.check_once(sale_ids, presale_ids)
        while not report.ok and time.monotonic() + interval_s <= deadline:
            time.sleep(interval_s)
            attempts += 1
            report = self.check_once(sale_ids, presale_ids)
        report.attempts = attempts
        return report


def run_check(redis_url: str, prefix: str, *, sale_ids: Sequence[str] | None = None, settle_s: float = 10.0,
              max_reservations: int = 200_000, presale_ids: Sequence[str] | None = None) -> Report:  # fmt: skip
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        checker = Checker(client, prefix, max_reservations=max_reservations)
        return checker.check(sale_ids, settle_s, presale_ids=presale_ids)
    finally:
        client.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests.invariants", description=__doc__.split("\n\n")[0])
    p.add_argument("--redis-url", default=os.environ.get("LIVEHUB_REDIS_URL"),
                   help="the festival's Redis (default: $LIVEHUB_REDIS_URL)")  # fmt: skip
    p.add_argument("--prefix", default=os.environ.get("LIVEHUB_REDIS_PREFIX", "lh"),
                   help="livehub's key prefix (default: $LIVEHUB_REDIS_PREFIX or lh)")  # fmt: skip
    p.add_argument("--sale", action="append", default=None, help="check only this sale (repeatable)")
    p.add_argument("--presale", action="append", default=None, help="check only this pre-sale (repeatable)")
    p.add_argument("--settle-s", type=float, default=10.0, help="re-check a breach for this long before reporting")
    p.add_argument("--max-reservations", type=int, default=200_000, help="reservation keys read per sale, at most")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.redis_url:
        print("invariants: --redis-url (or LIVEHUB_REDIS_URL) is required", file=sys.stderr)
        return 2
    try:
        report = run_check(args.redis_url, args.prefix, sale_ids=args.sale, settle_s=args.settle_s,
                           max_reservations=args.max_reservations, presale_ids=args.presale)  # fmt: skip
    except redis.RedisError as exc:
        print(f"invariants: cannot read Redis at {args.redis_url}: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
