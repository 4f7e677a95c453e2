"""Changing the festival while it runs: admin edits, CSV imports, and every node catching up.

The festival file is the seed; the admin overlay lives in Redis (livehub.store.festival_edits).
An edit is validated by the festival's own pure checks (livehub.domain.festival_edit.stage, in a
worker thread: a 10,000-row import rebuilds the whole festival), written in one script if the
overlay did not change meanwhile (else validated again, at most ``RETRIES`` times), then the
stores it names are put in their brand's GEO index with the units it sets, the node adopts the
new festival (``adopt``: one synchronous swap of every holder's reference, livehub.node) and
pokes the others on the backplane channel ``FESTIVAL_CHANNEL``.  Every node also compares the
overlay's version every ``festival_sync_interval_s`` (a missed poke, a node started later) and
rebuilds from the seed plus the whole overlay when it changed.  A batch applies whole or not at
all; ``dry_run`` validates and reports without writing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker
from livehub.domain.festival import FestivalError
from livehub.domain.festival_edit import (
    Batch,
    EditRefused,
    Edits,
    RowProblem,
    Staged,
    apply_edits,
    parse_csv,
    stage,
)
from livehub.domain.topology import Festival
from livehub.runtime.periodic import Periodic
from livehub.settings import Settings
from livehub.store.festival_edits import CHANGED, DONE_BEFORE, FestivalEdits
from livehub.store.stores import StoreIndex

log = logging.getLogger("livehub.services.festival_admin")

FESTIVAL_CHANNEL = "admin:festival"  # backplane channel of "the overlay has a new version" (ids hold no ':')
RETRIES = 3
MAX_REQUEST_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class EditAnswer:
    version: int
    applied: bool  # False: a dry run
    created: int
    updated: int
    duplicate: bool = False  # this request id was applied before: nothing applied again

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "applied": self.applied,
                "created": self.created, "updated": self.updated, "duplicate": self.duplicate}  # fmt: skip


class FestivalAdmin:
    """The admin edits of one node's festival and its catching up with the other nodes'."""

    def __init__(
        self, settings: Settings, seed: Festival, edits: FestivalEdits, stores: StoreIndex, broker: Broker,
        adopt: Callable[[Festival], None],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.seed = seed
        self.edits_store = edits
        self.stores = stores
        self.broker = broker
        self.adopt = adopt
        self.festival = seed
        self.version = 0
        self.edits: Edits = {}
        self.unfit = False  # the stored overlay does not fit the festival file: no edits on top of it
        self._lock = asyncio.Lock()  # one rebuild or edit of this node at a time
        self.jobs = Periodic()
        self._poke: asyncio.Task[None] | None = None  # at most one catch-up after pokes at a time
        self._poked_again = False

    async def start(self) -> None:
        """Serve the latest overlay before the node accepts anyone, then keep checking its version."""
        await self.sync()
        await self.broker.subscribe(FESTIVAL_CHANNEL)
        self.jobs.start(self.settings.festival_sync_interval_s, self.sync, "festival-sync")

    async def stop(self) -> None:
        await self.jobs.stop()
        if self._poke is not None:
            self._poke.cancel()

    def poked(self) -> None:
        """Another node applied an edit (a message on ``FESTIVAL_CHANNEL``): catch up now.  Pokes
        arriving during a catch-up make one more, never a task each."""
        self._poked_again = True
        if self._poke is None or self._poke.done():
            self._poke = asyncio.get_running_loop().create_task(self._catch_up(), name="livehub-festival-poke")

    async def _catch_up(self) -> None:
        while self._poked_again:
            self._poked_again = False
            try:
                await self.sync()
            except Exception as exc:  # the periodic check tries again
                log.warning("festival catch-up after a poke failed: %s", exc)
                return

    async def sync(self) -> bool:
        """Adopt the overlay's latest version if this node serves an older one; True when it did."""
        if await self.edits_store.version() == self.version:
            return False
        async with self._lock:
            version, edits = await self.edits_store.load()
            if version == self.version:
                return False
            try:
                festival = await asyncio.to_thread(apply_edits, self.seed, edits, f"admin edits v{version}")
            except FestivalError as exc:  # cannot happen through stage(); a hand-edited overlay: keep serving
                log.error("admin edits version %d do not fit the festival file; still serving version %d: %s",
                          version, self.version, exc)  # fmt: skip
                self.version, self.unfit = version, True  # reported once; edits refused until fixed
                return False
            self._adopt(version, edits, festival)
            return True

    def _adopt(self, version: int, edits: Edits, festival: Festival) -> None:
        self.version, self.edits, self.festival, self.unfit = version, edits, festival, False
        self.adopt(festival)
        log.info("festival %s: admin edits version %d: %d venues, %d hosts, %d stores, %d guides",
                 festival.id, version, len(festival.venues), len(festival.hosts), len(festival.stores),
                 len(festival.guides))  # fmt: skip

    # ---- edits ----------------------------------------------------------------------------------------
    async def edit(
        self, batch: Batch, *, dry_run: bool = False, request_id: str | None = None,
        problems: Iterable[RowProblem] = (),
    ) -> EditAnswer:  # fmt: skip
        """Validate and apply one batch of edits (section -> (line, fields) rows), whole or not at all:
        ``bad_request`` listing every bad row (section, line, field, reason) when any is bad."""
        request_id = _request_id(request_id)
        found = list(problems)
        for _ in range(RETRIES):
            await self.sync()
            async with self._lock:
                if self.unfit:
                    raise errors.LivehubError(errors.UNAVAILABLE, "the stored admin edits do not fit the festival "
                                              "file: see the node's log")  # fmt: skip
                base, edits, current = self.version, self.edits, self.festival
                try:
                    staged = await asyncio.to_thread(stage, self.seed, edits, current, batch,
                                                     demo=self.settings.demo, problems=found)  # fmt: skip
                except EditRefused as exc:
                    raise self._refusal(exc.problems) from None
                if dry_run:
                    return EditAnswer(base, False, staged.created, staged.updated)
                status, version = await self.edits_store.put(staged.records, base, request_id)
                if status == CHANGED:
                    continue
                if status != DONE_BEFORE:
                    merged = {s: dict(r) for s, r in edits.items()}
                    for section, records in staged.records.items():
                        merged.setdefault(section, {}).update(records)
                    self._adopt(version, merged, staged.festival)
            await self._index(staged, batch)
            await self.broker.publish_volatile(FESTIVAL_CHANNEL, "festival", {"version": version})
            return EditAnswer(version, True, staged.created, staged.updated, status == DONE_BEFORE)
        raise errors.LivehubError(errors.UNAVAILABLE, "the festival kept changing meanwhile: retry")

    async def import_csv(self, section: str, body: str, *, dry_run: bool = False,
                         request_id: str | None = None) -> EditAnswer:  # fmt: skip
        """A CSV file of ``stores`` or ``guides`` (livehub.domain.festival_edit.parse_csv) as one batch."""
        rows, problems = await asyncio.to_thread(parse_csv, section, body, self.settings.admin_import_max_rows)
        if not rows and not problems:
            raise self._refusal([RowProblem(2, "", "no rows after the header", section)])
        return await self.edit({section: rows}, dry_run=dry_run, request_id=request_id, problems=problems)

    async def _index(self, staged: Staged, batch: Batch) -> None:
        """The stores of the batch at their places in Redis, with the units the batch set."""
        stores = staged.records.get("stores")
        if not stores:
            return
        stock = {fields["id"]: fields["stock"] for _, fields in batch["stores"]
                 if isinstance(fields.get("stock"), dict)}  # fmt: skip
        await self.stores.put([staged.festival.stores[s] for s in stores], stock)

    def _refusal(self, problems: list[RowProblem]) -> errors.LivehubError:
        shown = problems[: self.settings.admin_report_max_problems]
        return errors.bad_request(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''}: nothing applied",
            problems=len(problems), rows=[p.as_dict() for p in shown],
        )  # fmt: skip

    def view(self) -> dict[str, Any]:
        """``GET /api/admin/festival``: what this node serves."""
        f = self.festival
        return {"festival": f.id, "version": self.version, "venues": len(f.venues), "hosts": len(f.hosts),
                "brands": len(f.brands), "products": len(f.products), "stores": len(f.stores),
                "guides": len(f.guides)}  # fmt: skip


def _request_id(raw: str | None) -> str:
    if raw is None:
        return uuid.uuid4().hex
    if not 0 < len(raw) <= MAX_REQUEST_ID_CHARS or not raw.isprintable() or any(c.isspace() for c in raw):
        raise errors.bad_request(f"'request_id' must be 1-{MAX_REQUEST_ID_CHARS} printable characters, no spaces",
                                 field="request_id")  # fmt: skip
    return raw
