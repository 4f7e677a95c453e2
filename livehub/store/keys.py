"""Every Redis key and pub/sub channel name livehub uses, built in one place.

Keys that one Lua script touches together share a hash tag (the part in
braces), so each script stays on one Redis Cluster slot:

* ``{ch:<channel>}`` - a hub channel's position (epoch, offset), history stream
  and latest-value state.
* ``{sale:<id>}`` - one flash sale: stock, per-user counts, idempotency
  answers, reservations, its event stream.
* ``{coupon:<id>}`` - one coupon drop.
* ``{presale:<id>}`` - one pre-sale: stock, counts, deposits, its orders, events, refunds.
* ``{store:<id>}`` - one store's stock and order index.
* ``{brand:<id>}`` - a brand's GEO index of stores.
* ``{guides:<hour>}`` - one hour's guide leaderboard.
* ``{festival:<id>}`` - the festival's admin edits, their version and request markers.
* ``{stats:<scope>}`` - one scope's live numbers (a venue's, the festival's): livehub.store.stats.
* ``{mod}`` - the festival's moderation: mutes, bans, slow modes, deleted comments, the audit log.
* ``{user:<id>}`` - one user's lasting guide attribution.
* ``{user:<id>}`` - one buyer's index of their reservations, orders, group buys (my orders).
* ``{group:<deal>}`` - one group deal and all its groups (livehub.store.groups).
* ``{refunds}`` - the refunds stream and its once-markers (livehub.store.refunds).
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

    def sale_user_reservations(self, sale_id: str) -> str:
        """Hash user id -> the user's reservation ids in the sale, space-separated (buy.lua appends each
        new one): what a buyer's "my orders" entry of the sale lists (livehub.services.my_orders)."""
        return f"{self.prefix}:{{sale:{sale_id}}}:user_rids"

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

    # One pre-sale, all under ``{presale:<id>}`` (the presale_*.lua scripts touch them together).
    def presale_spec(self, presale_id: str) -> str:
        """Hash: the pre-sale's spec (livehub.domain.presale_rules.PresaleSpec)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:spec"

    def presale_stock(self, presale_id: str) -> str:
        """Integer: units available for a deposit now."""
        return f"{self.prefix}:{{presale:{presale_id}}}:stock"

    def presale_counts(self, presale_id: str) -> str:
        """Hash: units per deposit state (deposit_due, balance_due, completed, lapsed, forfeited, refunded)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:counts"

    def presale_users(self, presale_id: str) -> str:
        """Hash user id -> units the user holds (deposit_due + balance_due + completed)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:users"

    def presale_deadlines(self, presale_id: str) -> str:
        """Sorted set deposit id -> deposit payment deadline (unix ms) of deposits still due."""
        return f"{self.prefix}:{{presale:{presale_id}}}:deadlines"

    def presale_balances(self, presale_id: str) -> str:
        """Sorted set deposit id -> deposit paid at (unix ms) of deposits whose balance is due."""
        return f"{self.prefix}:{{presale:{presale_id}}}:balances"

    def presale_events(self, presale_id: str) -> str:
        """Stream of deposited / deposit_paid / completed / lapsed / forfeited / refunded events (MAXLEN ~)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:events"

    def presale_refunds(self, presale_id: str) -> str:
        """Stream of deposits to refund (the payment integration reads it; MAXLEN ~)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:refunds"

    def presale_outbox(self, presale_id: str) -> str:
        """Sorted set "completed:<deposit id>" -> unix ms: the order's effects outside the pre-sale's slot."""
        return f"{self.prefix}:{{presale:{presale_id}}}:outbox"

    def deposit(self, presale_id: str, deposit_id: str) -> str:
        """Hash: one deposit (its id is derived from user and request id: it is the idempotency key)."""
        return f"{self.prefix}:{{presale:{presale_id}}}:dep:{deposit_id}"

    def presale_order(self, presale_id: str, order_id: str) -> str:
        """Hash: the order of a deposit whose balance is paid, written once by presale_balance.lua."""
        return f"{self.prefix}:{{presale:{presale_id}}}:order:{order_id}"

    def presales_of_venue(self, venue: str) -> str:
        """Set of pre-sale ids of a venue."""
        return f"{self.prefix}:venue-presales:{{v:{venue}}}"

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
        """Sorted set of the order ids a consumer group has handled (idempotent consumers), scored by
        when (unix ms): trimmed by age as it is written (livehub.store.orders.OrderConsumer)."""
        return f"{self.prefix}:{{orders}}:handled:{group}"

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

    # The festival's admin edits (livehub.store.festival_edits), all under ``{festival:<id>}``.
    def festival_edits(self, festival: str) -> str:
        """Hash ``<section>:<record id>`` -> the record's JSON: the admin overlay on the festival file."""
        return f"{self.prefix}:{{festival:{festival}}}:edits"

    def festival_version(self, festival: str) -> str:
        """Integer: the overlay's version, +1 per applied batch (absent: 0, the file alone)."""
        return f"{self.prefix}:{{festival:{festival}}}:version"

    def festival_edit_done(self, festival: str, request_id: str) -> str:
        """String (with a TTL): the version an admin request made (a retry applies nothing again)."""
        return f"{self.prefix}:{{festival:{festival}}}:done:{request_id}"
    # Live numbers, one scope (``v:<venue>`` or ``festival``) under ``{stats:<scope>}`` (stats_count.lua).
    def stats_counted(self, scope: str, order_id: str) -> str:
        """Marker (SET NX, with a TTL): the order is counted in the scope's numbers."""
        return f"{self.prefix}:{{stats:{scope}}}:counted:{order_id}"

    def stats_totals(self, scope: str) -> str:
        """Hash: gmv_cents, orders, units of the scope's confirmed orders."""
        return f"{self.prefix}:{{stats:{scope}}}:totals"

    def stats_minute(self, scope: str, minute_ms: int) -> str:
        """Hash: orders, gmv_cents confirmed in one UTC minute (expires after ``stats_minutes_kept``)."""
        return f"{self.prefix}:{{stats:{scope}}}:min:{minute_ms}"

    def stats_buyers(self, scope: str) -> str:
        """HyperLogLog of the scope's buyers (user ids)."""
        return f"{self.prefix}:{{stats:{scope}}}:buyers"

    def stats_viewers(self, scope: str) -> str:
        """HyperLogLog of the scope's viewers (whoever joined: user id, or IP for anonymous viewers)."""
        return f"{self.prefix}:{{stats:{scope}}}:viewers"

    def stats_brands(self, scope: str) -> str:
        """Sorted set brand id -> GMV (cents) of the scope's orders."""
        return f"{self.prefix}:{{stats:{scope}}}:brands"

    def stats_stores(self, scope: str) -> str:
        """Sorted set store id -> GMV (cents) of the scope's orders fulfilled by a store."""
        return f"{self.prefix}:{{stats:{scope}}}:stores"

    def stats_peak(self, scope: str) -> str:
        """Sorted set, one member "online": the scope's highest online count seen (ZADD GT)."""
        return f"{self.prefix}:{{stats:{scope}}}:peak"

    def sale_sold_out_at(self, sale_id: str) -> str:
        """String (SET NX): unix ms when the sale was first seen sold out (within one stats tick)."""
        return f"{self.prefix}:{{sale:{sale_id}}}:soldout-at"
    # Moderation, all under ``{mod}`` (moderate.lua changes one of them and appends to the audit log).
    def moderation_mutes(self) -> str:
        """Sorted set "<venue>|<user>" -> until unix ms: the mutes in force."""
        return f"{self.prefix}:{{mod}}:mutes"

    def moderation_bans(self) -> str:
        """Sorted set user -> until unix ms: the festival bans in force."""
        return f"{self.prefix}:{{mod}}:bans"

    def moderation_slow(self) -> str:
        """Hash venue -> interval s: the rooms in slow mode."""
        return f"{self.prefix}:{{mod}}:slow"

    def moderation_deleted(self, venue: str, comment_id: str) -> str:
        """String (SET NX, with a TTL): this comment was deleted (a second delete is a duplicate)."""
        return f"{self.prefix}:{{mod}}:deleted:{venue}:{comment_id}"

    def moderation_once(self, actor: str, request_id: str) -> str:
        """String (with a TTL): the answer to a moderation request with this id ("at|until|audit id")."""
        return f"{self.prefix}:{{mod}}:once:{actor}:{request_id}"

    def moderation_audit(self) -> str:
        """Stream of moderation actions (at, by, role, action, venue, target, until, interval), MAXLEN ~."""
        return f"{self.prefix}:{{mod}}:audit"
    def guides_winner(self, hour: str) -> str:
        """Hash guide, sales_cents, commission_cents, recorded_at_ms: the hour's winner, recorded once."""
        return f"{self.prefix}:{{guides:{hour}}}:winner"

    def guides_orders(self, hour: str, guide_id: str) -> str:
        """List of "order id|amount cents|commission cents", newest first: a guide's latest credited orders."""
        return f"{self.prefix}:{{guides:{hour}}}:orders:{guide_id}"

    # A user's lasting guide attribution, under ``{user:<id>}`` (livehub.store.attribution).
    def user_guide(self, user_id: str) -> str:
        """String (first touch, with a TTL): the guide whose share code first brought the user in."""
        return f"{self.prefix}:{{user:{user_id}}}:guide"
    # One group deal and all its groups, under ``{group:<deal>}`` (livehub.store.groups).
    def groupdeal_spec(self, deal_id: str) -> str:
        """Hash: the deal's spec (venue, brand, sku, group size and price, groups, window, group ttl)."""
        return f"{self.prefix}:{{group:{deal_id}}}:spec"

    def groupdeal_left(self, deal_id: str) -> str:
        """Integer: groups that can still be started."""
        return f"{self.prefix}:{{group:{deal_id}}}:left"

    def groupdeal_counts(self, deal_id: str) -> str:
        """Hash: open, completed, expired (groups); groups == left + open + completed."""
        return f"{self.prefix}:{{group:{deal_id}}}:counts"

    def groupdeal_deadlines(self, deal_id: str) -> str:
        """Sorted set group id -> deadline (unix ms) of the deal's open groups."""
        return f"{self.prefix}:{{group:{deal_id}}}:deadlines"

    def groupdeal_outbox(self, deal_id: str) -> str:
        """Sorted set "completed:<group>" / "expired:<group>" -> unix ms: orders and refunds to publish."""
        return f"{self.prefix}:{{group:{deal_id}}}:outbox"

    def group(self, deal_id: str, group_id: str) -> str:
        """Hash: one group (state, size, joined, deadline, starter, settled time)."""
        return f"{self.prefix}:{{group:{deal_id}}}:g:{group_id}"

    def group_members(self, deal_id: str, group_id: str) -> str:
        """Hash user id -> the member's payment (JSON: request id, payment ref, time, guide)."""
        return f"{self.prefix}:{{group:{deal_id}}}:m:{group_id}"

    def groupdeals_of_venue(self, venue: str) -> str:
        """Set of group deal ids opened in a venue."""
        return f"{self.prefix}:venue-groupdeals:{{v:{venue}}}"

    # Refunds, for the payment provider (livehub.store.refunds).
    def refunds_stream(self) -> str:
        """Stream of refunds to pay back, read by the provider's worker with a consumer group."""
        return f"{self.prefix}:{{refunds}}:stream"

    def refund_published(self, refund_id: str) -> str:
        """Marker: the refund is in the refunds stream (refund_publish.lua appends each refund once)."""
        return f"{self.prefix}:{{refunds}}:published:{refund_id}"

    def refunds_settled(self) -> str:
        """Hash refund id -> "<provider ref>|<unix ms>": refunds paid back (the demo settles at once)."""
        return f"{self.prefix}:{{refunds}}:settled"
