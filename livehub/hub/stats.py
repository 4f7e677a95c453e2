"""Hot-path counters: plain integers, bumped without locks on the event loop
and read by the Prometheus collector (livehub.runtime.metrics) only at scrape time."""

from __future__ import annotations


class Stats:
    __slots__ = (
        "batched_writes", "bytes_sent", "coalesced", "connections_total", "dropped", "events_in",
        "frames_sent", "gaps_filled", "inbound_errors", "join_failures", "position_checks", "recovery_fresh",
        "recovery_replayed", "resyncs", "slow_closes", "writes",
    )  # fmt: skip

    def __init__(self) -> None:
        self.frames_sent = 0  # frames delivered to connections (a batch of k counts k)
        self.bytes_sent = 0
        self.writes = 0  # transport writes by broadcasts
        self.batched_writes = 0  # writes that carried more than one frame
        self.coalesced = 0  # latest-value updates replaced before they were sent
        self.dropped = 0  # volatile updates dropped (comment sampling)
        self.slow_closes = 0
        self.recovery_replayed = 0
        self.recovery_fresh = 0
        self.events_in = 0
        self.gaps_filled = 0
        self.resyncs = 0
        self.inbound_errors = 0
        self.connections_total = 0
        self.join_failures = 0  # joins that met a Redis failure (answered unavailable, no half state)
        self.position_checks = 0  # channel positions compared with Redis (livehub.hub.gapfill)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
