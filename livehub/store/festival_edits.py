"""The festival's admin edits on Redis: an overlay of whole records on the festival file, versioned.

Keys (livehub.store.keys, all under ``{festival:<id>}``): the overlay hash (``<section>:<record
id>`` -> the record's JSON), its version (+1 per applied batch) and one once-marker per admin
request.  A batch is written by festival_edit.lua in one step, and only if the overlay is still
at the version the batch was validated against (else nothing is written and the caller
validates again against the newer overlay): two admins on two nodes can never store a pair of
edits that were each valid alone but not together.  Every node reads the version to know
whether it serves the latest festival (livehub.services.festival_admin).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from redis.asyncio import Redis

from livehub.domain.festival_edit import Edits
from livehub.domain.sale_rules import text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.festival_edits")

APPLIED, DONE_BEFORE, CHANGED = 1, 0, -1


class FestivalEdits:
    """The admin overlay of one festival."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, festival_id: str, marker_ttl_s: int = 86_400
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.festival_id = festival_id
        self.marker_ttl_s = marker_ttl_s

    async def version(self) -> int:
        """The overlay's version (0: no edits yet)."""
        value = await self._redis.get(self._keys.festival_version(self.festival_id))
        return int(value) if value is not None else 0

    async def load(self) -> tuple[int, Edits]:
        """The version and the overlay, read together (one MULTI on the festival's slot)."""
        k, f = self._keys, self.festival_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(k.festival_version(f))
            pipe.hgetall(k.festival_edits(f))
            version, raw = await pipe.execute()
        edits: Edits = {}
        for name, value in raw.items():
            section, _, record_id = text(name).partition(":")
            edits.setdefault(section, {})[record_id] = orjson.loads(value)
        return (int(version) if version is not None else 0), edits

    async def put(self, records: Edits, base_version: int, request_id: str) -> tuple[int, int]:
        """Store ``records`` (section -> id -> full record) if the overlay is at ``base_version``:
        (APPLIED, the new version), (DONE_BEFORE, the version this request made) or (CHANGED, the
        current version; nothing written)."""
        k, f = self._keys, self.festival_id
        args: list[Any] = [base_version, self.marker_ttl_s]
        for section, of_section in records.items():
            for record_id, record in of_section.items():
                args += [f"{section}:{record_id}", orjson.dumps(record)]
        status, version = await self._scripts.run(
            "festival_edit", [k.festival_edits(f), k.festival_version(f), k.festival_edit_done(f, request_id)], args
        )
        return int(status), int(version)
