"""Every server -> client frame except ``event``, built here (pure, no I/O).

One typed function per frame of docs/protocol.md ("Server frames"); each
returns the message dict the connection's codec encodes, with exactly the keys
(and key order) the document shows.  ``event`` frames are built by
:mod:`livehub.protocol.events` (pre-encoded once per event for the fan-out hot
path); error bodies for exceptions by :func:`livehub.errors.error_body`.
tests/protocol/test_frames.py pins every shape against docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livehub import errors
from livehub.protocol.codec import PROTOCOL_VERSION

Position = Mapping[str, Any]  # {"epoch": str, "offset": int}


def welcome(conn_id: str, node: str, user: str, role: str, server_time_ms: int) -> dict[str, Any]:
    """The first frame of every connection."""
    return {
        "type": "welcome", "v": PROTOCOL_VERSION, "conn": conn_id, "node": node, "user": user,
        "role": role, "server_time": server_time_ms,
    }  # fmt: skip


def reply(request_id: str | int | None, data: dict[str, Any]) -> dict[str, Any]:
    """The answer to a request with an ``id``."""
    return {"type": "reply", "id": request_id, "data": data}


def snapshot(
    venue: str,
    recovered: bool,
    channels: dict[str, dict[str, Any]],
    counters: dict[str, Any],
    server_time_ms: int,
    request_id: str | int | None = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The answer to a join: positions (``{channel: {"epoch", "offset"}}``), counters, and the
    latest-value ``state`` per channel when not ``recovered``; ``id`` echoes the join's id."""
    message: dict[str, Any] = {
        "type": "snapshot", "venue": venue, "recovered": recovered, "channels": channels,
        "counters": counters, "server_time": server_time_ms,
    }  # fmt: skip
    if request_id is not None:
        message["id"] = request_id
    if state is not None:
        message["state"] = state
    return message


def online(venue: str, count: int) -> dict[str, Any]:
    """Viewers of a venue, summed over all nodes."""
    return {"type": "online", "venue": venue, "count": count}


def likes(venue: str, count: int) -> dict[str, Any]:
    """Total likes of a venue."""
    return {"type": "likes", "venue": venue, "count": count}


def comment(venue: str, user: str, text: str, ts_ms: int, comment_id: str) -> dict[str, Any]:
    """A viewer's comment in a venue's room; ``id`` names it (a moderator deletes it by it)."""
    return {"type": "comment", "venue": venue, "user": user, "text": text, "ts": ts_ms, "id": comment_id}


def comment_deleted(venue: str, comment_id: str) -> dict[str, Any]:
    """A moderator deleted the comment ``id`` of the venue's room: clients remove it."""
    return {"type": "comment.deleted", "venue": venue, "id": comment_id}


def signal(sender: str, data: dict[str, Any], ts_ms: int) -> dict[str, Any]:
    """A co-host signalling message relayed to a host."""
    return {"type": "signal", "from": sender, "data": data, "ts": ts_ms}


def stock(venue: str, sale: str, units: int) -> dict[str, Any]:
    """Units left in a sale (``sold_out`` when none)."""
    return {"type": "stock", "venue": venue, "sale": sale, "stock": units, "sold_out": units == 0}


def order(venue: str, paid: Mapping[str, Any], ts_ms: int) -> dict[str, Any]:
    """A confirmed order, for the venue's hosts and the main host.  ``paid`` is the pay answer:
    status, reservation, order, sale, sku, qty, amount_cents, mode, store, guide."""
    return {"type": "order", "venue": venue, **paid, "ts": ts_ms}


def leaderboard(board: Mapping[str, Any]) -> dict[str, Any]:
    """The hour's guide leaderboard, for hosts: ``board`` is ``{"hour", "guides": [...]}``."""
    return {"type": "leaderboard", **board}


def stats(venue: str, figures: Mapping[str, Any], ts_ms: int) -> dict[str, Any]:
    """A venue's live numbers, for its hosts, once a second (latest value): ``figures`` is the
    ``GET /api/venues/{venue}/stats`` answer without its ``venue``."""
    return {"type": "stats", "venue": venue, **figures, "ts": ts_ms}


def festival_stats(figures: Mapping[str, Any], ts_ms: int) -> dict[str, Any]:
    """The festival's live numbers and its venues' grid, for the main venue's hosts, once a second
    (latest value): ``figures`` is the ``GET /api/festival/stats`` answer without its guides."""
    return {"type": "festival_stats", **figures, "ts": ts_ms}


def refusal(close_code: int, reason: str) -> dict[str, Any]:
    """The error frame sent right before a refusing close (bad token, unknown venue, node full)."""
    return {"type": "error", "code": errors.close_error_code(close_code), "message": reason}


error = errors.error_body  # the error frame for an exception (and its request id)
