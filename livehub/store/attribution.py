"""A user's lasting guide attribution on Redis: first touch, per user, for a set time.

The first share code a signed-in user presents (``?guide=`` of the websocket or of an HTTP
buy) is remembered under ``{user:<id>}:guide`` for ``ttl_s`` seconds (the
``guide_attribution_ttl_s`` setting), across reconnects, nodes and devices.  A later share code
does not overwrite it while it lasts; once it has expired the next code presented takes over
(guide_attribute.lua).  The TTL counts from the first touch: coming back does not extend it.
Which guide a code names, and whether a remembered guide still counts, is decided in
``livehub.domain.attribution``.
"""

from __future__ import annotations

from redis.asyncio import Redis

from livehub.domain.sale_rules import text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts


class AttributionStore:
    """First-touch guide attribution per user id."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, ttl_s: int) -> None:
        if ttl_s <= 0:
            raise ValueError("attribution ttl must be > 0")
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.ttl_s = ttl_s

    async def touch(self, user_id: str, guide_id: str) -> str:
        """The user presents ``guide_id``'s share code: the guide the user is attributed to now
        (an earlier, unexpired attribution wins; otherwise ``guide_id``, remembered from now)."""
        got = await self._scripts.run("guide_attribute", [self._keys.user_guide(user_id)], [guide_id, self.ttl_s])
        return text(got)

    async def lookup(self, user_id: str) -> str | None:
        """The guide the user is attributed to, None when none is (or it expired).  Through the script
        batcher like :meth:`touch`, so a storm of connects costs pipelines, not a round trip each."""
        got = text(await self._scripts.run("guide_attribute", [self._keys.user_guide(user_id)], ["", self.ttl_s]))
        return got or None

    async def ttl(self, user_id: str) -> int:
        """Seconds the user's attribution still lasts (Redis TTL: -2 when there is none)."""
        return int(await self._redis.ttl(self._keys.user_guide(user_id)))
