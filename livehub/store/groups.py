"""Group buys (拼团) on Redis: open a deal, start a group, join it, expire it, settle it.

Every state change is one Lua script on the deal's keys (all under the hash tag
``{group:<deal>}``, built in ``livehub.store.keys``), so a deal and all its groups live
on one Redis Cluster slot:

* groupdeal_create.lua: the spec, the stock of groups, the counts (once per deal id).
* group_start.lua: one group from the stock, the starter its first paid member.
* group_join.lua: one more paid member; the N-th completes the group (open -> completed).
* group_expire.lua: an open group past its deadline expires (open -> expired), the group
  goes back to the stock.

Joining is paying (livehub.domain.group_rules), so a group's members are exactly its paid
members.  Invariant at rest: ``groups == left + open + completed`` (expired groups went
back to ``left``).  A group's state moves only open -> completed or open -> expired, each in
one script, so the last join racing the deadline has exactly one winner and two sweepers
never expire (nor refund) a group twice.

**Effects outside the deal's slot** (each member's order in the orders stream, credited to
its guide; each member's refund) cannot be in the deal's scripts: group_join.lua and
group_expire.lua add ``completed:<group>`` / ``expired:<group>`` to the deal's outbox in the
same atomic step; the node applies it right away (``apply``), every step idempotent (the
orders stream and the refunds stream each take an entry once, by a marker), then drops the
entry; a node that died in between leaves it to the sweeper's ``relay`` on any node.

**Retention.**  Every key of a deal expires at the last group's deadline
(``ends_at_ms + group_ttl_s``) plus ``retention_s`` (the ``sale_retention_s`` setting),
set when the key is created; no group is open by then, and the sweeper has had days to
relay any effect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livehub.domain.attribution import GuideCredit
from livehub.domain.group_rules import (
    COMPLETED,
    EXPIRED,
    GroupDealSpec,
    JoinCode,
    Member,
    Refund,
    deal_of,
    group_id_for,
    member_order_id,
    refund_id,
)
from livehub.domain.ids import valid_id, valid_user_id
from livehub.domain.routing import warehouse_delivery
from livehub.domain.sale_rules import flat_fields, now_arg, text
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderStore
from livehub.store.outbox import server_time_ms
from livehub.store.refunds import Refunds
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.groups")


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    deal_id: str
    status: str  # open | completed | expired
    size: int
    joined: int
    deadline_ms: int
    created_at_ms: int
    settled_at_ms: int  # when it completed or expired (0 while open)

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> Group:
        group_id = f["group_id"]
        return cls(group_id, deal_of(group_id) or "", f["state"], int(f["size"]), int(f["joined"]),
                   int(f["deadline_ms"]), int(f["created_at_ms"]), int(f.get("settled_at_ms") or 0))  # fmt: skip


@dataclass(frozen=True, slots=True)
class JoinResult:
    """The answer to a start or a join; ``group`` is set whenever the group exists."""

    code: JoinCode
    group_id: str
    group: Group | None = None


@dataclass(frozen=True, slots=True)
class DealState:
    spec: GroupDealSpec
    left: int
    open: int
    completed: int
    expired: int  # groups that expired (cumulative; each went back to ``left``)

    @property
    def balanced(self) -> bool:
        """The invariant: groups == left + open + completed."""
        return self.spec.groups == self.left + self.open + self.completed


def _member(user_id: str, raw: Any) -> Member:
    m = orjson.loads(raw)
    return Member(user_id, m["rq"], m["ref"], int(m["at"]), m.get("g") or None, m.get("gs") or None)


class GroupStore:
    """The group deals of every venue.  ``refunds`` pays members of expired groups back."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, orders: OrderStore, refunds: Refunds,
                 *, retention_s: int = 7 * 86_400) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self._orders = orders
        self._refunds = refunds
        self.retention_s = retention_s

    # ---- hosts --------------------------------------------------------------------

    async def create(self, spec: GroupDealSpec) -> bool:
        """Open a deal and register it in its venue; False if the id exists."""
        k, deal = self._keys, spec.deal_id
        keep_until = spec.last_deadline_ms + 1000 * self.retention_s
        args: list[str | int] = [spec.groups, keep_until]
        for field, value in spec.to_fields().items():
            args += [field, value]
        keys = [k.groupdeal_spec(deal), k.groupdeal_left(deal), k.groupdeal_counts(deal), k.groupdeal_deadlines(deal)]
        created = bool(int(await self._scripts.run("groupdeal_create", keys, args)))
        if created:
            await self._redis.sadd(k.groupdeals_of_venue(spec.venue), deal)
            log.info("group deal %s opened in %s: %d groups of %d", deal, spec.venue, spec.groups, spec.group_size)
        return created

    async def get_spec(self, deal_id: str) -> GroupDealSpec | None:
        if not valid_id(deal_id):
            return None
        raw = await self._redis.hgetall(self._keys.groupdeal_spec(deal_id))
        return GroupDealSpec.from_fields(flat_fields(raw)) if raw else None

    async def get_state(self, deal_id: str) -> DealState | None:
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(k.groupdeal_spec(deal_id))
        pipe.get(k.groupdeal_left(deal_id))
        pipe.hmget(k.groupdeal_counts(deal_id), ["open", "completed", "expired"])
        raw_spec, left, counts = await pipe.execute()
        if not raw_spec:
            return None
        open_, completed, expired = (int(c or 0) for c in counts)
        return DealState(GroupDealSpec.from_fields(flat_fields(raw_spec)), int(left or 0), open_, completed, expired)

    async def deal_ids_of_venues(self, venues: Sequence[str]) -> dict[str, list[str]]:
        """Deal ids of each venue that has any, sorted (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for venue in venues:
            pipe.smembers(self._keys.groupdeals_of_venue(venue))
        found = await pipe.execute()
        return {v: sorted(text(m) for m in ids) for v, ids in zip(venues, found, strict=True) if ids}

    async def unlist(self, deal_id: str, venue: str) -> None:
        """Remove a deal whose keys expired from its venue's deals."""
        await self._redis.srem(self._keys.groupdeals_of_venue(venue), deal_id)

    async def server_time_ms(self) -> int:
        return await server_time_ms(self._redis)

    # ---- buyers -------------------------------------------------------------------

    async def start(self, deal_id: str, user_id: str, request_id: str, payment_ref: str = "", *,
                    guide: GuideCredit | None = None, now_ms: int | None = None) -> JoinResult:  # fmt: skip
        """Start a group of the deal and pay for it (group_start.lua)."""
        if not valid_id(deal_id) or not valid_user_id(user_id):
            return JoinResult(JoinCode.NOT_FOUND, "")
        group_id = group_id_for(deal_id, user_id, request_id)
        k = self._keys
        keys = [k.groupdeal_spec(deal_id), k.groupdeal_left(deal_id), k.groupdeal_counts(deal_id),
                k.groupdeal_deadlines(deal_id), k.group(deal_id, group_id),
                k.group_members(deal_id, group_id)]  # fmt: skip
        args = [group_id, user_id, request_id, payment_ref, now_arg(now_ms), *_guide_args(guide)]
        return _result(group_id, await self._scripts.run("group_start", keys, args))

    async def join(self, group_id: str, user_id: str, request_id: str, payment_ref: str = "", *,
                   guide: GuideCredit | None = None, now_ms: int | None = None) -> JoinResult:  # fmt: skip
        """Join an open group and pay for it (group_join.lua); the N-th member completes it and
        every member's order is published (``apply``)."""
        deal_id = deal_of(group_id)
        if deal_id is None or not valid_user_id(user_id):
            return JoinResult(JoinCode.NOT_FOUND, group_id)
        k = self._keys
        keys = [k.groupdeal_counts(deal_id), k.groupdeal_deadlines(deal_id), k.group(deal_id, group_id),
                k.group_members(deal_id, group_id), k.groupdeal_outbox(deal_id)]  # fmt: skip
        args = [group_id, user_id, request_id, payment_ref, now_arg(now_ms), *_guide_args(guide)]
        result = _result(group_id, await self._scripts.run("group_join", keys, args))
        if result.code is JoinCode.COMPLETED:
            await self.apply(deal_id, [f"completed:{group_id}"])
        return result

    async def get_group(self, group_id: str) -> Group | None:
        deal_id = deal_of(group_id)
        if deal_id is None:
            return None
        raw = await self._redis.hgetall(self._keys.group(deal_id, group_id))
        return Group.from_fields(flat_fields(raw)) if raw else None

    async def is_member(self, deal_id: str, group_id: str, user_id: str) -> bool:
        """Whether ``user_id`` paid to be a member of the group."""
        return bool(await self._redis.hexists(self._keys.group_members(deal_id, group_id), user_id))

    async def members(self, group_id: str) -> list[Member]:
        """The group's paid members, in joining order."""
        deal_id = deal_of(group_id)
        if deal_id is None:
            return []
        raw = await self._redis.hgetall(self._keys.group_members(deal_id, group_id))
        found = [(orjson.loads(v)["n"], _member(text(u), v)) for u, v in raw.items()]
        return [m for _n, m in sorted(found, key=lambda pair: int(pair[0]))]

    async def open_groups(self, deal_id: str, limit: int = 50) -> list[Group]:
        """The deal's open groups, the nearest deadline first (at most ``limit``)."""
        k = self._keys
        ids = [text(m) for m in await self._redis.zrange(k.groupdeal_deadlines(deal_id), 0, limit - 1)]
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for group_id in ids:
            pipe.hgetall(k.group(deal_id, group_id))
        return [Group.from_fields(flat_fields(raw)) for raw in await pipe.execute() if raw]

    # ---- sweeper --------------------------------------------------------------------

    async def expire_due(self, deal_id: str, limit: int = 100, now_ms: int | None = None) -> list[str]:
        """Expire up to ``limit`` open groups past their deadline, refund their members; returns the
        groups this call expired.  Safe on every node at once: each group expires exactly once."""
        k = self._keys
        cutoff = now_ms if now_ms is not None else await self.server_time_ms()
        due = [text(m) for m in await self._redis.zrangebyscore(
            k.groupdeal_deadlines(deal_id), "-inf", f"({cutoff}", 0, limit)]  # fmt: skip
        if not due:
            return []
        keys = [k.groupdeal_counts(deal_id), k.groupdeal_left(deal_id), k.groupdeal_deadlines(deal_id),
                k.groupdeal_outbox(deal_id), *(k.group(deal_id, g) for g in due)]  # fmt: skip
        expired = [text(g) for g in await self._scripts.run("group_expire", keys, [now_arg(now_ms), *due])]
        if expired:
            log.info("group deal %s: %d groups expired", deal_id, len(expired))
            await self.apply(deal_id, [f"expired:{g}" for g in expired])
        return expired

    async def relay(self, deal_id: str, older_than_ms: int = 5_000, limit: int = 100,
                    now_ms: int | None = None) -> int:  # fmt: skip
        """Apply the deal's effects a node left undone (older than ``older_than_ms``)."""
        now = now_ms if now_ms is not None else await self.server_time_ms()
        members = await self._redis.zrangebyscore(
            self._keys.groupdeal_outbox(deal_id), "-inf", now - older_than_ms, 0, limit
        )
        if members:
            log.info("group deal %s: relaying %d outbox effects", deal_id, len(members))
            await self.apply(deal_id, [text(m) for m in members])
        return len(members)

    async def outbox_size(self, deal_id: str) -> int:
        return int(await self._redis.zcard(self._keys.groupdeal_outbox(deal_id)))

    async def apply(self, deal_id: str, effects: list[str]) -> None:
        """Publish the orders of completed groups and the refunds of expired ones (each once), then
        drop the effects; one that fails stays for the relay."""
        spec = await self.get_spec(deal_id)
        for effect in effects:
            kind, _, group_id = effect.partition(":")
            try:
                group = await self.get_group(group_id)
                if spec is not None and group is not None:
                    members = await self.members(group_id)
                    if kind == "completed" and group.status == COMPLETED:
                        for member in members:
                            await self._orders.publish(member_order(spec, group, member))
                    elif kind == "expired" and group.status == EXPIRED:
                        for member in members:
                            await self._refunds.refund(member_refund(spec, group, member))
                await self._redis.zrem(self._keys.groupdeal_outbox(deal_id), effect)
            except RedisError:
                log.warning("group deal %s: effect %s failed; left for the relay", deal_id, effect, exc_info=True)


