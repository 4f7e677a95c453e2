"""One channel as this node holds it: its subscribers per codec, its join buffers, the batch
waiting to be flushed, its last delivered position, and the flags of a sliced broadcast or a
gap fill in progress.

:class:`Channel` is plain state shared by the hub's parts: :mod:`livehub.hub.fanout` (the hot
path: batching and writing), :mod:`livehub.hub.subscriptions` (who joins and leaves, and the
broker subscription) and :mod:`livehub.hub.gapfill` (order guards).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from livehub.hub.connection import Connection
from livehub.protocol.codec import CODECS
from livehub.protocol.events import Event, Volatile

Item = Event | Volatile


class Channel:
    __slots__ = (
        "departed", "epoch", "fanning", "filling", "floors", "held", "joining", "name", "offset", "pending",
        "pending_keys", "ready", "release", "subs",
    )  # fmt: skip

    def __init__(self, name: str) -> None:
        self.name = name
        self.subs: list[dict[Connection, None]] = [{} for _ in CODECS]  # live subscribers per codec
        self.joining: dict[Connection, list[Item]] = {}  # join buffers
        self.pending: list[Item] = []
        self.pending_keys: dict[str, int] = {}  # volatile key -> index in pending
        self.epoch: str | None = None  # position of the last event delivered on this node
        self.offset = 0
        self.ready: asyncio.Future[None] | None = None  # broker subscription confirmed
        self.release: asyncio.TimerHandle | None = None  # delayed broker unsubscribe
        self.filling = False  # a gap fill is running; live events are held meanwhile
        self.held: list[Item] = []
        self.fanning = False  # a batch is being written slice by slice (Hub._write_slices)
        self.departed: set[Connection] = set()  # left the channel while it was fanning: skipped
        # live connections whose snapshot is ahead of what this node delivered: events up to their
        # floor offset are skipped for them (the snapshot covers them); dropped once delivered past
        self.floors: dict[Connection, int] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self.subs) + len(self.joining)

    def connections(self) -> Iterator[Connection]:
        for subs in self.subs:
            yield from subs
        yield from self.joining
