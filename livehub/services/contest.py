"""The hourly contest: each hour's top guide is recorded as that hour's winner (the festival's
hourly cash prize), once, and can be queried afterwards.

Every node runs :meth:`HourlyContest.step` every ``guide_winner_interval_s``: it records the winner
of each of the last ``guide_winner_catch_up_hours`` hours that ended at least
``guide_winner_grace_s`` ago (guide_winner.lua: whichever node comes first records it; later calls
keep it).  The grace lets payments confirmed just before the hour's end reach the board; a credit
arriving after the winner was recorded still counts on the leaderboard but does not change the
winner.  A winner is the hour's top guide by sales (ties: as the leaderboard orders them, guide id
descending); an hour without a guide-attributed sale has no winner.  Winners are kept
``guide_winner_retention_s``.
"""

from __future__ import annotations

import logging
from typing import Any

from livehub.domain.attribution import ended_hours, hours_between
from livehub.domain.topology import Festival
from livehub.runtime.periodic import Periodic
from livehub.settings import Settings
from livehub.store.guides import GuideBoard, Winner

log = logging.getLogger("livehub.services.contest")


class HourlyContest:
    def __init__(self, settings: Settings, festival: Festival, guides: GuideBoard) -> None:
        self.settings = settings
        self.festival = festival
        self.guides = guides
        self._periodic = Periodic()

    def start(self) -> None:
        self._periodic.start(self.settings.guide_winner_interval_s, self._step_now, "guide-winners")

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _step_now(self) -> None:
        await self.step(await self.guides.server_time_ms())

    async def step(self, now_ms: int) -> list[Winner]:
        """Record the winners of the hours that ended (see the module); the winners this call recorded."""
        s = self.settings
        recorded = []
        for hour in ended_hours(now_ms, 1000 * s.guide_winner_grace_s, s.guide_winner_catch_up_hours):
            state, winner = await self.guides.record_winner(hour, now_ms, s.guide_winner_retention_s)
            if state == "recorded" and winner is not None:
                log.info("guide contest: %s won hour %s with %d cents", winner.guide_id, hour, winner.sales_cents)
                recorded.append(winner)
        return recorded

    async def winners(self, first: str, last: str) -> dict[str, Any]:
        """The recorded winners of the hours ``first`` .. ``last`` (YYYYMMDDHH, UTC, both included), with
        the guides' names; ValueError when the span is malformed, reversed or longer than allowed."""
        hours = hours_between(first, last)
        if not hours:
            raise ValueError("'to' must not be before 'from'")
        if len(hours) > self.settings.guide_winners_max_hours:
            raise ValueError(f"at most {self.settings.guide_winners_max_hours} hours at once")
        rows = []
        for w in await self.guides.winners(hours):
            g = self.festival.guides.get(w.guide_id)
            rows.append({"hour": w.hour, "guide_id": w.guide_id, "name": g.name if g else w.guide_id,
                         "store": g.store if g else None, "brand": g.brand if g else None,
                         "sales_cents": w.sales_cents, "commission_cents": w.commission_cents,
                         "recorded_at_ms": w.recorded_at_ms})  # fmt: skip
        return {"from": first, "to": last, "winners": rows}