def member_order(spec: GroupDealSpec, group: Group, member: Member) -> Order:
    """The order of a member of a completed group: one unit at the group price, confirmed when the
    group completed (``sale_id`` is the deal, ``reservation_id`` the group)."""
    return Order(
        order_id=member_order_id(spec.deal_id, group.group_id, member.user_id),
        reservation_id=group.group_id, sale_id=spec.deal_id, venue=spec.venue, brand=spec.brand, sku=spec.sku,
        user_id=member.user_id, qty=1, unit_price_cents=spec.group_price_cents,
        subtotal_cents=spec.group_price_cents, discount_cents=0, amount_cents=spec.group_price_cents,
        coupon_id=None, fulfilment=warehouse_delivery(None), guide_id=member.guide_id,
        guide_store=member.guide_store, payment_ref=member.payment_ref, created_at_ms=group.settled_at_ms,
    )  # fmt: skip


def member_refund(spec: GroupDealSpec, group: Group, member: Member) -> Refund:
    return Refund(refund_id(group.group_id, member.user_id), spec.deal_id, group.group_id, spec.venue,
                  member.user_id, spec.group_price_cents, member.payment_ref, group.settled_at_ms)  # fmt: skip


def _guide_args(guide: GuideCredit | None) -> list[str]:
    return [guide.guide_id, guide.store_id] if guide is not None else ["", ""]


def _result(group_id: str, reply: Any) -> JoinResult:
    code, detail = reply
    group = Group.from_fields(flat_fields(detail)) if detail else None
    return JoinResult(JoinCode(text(code)), group_id, group)
