"""Group buys (拼团): a host opens a deal, viewers start and join groups, viewers see them fill up.

Joining is paying (livehub.domain.group_rules): in demo mode the node pays with the
simulated provider (``payment_ref`` ``demo:<uuid>``); outside demo mode the payment provider
charges the buyer first and calls back (``POST /api/payments/groups``, signed like every
payment callback), and the callback starts or joins for the user.

**Live.**  A deal's open groups are latest-value state ``groupdeal:<deal>`` of the deal's venue
(so they are in the join snapshot): the deal and up to ``group_state_max`` open groups, the
nearest deadline first; every change is a ``groups.*`` event carrying the same value:

* ``groups.opened`` - the host opened the deal;
* ``groups.updated`` - a group started or someone joined: throttled per deal on each node, at
  most one every ``group_update_interval_s`` (the first change goes out at once, the changes
  within the interval in one trailing event read from Redis when it fires), so a hot deal
  does not flood the room;
* ``groups.completed`` / ``groups.expired`` - at once, with the settled groups in ``settled``.

Each event reads the deal's open groups from Redis when it is sent; nodes throttle
independently (two nodes: at most two updates per interval).  An update read on one node
just before another node's completion may be published just after it, listing the completed
group as open: so every completion and expiry is followed, one interval later, by one more
``groups.updated`` read from Redis, which puts the state right (meanwhile a join of that group
answers ``full``, and the page drops groups it saw settled).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker, StateOp
from livehub.domain.attribution import credit_for
from livehub.domain.group_rules import GroupDealSpec, JoinCode, group_id_for
from livehub.domain.quotas import Quotas
from livehub.domain.sale_rules import SaleSpecError
from livehub.domain.topology import Festival, Product
from livehub.errors import LivehubError
from livehub.runtime.periodic import Periodic
from livehub.settings import Settings
from livehub.store.groups import DealState, Group, GroupStore, JoinResult
from livehub.store.my_orders import GROUP_BUY, Entry, UserOrders

log = logging.getLogger("livehub.services.group_buying")

MAX_PENDING = 10_000  # deals with a trailing update scheduled on this node; beyond: sent at once
OVER_CHECK_S = 60.0  # how often the sweeper looks at a deal that is over (its keys' retention)


@dataclass(frozen=True, slots=True)
class DealDraft:
    """A host's new deal as requested (the product resolved before); None: the default."""

    product: Product
    deal_id: Any = None
    group_size: int = 2
    group_price_cents: int | None = None  # default: the product's price
    groups: int = 0
    duration_s: int = 3600  # starts are possible for this long
    group_ttl_s: int = 600  # each group's time to fill up


def group_view(group: Group, venue: str) -> dict[str, Any]:
    return {"group": group.group_id, "deal": group.deal_id, "state": group.status, "size": group.size,
            "joined": group.joined, "deadline_ms": group.deadline_ms, "created_at_ms": group.created_at_ms,
            "share": f"/watch?venue={venue}&group={group.group_id}"}  # fmt: skip


def deal_view(festival: Festival, spec: GroupDealSpec, left: int | None = None) -> dict[str, Any]:
    product = festival.products.get(spec.sku)
    out: dict[str, Any] = {
        "deal": spec.deal_id, "venue": spec.venue, "brand": spec.brand, "sku": spec.sku,
        "title": product.title if product else spec.sku, "image_url": product.image_url if product else None,
        "list_price_cents": product.list_price_cents if product else None, "group_size": spec.group_size,
        "group_price_cents": spec.group_price_cents, "groups": spec.groups, "ends_at_ms": spec.ends_at_ms,
        "group_ttl_s": spec.group_ttl_s,
    }  # fmt: skip
    if left is not None:
        out["left"] = left
    return out


