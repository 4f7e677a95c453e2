"""The hourly guide leaderboard as hosts and the HTTP API see it (names, stores, brands)."""

from __future__ import annotations

from typing import Any

from livehub.domain.attribution import hour_bucket
from livehub.domain.topology import Festival
from livehub.protocol.events import now_ms
from livehub.services.views import leaderboard_view
from livehub.store.guides import GuideBoard


class Leaderboard:
    def __init__(self, festival: Festival, guides: GuideBoard) -> None:
        self.festival = festival
        self.guides = guides

    async def top(self, hour: str | None = None, n: int = 10) -> dict[str, Any]:
        """The ``n`` best guides of ``hour`` (``YYYYMMDDHH`` UTC; default: this hour)."""
        hour = hour or hour_bucket(now_ms())
        return leaderboard_view(self.festival, hour, await self.guides.top(hour, n))
