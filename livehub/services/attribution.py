"""Which guide a connection or an HTTP buy is attributed to: the share code it presents, and the
user's lasting first-touch attribution (livehub.domain.attribution, livehub.store.attribution).

It is asked once per websocket connection (at connect; the answer is kept on the connection, so
a buy costs no extra Redis round trip) and once per HTTP buy or grab.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from livehub.domain.attribution import attribute, lasting
from livehub.domain.tokens import Identity
from livehub.domain.topology import Festival
from livehub.store.attribution import AttributionStore

log = logging.getLogger("livehub.services.attribution")


class Attribution:
    def __init__(self, festival: Festival, store: AttributionStore) -> None:
        self.festival = festival
        self.store = store

    async def guide_of(self, identity: Identity, share_code: str | None) -> str | None:
        """The guide id ``identity`` is attributed to when it presents ``share_code`` (or none).

        A signed-in non-host user: the remembered guide, or the code's guide remembered from now
        (first touch).  An anonymous viewer or a host: the code's guide, for this session only.
        Redis failing here costs the lasting part only: the code's guide is used.
        """
        offered = attribute(share_code, self.festival)
        if identity.is_anonymous or identity.is_host:
            return offered.id if offered is not None else None
        try:
            if offered is not None:
                remembered: str | None = await self.store.touch(identity.sub, offered.id)
            else:
                remembered = await self.store.lookup(identity.sub)
        except RedisError as exc:
            log.warning("guide attribution unavailable: %s", exc)
            remembered = None
        guide = lasting(remembered, self.festival) or offered
        return guide.id if guide is not None else None