class GroupBuying:
    def __init__(self, settings: Settings, festival: Festival, broker: Broker, groups: GroupStore,
                 quotas: Quotas, my_orders: UserOrders | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.my_orders = my_orders  # the buyers' "my orders" index (livehub.store.my_orders; None: not kept)
        self.festival = festival
        self.broker = broker
        self.groups = groups
        self.quotas = quotas
        self._last_push: dict[str, float] = {}  # deal -> monotonic time of its last update from this node
        self._pending: dict[str, asyncio.TimerHandle] = {}  # deal -> its trailing update
        self._tasks: set[asyncio.Task[None]] = set()
        self.jobs = Periodic()
        self._over: dict[str, float] = {}  # deal -> when (monotonic) the sweeper looks at it again

    def start_jobs(self) -> None:
        """The group sweeper, every ``sweep_interval_s`` on every node (the scripts make that safe)."""
        self.jobs.start(self.settings.sweep_interval_s, self.sweep_all, "group-sweeper")

    async def sweep_all(self) -> None:
        await self.sweep(self.festival.venues)

    # ---- hosts ----------------------------------------------------------------------

    async def open_deal(self, venue: str, draft: DealDraft) -> dict[str, Any]:
        """Open a group deal on a product of the venue's brand and announce it (``groups.opened``)."""
        product = draft.product
        now = await self.groups.server_time_ms()
        try:
            spec = GroupDealSpec(
                deal_id=draft.deal_id or f"gd-{uuid.uuid4().hex[:10]}", venue=venue, brand=product.brand,
                sku=product.sku, group_size=draft.group_size,
                group_price_cents=draft.group_price_cents if draft.group_price_cents is not None
                else product.price_cents,
                groups=draft.groups, created_at_ms=now, ends_at_ms=now + 1000 * draft.duration_s,
                group_ttl_s=draft.group_ttl_s,
            )  # fmt: skip
        except SaleSpecError as exc:
            raise errors.bad_request(str(exc), field=exc.field) from None
        if not await self.groups.create(spec):
            raise LivehubError(errors.BAD_REQUEST, f"group deal {errors.echo(spec.deal_id)} exists already")
        epoch, offset = await self._publish(spec.deal_id, "groups.opened")
        return {"deal": deal_view(self.festival, spec, spec.groups), "epoch": epoch, "offset": offset}

    # ---- buyers ---------------------------------------------------------------------

    async def start(self, user: str, deal_id: str, request_id: str, payment_ref: str | None,
                    guide_id: str | None) -> dict[str, Any]:  # fmt: skip
        """Start a group and pay for it; ``payment_ref`` None: the demo's simulated payment."""
        self._take_token(user)
        spec = await self.groups.get_spec(deal_id)
        if spec is None:
            raise errors.not_found(f"unknown group deal {errors.echo(deal_id)}")
        guide = self.festival.guides.get(guide_id) if guide_id else None
        group_id = group_id_for(deal_id, user, request_id)
        await self._note(user, spec.venue, group_id)
        result = await self.groups.start(deal_id, user, request_id, _paid(payment_ref),
                                         guide=credit_for(guide, spec.brand))  # fmt: skip
        await self._noted(user, spec.venue, group_id, result)
        if result.code is JoinCode.JOINED:
            self.changed(deal_id)
        return self._answer(spec, result)

    async def join(self, user: str, group_id: str, request_id: str, payment_ref: str | None,
                   guide_id: str | None) -> dict[str, Any]:  # fmt: skip
        """Join a group and pay for it; the N-th member completes it (``groups.completed`` at once)."""
        self._take_token(user)
        group = await self.groups.get_group(group_id)
        spec = await self.groups.get_spec(group.deal_id) if group is not None else None
        if group is None or spec is None:
            raise errors.not_found(f"unknown group {errors.echo(group_id)}")
        guide = self.festival.guides.get(guide_id) if guide_id else None
        await self._note(user, spec.venue, group_id)
        result = await self.groups.join(group_id, user, request_id, _paid(payment_ref),
                                        guide=credit_for(guide, spec.brand))  # fmt: skip
        await self._noted(user, spec.venue, group_id, result)
        if result.code is JoinCode.JOINED:
            self.changed(spec.deal_id)
        elif result.code is JoinCode.COMPLETED and result.group is not None:
            await self.settled(spec.deal_id, "groups.completed", [result.group])
        return self._answer(spec, result)

    async def group(self, group_id: str) -> dict[str, Any]:
        """``GET /api/groups/{group}``: the group and its deal (what the join dialog shows)."""
        group = await self.groups.get_group(group_id)
        state = await self.groups.get_state(group.deal_id) if group is not None else None
        if group is None or state is None:
            raise errors.not_found(f"unknown group {errors.echo(group_id)}")
        return {**group_view(group, state.spec.venue), "deal": deal_view(self.festival, state.spec, state.left),
                "now_ms": await self.groups.server_time_ms()}  # fmt: skip

    # ---- the buyers' "my orders" (livehub.services.my_orders) ------------------------------------

    async def _note(self, user: str, venue: str, group_id: str) -> None:
        """The buyer's entry of the group, before the start or join is answered (as a buy's)."""
        if self.my_orders is not None:
            await self.my_orders.note(user, GROUP_BUY, venue, group_id, int(time.time() * 1000))

    async def _noted(self, user: str, venue: str, group_id: str, result: JoinResult) -> None:
        """A start or join that did not make (or find) the buyer's membership takes its entry back."""
        if self.my_orders is not None and result.code not in MEMBER:
            await self.my_orders.drop(user, GROUP_BUY, venue, group_id)

    async def my_orders_views(self, user: str, entries: Sequence[Entry]) -> list[dict[str, Any] | None]:
        """The resolver of ``group_buy`` entries: each group as its page shows it, with the deal's product
        (None: the group's keys expired, or the buyer is not one of its members)."""
        out: list[dict[str, Any] | None] = []
        for entry in entries:
            group = await self.groups.get_group(entry.id)
            spec = await self.groups.get_spec(group.deal_id) if group is not None else None
            if group is None or spec is None or not await self.groups.is_member(group.deal_id, group.group_id, user):
                out.append(None)
                continue
            product = self.festival.products.get(spec.sku)
            out.append({**group_view(group, spec.venue), "sku": spec.sku, "title": product.title if product else None,
                        "image_url": product.image_url if product else None,
                        "group_price_cents": spec.group_price_cents})  # fmt: skip
        return out

    def _take_token(self, user: str) -> None:
        wait = self.quotas.buys.take(user, time.monotonic())  # starts and joins count as buys
        if wait:
            raise errors.rate_limited("too many buys: slow down", wait)

    def _answer(self, spec: GroupDealSpec, result: JoinResult) -> dict[str, Any]:
        if result.code is JoinCode.NOT_FOUND:
            raise errors.not_found(f"unknown group {errors.echo(result.group_id)}")
        out: dict[str, Any] = {"status": result.code.value, "deal": spec.deal_id, "group": result.group_id or None}
        if result.group is not None:
            out.update(group_view(result.group, spec.venue))
            out["deal"] = spec.deal_id
        return out

    # ---- live -----------------------------------------------------------------------

    def changed(self, deal_id: str) -> None:
        """A group of the deal started or filled up: a throttled ``groups.updated``."""
        if deal_id in self._pending:
            return  # the trailing update will read it
        now = time.monotonic()
        wait = self._last_push.get(deal_id, -1e9) + self.settings.group_update_interval_s - now
        if wait <= 0 or len(self._pending) >= MAX_PENDING:
            self._last_push[deal_id] = now
            self._spawn(deal_id)
            return
        self._pending[deal_id] = asyncio.get_running_loop().call_later(wait, self._trailing, deal_id)

    def _trailing(self, deal_id: str) -> None:
        self._pending.pop(deal_id, None)
        self._last_push[deal_id] = time.monotonic()
        self._spawn(deal_id)

    def _spawn(self, deal_id: str) -> None:
        if len(self._last_push) > MAX_PENDING:  # forget the oldest pushes (their interval passed long ago)
            cutoff = time.monotonic() - self.settings.group_update_interval_s
            self._last_push = {d: t for d, t in self._last_push.items() if t > cutoff}
        task = asyncio.get_running_loop().create_task(self._update(deal_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _update(self, deal_id: str) -> None:
        try:
            await self._publish(deal_id, "groups.updated")
        except Exception:
            log.warning("group deal %s: update not published", deal_id, exc_info=True)

    async def settled(self, deal_id: str, kind: str, groups: Iterable[Group]) -> None:
        """Groups completed or expired: ``groups.completed`` / ``groups.expired`` at once."""
        state = await self.groups.get_state(deal_id)
        if state is not None:
            await self._publish(deal_id, kind, state, settled=[group_view(g, state.spec.venue) for g in groups])
            self._last_push[deal_id] = time.monotonic()
            self.changed(deal_id)  # the healing update, one interval later (see the module docstring)

    async def _publish(self, deal_id: str, kind: str, state: DealState | None = None,
                       **extra: Any) -> tuple[str, int]:  # fmt: skip
        state = state or await self.groups.get_state(deal_id)
        if state is None:
            return "", 0
        spec = state.spec
        open_groups = await self.groups.open_groups(deal_id, self.settings.group_state_max)
        value = {"deal": deal_view(self.festival, spec, state.left), "open": state.open,
                 "groups": [group_view(g, spec.venue) for g in open_groups]}  # fmt: skip
        state_op = StateOp(f"groupdeal:{deal_id}", value)
        return await self.broker.publish(spec.venue, kind, {**value, **extra}, (state_op,))

    async def stop(self) -> None:
        await self.jobs.stop()
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- sweeper --------------------------------------------------------------------

    async def sweep(self, venues: Iterable[str]) -> None:
        """Expire the due groups of every deal of ``venues`` (refunds follow), relay effects a node
        left undone, and forget deals whose keys expired.  A deal past its last group's deadline
        with nothing left to expire or relay is *over*: looked at once every ``OVER_CHECK_S``
        (has its keys' retention passed?) instead of every sweep."""
        deals = await self.groups.deal_ids_of_venues(list(venues))
        now = await self.groups.server_time_ms()
        for venue, deal_ids in deals.items():
            for deal_id in deal_ids:
                if self._over.get(deal_id, 0.0) > time.monotonic():
                    continue
                expired = await self.groups.expire_due(deal_id, limit=500, now_ms=now)
                relayed = await self.groups.relay(deal_id, now_ms=now)
                if expired:
                    found = [g for g in [await self.groups.get_group(e) for e in expired] if g is not None]
                    await self.settled(deal_id, "groups.expired", found)
                    continue
                spec = await self.groups.get_spec(deal_id)
                if spec is None:
                    await self.groups.unlist(deal_id, venue)  # its keys expired
                    self._over.pop(deal_id, None)
                elif now > spec.last_deadline_ms and not relayed and not await self.groups.outbox_size(deal_id):
                    if len(self._over) >= MAX_PENDING:
                        self._over.clear()  # looked at every sweep again until they are over once more
                    self._over[deal_id] = time.monotonic() + OVER_CHECK_S


MEMBER = frozenset({JoinCode.JOINED, JoinCode.COMPLETED, JoinCode.DUPLICATE})  # the buyer is (now) a member


def _paid(payment_ref: str | None) -> str:
    """The payment reference of a start or join: the provider's, or the demo's simulated one."""
    return payment_ref if payment_ref is not None else f"demo:{uuid.uuid4().hex}"
