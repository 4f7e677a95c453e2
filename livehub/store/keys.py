"""Every Redis key and pub/sub channel name livehub uses, built in one place.

Keys that one Lua script touches together share a hash tag (the part in
braces), so each script stays on one Redis Cluster slot:

* ``{ch:<channel>}`` - a hub channel's position (epoch, offset), history stream
  and latest-value state.
* ``{sale:<id>}`` - one flash sale: stock, per-user counts, idempotency
  answers, reservations, its event stream.
* ``{coupon:<id>}`` - one coupon drop.
* ``{store:<id>}`` - one store's stock and order index.
* ``{brand:<id>}`` - a brand's GEO index of stores.
* ``{guides:<hour>}`` - one hour's guide leaderboard.
* ``{user:<id>}`` - one buyer's index of their reservations, orders, group buys (my orders).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "lh"

    # ---- hub channels -------------------------------------------------------
    def channel_meta(self, channel: str) -> str:
        """Hash: epoch, offset."""
        return f"{self.prefix}:{{ch:{channel}}}:meta"

    def channel_history(self, channel: str) -> str:
        """Stream of the channel's recent events; entry id ``0-<offset>``."""
        return f"{self.prefix}:{{ch:{channel}}}:hist"

    def channel_state(self, channel: str) -> str:
        """Hash of latest-value state (pinned card, co-host, ...), JSON values."""
        return f"{self.prefix}:{{ch:{channel}}}:state"

    def pubsub(self, channel: str) -> str:
        """Pub/sub channel carrying the channel's events to every node."""
        return f"{self.prefix}:pub:{channel}"

    def pubsub_pattern_prefix(self) -> str:
        return f"{self.prefix}:pub:"

    # ---- audience signals ---------------------------------------------------
    def online(self, venue: str) -> str:
        """Hash node-id -> "count:unix_ms"; the venue's online count is the sum of fresh fields."""
        return f"{self.prefix}:online:{{v:{venue}}}"

    def likes(self, venue: str) -> str:
        """Integer: total likes of a venue."""
        return f"{self.prefix}:likes:{{v:{venue}}}"

    # ---- festival registry --------------------------------------------------
    def sales_of_venue(self, venue: str) -> str:
        """Set of sale ids running in a venue."""
        return f"{self.prefix}:venue-sales:{{v:{venue}}}"

    def stores_loaded(self, festival: str) -> str:
        """String (SET NX, the loading node's id): the festival's stores are indexed; once per festival."""
        return f"{self.prefix}:stores-loaded:{festival}"

    # ---- commerce ----
    # One flash sale, all under ``{sale:<id>}`` (buy.lua, pay.lua, expire.lua touch them together).
    def sale_spec(self, sale_id: str) -> str:
        """Hash: the sale's spec (venue, brand, sku, stock, price, limit, window, reservation ttl)."""
        return f"{self.prefix}:{{sale:{sale_id}}}:spec"

    def sale_sold_out(self, sale_id: str, returned: int) -> str:
        """String (SET NX, with a TTL): "sold out" was announced for this sell-out; ``returned`` is how
        many units ever came back (expired), so a later sell-out after a return is announced again."""
        return f"{self.sale_spec(sale_id)}:soldout:{returned}"

    def sale_stock(self, sale_id: str) -> str:
        """Integer: units available to buy now."""
        return f"{self.prefix}:{{sale:{sale_id}}}:stock"

    def sale_counts(self, sale_id: str) -> str:
        """Hash: reserved, sold, expired (units); initial == stock + reserved + sold."""
        return f"{self.prefix}:{{sale:{sale_id}}}:counts"

    def sale_users(self, sale_id: str) -> str:
        """Hash user id -> units the user holds (reserved + paid) against the per-user limit."""
        return f"{self.prefix}:{{sale:{sale_id}}}:users"

    def sale_deadlines(self, sale_id: str) -> str:
        """Sorted set reservation id -> payment deadline (unix ms) of unpaid reservations."""
        return f"{self.prefix}:{{sale:{sale_id}}}:deadlines"

    def sale_events(self, sale_id: str) -> str:
        """Stream of reserved / paid / expired events, trimmed with MAXLEN ~."""
        return f"{self.prefix}:{{sale:{sale_id}}}:events"

    def sale_outbox(self, sale_id: str) -> str:
        """Sorted set "paid:<rid>" / "expired:<rid>" -> unix ms: follow-up effects outside the sale's slot."""
        return f"{self.prefix}:{{sale:{sale_id}}}:outbox"

    def reservation(self, sale_id: str, reservation_id: str) -> str:
        """Hash: one reservation (its id is derived from user and request id: it is the idempotency key)."""
        return f"{self.prefix}:{{sale:{sale_id}}}:res:{reservation_id}"

    def order(self, sale_id: str, order_id: str) -> str:
        """Hash: one confirmed order, written once by pay.lua."""
        return f"{self.prefix}:{{sale:{sale_id}}}:order:{order_id}"

    # One coupon drop, all under ``{coupon:<id>}``.
    def coupon_spec(self, coupon_id: str) -> str:
        """Hash: venue, issuer, value, min spend, per-user limit, expiry, total."""
        return f"{self.prefix}:{{coupon:{coupon_id}}}:spec"

    def coupon_left(self, coupon_id: str) -> str:
        """Integer: coupons still to grab."""
        return f"{self.prefix}:{{coupon:{coupon_id}}}:left"

    def coupon_grabs(self, coupon_id: str) -> str:
        """Hash user id -> coupons grabbed (ever; held against the per-user limit)."""
        return f"{self.prefix}:{{coupon:{coupon_id}}}:grabs"

    def coupon_wallet(self, coupon_id: str) -> str:
        """Hash user id -> grabbed coupons not yet locked or used."""
        return f"{self.prefix}:{{coupon:{coupon_id}}}:wallet"

    def coupon_uses(self, coupon_id: str) -> str:
        """Hash use id (a reservation id) -> "locked|used|released:<user>:<ms>"."""
        return f"{self.prefix}:{{coupon:{coupon_id}}}:uses"

    def coupons_of_venue(self, venue: str) -> str:
        """Set of coupon ids dropped into a venue."""
        return f"{self.prefix}:venue-coupons:{{v:{venue}}}"

    # Stores: a GEO index per brand, and each store's own keys.
    def brand_stores(self, brand: str) -> str:
        """GEO set of the brand's store ids."""
        return f"{self.prefix}:{{brand:{brand}}}:geo"

    def store_stock(self, store_id: str) -> str:
        """Hash sku -> units on hand."""
        return f"{self.prefix}:{{store:{store_id}}}:stock"

    def store_holds(self, store_id: str) -> str:
        """Hash reservation id -> "sku|qty|ms": units taken for a reservation not yet paid."""
        return f"{self.prefix}:{{store:{store_id}}}:holds"

    def store_orders(self, store_id: str) -> str:
        """Sorted set order id -> created unix ms: the store's orders (pickups)."""
        return f"{self.prefix}:{{store:{store_id}}}:orders"

    def store_pickups(self, store_id: str) -> str:
        """Hash order id -> "<code>" (waiting) | "<code>|<picked up unix ms>|<staff id>": the store's pickups."""
        return f"{self.prefix}:{{store:{store_id}}}:pickups"

    def store_pickup_codes(self, store_id: str) -> str:
        """Hash pickup code -> order id: the codes the store hands over against (unique per store)."""
        return f"{self.prefix}:{{store:{store_id}}}:pickup-codes"

    def store_pickup_misses(self, store_id: str) -> str:
        """Integer with a TTL: wrong pickup codes tried at the store in the current window."""
        return f"{self.prefix}:{{store:{store_id}}}:pickup-misses"

    def store_audit(self, store_id: str) -> str:
        """Stream of the store's stock adjustments and hand-overs (who, what, when), trimmed with MAXLEN ~."""
        return f"{self.prefix}:{{store:{store_id}}}:audit"

    def store_adjusted(self, store_id: str, request_id: str) -> str:
        """String with a TTL: the answer of a stock adjustment request (a retry answers it again)."""
        return f"{self.prefix}:{{store:{store_id}}}:adjusted:{request_id}"

    # Orders, for downstream systems.
    def orders_stream(self) -> str:
        """Stream of confirmed orders, read with consumer groups."""
        return f"{self.prefix}:{{orders}}:stream"

    def order_published(self, order_id: str) -> str:
        """Marker: the order is in the orders stream (order_publish.lua appends each order once)."""
        return f"{self.prefix}:{{orders}}:published:{order_id}"

    def orders_done(self, group: str) -> str:
        """Set of order ids a consumer group has handled (idempotent consumers)."""
        return f"{self.prefix}:{{orders}}:done:{group}"

    # One buyer's "my orders", all under ``{user:<id>}`` (livehub.store.my_orders).
    def user_orders(self, user_id: str) -> str:
        """Sorted set "<kind>|<venue>|<id>" -> unix ms: the buyer's reservations, orders, group buys, ..."""
        return f"{self.prefix}:{{user:{user_id}}}:orders"

    def user_orders_pending(self, user_id: str) -> str:
        """Hash entry -> attempts that noted it and have not failed (an entry goes only when all failed)."""
        return f"{self.prefix}:{{user:{user_id}}}:orders:pending"

    # One hour of the guide contest, all under ``{guides:<hour>}``.
    def guides_sales(self, hour: str) -> str:
        """Sorted set guide id -> sales (cents) in the hour."""
        return f"{self.prefix}:{{guides:{hour}}}:sales"

    def guides_commission(self, hour: str) -> str:
        """Hash guide id -> commission (cents) earned in the hour."""
        return f"{self.prefix}:{{guides:{hour}}}:commission"

    def guides_stores(self, hour: str) -> str:
        """Sorted set store id -> guide-attributed sales (cents) in the hour."""
        return f"{self.prefix}:{{guides:{hour}}}:stores"

    def guides_credited(self, hour: str) -> str:
        """Set of order ids already credited in the hour (crediting is idempotent)."""
        return f"{self.prefix}:{{guides:{hour}}}:credited"
