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
