"""The sale outbox: effects of a sale's scripts outside the sale's Redis Cluster slot.

pay.lua and expire.lua cannot touch the ``orders`` stream, a store's stock and order list, the
guide contest or a coupon's state: those keys live under other hash tags.  So each adds the
effect to the sale's outbox (a sorted set under ``{sale:<id>}``, scored by time) in the same
atomic step, and the node applies it right away (:meth:`Outbox.apply`), each step idempotent,
then removes the entry.  A node that dies in between leaves the entry: the sweeper's
:meth:`Outbox.relay` finishes it on any node.

Reconciliation settles what a node dying *between two steps* leaves with no outbox entry: a
store hold taken before the routing was recorded, a coupon lock taken before buy.lua ran.  Such
leftovers older than ``older_than_ms`` (far longer than a buy takes) are judged by what the
reservation says: paid -> commit, expired / served elsewhere / never created -> release, still
reserved -> left to its payment or expiry.
"""

from __future__ import annotations

import logging
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livehub.domain.presale_rules import is_presale_id, split_presale_id
from livehub.domain.sale_rules import order_id_for, split_id, text
from livehub.store.coupons import CouponStore
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderStore
from livehub.store.scripts import Scripts
from livehub.store.stores import settle_hold

log = logging.getLogger("livehub.store.outbox")


async def server_time_ms(redis: Redis) -> int:
    """Redis' own clock (TIME), the one every sale script judges windows and deadlines by."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


class Outbox:
    """Apply, relay and reconcile the cross-slot effects of sales (every method idempotent)."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, coupons: CouponStore, orders: OrderStore) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self._coupons = coupons
        self._orders = orders

    async def relay(
        self, sale_id: str, older_than_ms: int = 5_000, limit: int = 100, now_ms: int | None = None
    ) -> int:
        """Apply the sale's follow-up effects a node left undone (older than ``older_than_ms``)."""
        now = now_ms if now_ms is not None else await server_time_ms(self._redis)
        members = await self._redis.zrangebyscore(
            self._keys.sale_outbox(sale_id), "-inf", now - older_than_ms, 0, limit
        )
        if members:
            log.info("sale %s: relaying %d outbox effects", sale_id, len(members))
            await self.apply(sale_id, [text(m) for m in members], now_ms)
        return len(members)

    async def size(self, sale_id: str) -> int:
        return int(await self._redis.zcard(self._keys.sale_outbox(sale_id)))

    # ---- reconciliation: holds and locks a node left half done when it died ----------
    # A store hold is taken before the routing is recorded, a coupon lock before buy.lua
    # runs; a node dying in between leaves one that no reservation explains.  These
    # sweeps settle such leftovers older than ``older_than_ms`` (far longer than a buy
    # takes) by what the reservation says: paid -> commit, expired / elsewhere / never
    # created -> release, still reserved -> leave it to its payment or expiry.

    async def reconcile_store_holds(self, store_id: str, older_than_ms: int = 60_000, now_ms: int | None = None) -> int:
        """Settle a store's stale holds; returns how many this call settled."""
        now = now_ms if now_ms is not None else await server_time_ms(self._redis)
        settled = 0
        for hold_id, value in (await self._redis.hgetall(self._keys.store_holds(store_id))).items():
            rid, taken_at = text(hold_id), int(text(value).rsplit("|", 1)[1])
            if taken_at > now - older_than_ms:
                continue
            action = await self._verdict(rid, "store_id", store_id)
            if action is not None and await settle_hold(self._scripts, self._keys, store_id, rid, action):
                settled += 1
        if settled:
            log.info("store %s: settled %d stale holds", store_id, settled)
        return settled

    async def reconcile_coupon_locks(
        self, coupon_id: str, older_than_ms: int = 60_000, now_ms: int | None = None
    ) -> int:
        """Settle a coupon drop's stale locks; returns how many this call settled."""
        now = now_ms if now_ms is not None else await server_time_ms(self._redis)
        settled = 0
        for use_id, value in (await self._redis.hgetall(self._keys.coupon_uses(coupon_id))).items():
            state, _, rest = text(value).partition(":")  # "<state>:<user>:<ms>"
            if state != "locked" or int(rest.rsplit(":", 1)[1]) > now - older_than_ms:
                continue
            rid = text(use_id)
            action = await self._verdict(rid, "coupon_id", coupon_id)
            if action is not None and await self._coupons.settle(coupon_id, rid, action, now_ms):
                settled += 1
        if settled:
            log.info("coupon %s: settled %d stale locks", coupon_id, settled)
        return settled

    async def _verdict(self, rid: str, field: str, owner: str) -> Literal["commit", "release"] | None:
        """What a hold or lock of ``owner`` (recorded in the reservation's ``field``) deserves."""
        deposit, sep, _nonce = rid.partition("#")
        if sep and is_presale_id(deposit):  # a pre-sale balance payment's store hold (livehub.store.presales)
            presale_id, _ = split_presale_id(deposit)
            state, hold = await self._redis.hmget(self._keys.deposit(presale_id, deposit), ["state", "hold_id"])
            completed_here = state is not None and text(state) == "completed" and hold is not None and text(hold) == rid
            return "commit" if completed_here else "release"  # the completing attempt's hold, or an orphan
        try:
            sale_id, _ = split_id(rid)
        except ValueError:
            return "release"
        state, recorded = await self._redis.hmget(self._keys.reservation(sale_id, rid), ["state", field])
        if state is None or recorded is None or text(recorded) != owner:
            return "release"  # never reserved, never recorded (the node died) or served elsewhere
        if text(state) == "paid":
            return "commit"
        return "release" if text(state) == "expired" else None

    async def apply(
        self, sale_id: str, members: list[str], now_ms: int | None, order: Order | None = None
    ) -> None:
        """Apply outbox effects (each idempotent), then drop them; a failed one stays for the relay."""
        for member in members:
            kind, _, rid = member.partition(":")
            try:
                if kind == "paid":
                    await self._settle_paid(rid, order, now_ms)
                elif kind == "expired":
                    await self._settle_expired(sale_id, rid, now_ms)
                else:
                    log.warning("sale %s: unknown outbox effect %r dropped", sale_id, member)
                await self._redis.zrem(self._keys.sale_outbox(sale_id), member)
            except RedisError:
                log.warning("sale %s: effect %s failed; left for the relay", sale_id, member, exc_info=True)

    async def _settle_paid(self, rid: str, order: Order | None, now_ms: int | None) -> None:
        if order is None or order.reservation_id != rid:
            order = await self._orders.get(order_id_for(rid))
            if order is None:
                return
        await self._orders.publish(order)
        if order.store_id is not None:
            await settle_hold(self._scripts, self._keys, order.store_id, rid, "commit")
        if order.coupon_id is not None:
            await self._coupons.settle(order.coupon_id, rid, "commit", now_ms)

    async def _settle_expired(self, sale_id: str, rid: str, now_ms: int | None) -> None:
        store_id, coupon_id = await self._redis.hmget(self._keys.reservation(sale_id, rid), ["store_id", "coupon_id"])
        if store_id:
            await settle_hold(self._scripts, self._keys, text(store_id), rid, "release")
        if coupon_id:
            await self._coupons.settle(text(coupon_id), rid, "release", now_ms)
