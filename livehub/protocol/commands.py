"""The client protocol, inbound, sans I/O: parse and validate incoming frames
into commands.  No sockets, no Redis, no clocks.  Outgoing frames are built by
:mod:`livehub.protocol.frames`.

Every client frame is an object with a ``type``; requests that expect an
answer carry an ``id`` (string or integer, echoed in the ``reply`` or
``error``).  docs/protocol.md is the reference; tests/protocol/test_commands.py pins it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, overload

from livehub import errors
from livehub.domain.ids import ID_CHARS, MAX_ID_CHARS, valid_id
from livehub.errors import LivehubError
from livehub.protocol.codec import Codec, DecodeError

MAX_KIND_CHARS = 40
MAX_NESTING = 128  # levels of arrays/objects in a client's value: well inside what every frame carrying it re-encodes


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed client message."""

    type: str
    id: str | int | None
    args: dict[str, Any] = field(default_factory=dict)


def _req_id(msg: dict[str, Any]) -> str | int | None:
    rid = msg.get("id")
    if rid is None:
        return None
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise errors.bad_request("'id' must be a string or an integer")
    if isinstance(rid, str) and not 0 < len(rid) <= MAX_ID_CHARS:
        raise errors.bad_request(f"'id' must be 1-{MAX_ID_CHARS} characters")
    if isinstance(rid, int) and not 0 <= rid < 2**53:
        raise errors.bad_request("'id' out of range")
    return rid


@overload
def ident(value: Any, name: str) -> str: ...
@overload
def ident(value: Any, name: str, *, required: bool) -> str | None: ...
def ident(value: Any, name: str, *, required: bool = True) -> str | None:
    """A venue / sale / store / host / coupon id: the entity id grammar of :mod:`livehub.domain.ids`."""
    if valid_id(value):
        return value
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise errors.bad_request(f"'{name}' must be a string of 1-{MAX_ID_CHARS} characters")
    raise errors.bad_request(f"'{name}' must be {ID_CHARS}")


def check_nesting(value: Any, name: str) -> None:
    """Refuse (``bad_request`` naming ``name``) a value nested more than ``MAX_NESTING`` arrays/objects
    deep: the decoders take deeper values than orjson re-encodes (254 levels, less the frame around it)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_NESTING:
            raise errors.bad_request(f"'{name}' nests more than {MAX_NESTING} levels deep", field=name)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.bad_request(f"'{name}' must be an integer")
    if not lo <= value <= hi:
        raise errors.bad_request(f"'{name}' must be between {lo} and {hi}", min=lo, max=hi)
    return value


def number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.bad_request(f"'{name}' must be a number")
    if not lo <= value <= hi:  # also rejects NaN
        raise errors.bad_request(f"'{name}' must be between {lo} and {hi}", min=lo, max=hi)
    return float(value)


def _since(value: Any) -> dict[str, tuple[str, int]] | None:
    """``{"<channel>": ["<epoch>", <offset>], ...}`` - the client's last positions."""
    if value is None:
        return None
    if not isinstance(value, dict) or not 0 < len(value) <= 4:
        raise errors.bad_request("'since' must map each channel to [epoch, offset]")
    out: dict[str, tuple[str, int]] = {}
    for ch, pos in value.items():
        ident(ch, "since channel")
        if not isinstance(pos, (list, tuple)) or len(pos) != 2:
            raise errors.bad_request("'since' positions must be [epoch, offset]")
        out[ch] = (ident(pos[0], "since epoch"), integer(pos[1], "since offset", 0, 2**53))
    return out


def _parse_join(msg: dict[str, Any]) -> dict[str, Any]:
    return {"venue": ident(msg.get("venue"), "venue"), "since": _since(msg.get("since"))}


def _parse_like(msg: dict[str, Any], limits: Limits) -> dict[str, Any]:
    return {"n": integer(msg.get("n", 1), "n", 1, limits.like_max_per_frame)}


def _parse_comment(msg: dict[str, Any], limits: Limits) -> dict[str, Any]:
    text = msg.get("text")
    if not isinstance(text, str) or not text.strip():
        raise errors.bad_request("'text' must be a non-empty string")
    text = text.strip()
    if len(text) > limits.comment_max_chars:
        raise errors.bad_request(f"'text' longer than {limits.comment_max_chars} characters")
    return {"text": text}


def _parse_signal(msg: dict[str, Any]) -> dict[str, Any]:
    data = msg.get("data")
    if not isinstance(data, dict):
        raise errors.bad_request("'data' must be an object")
    check_nesting(data, "data")
    return {"to": ident(msg.get("to"), "to"), "data": data}


def _parse_location(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise errors.bad_request("'loc' must be [lat, lon]")
    return number(value[0], "lat", -90, 90), number(value[1], "lon", -180, 180)


def parse_buy_args(msg: dict[str, Any]) -> dict[str, Any]:
    """The fields of a buy (websocket frame or HTTP body)."""
    if msg.get("id") is None:
        raise errors.bad_request("'buy' needs an 'id' (the idempotency key)")
    qty = msg.get("qty", 1)
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise errors.bad_request("'qty' must be an integer")
    return {
        "sale": ident(msg.get("sale"), "sale"),
        "qty": qty,  # range checked against the sale's per-user limit by the sale rules
        "loc": _parse_location(msg.get("loc")),
        "pickup_store": ident(msg.get("pickup_store"), "pickup_store", required=False),
        "coupon": ident(msg.get("coupon"), "coupon", required=False),
    }


def _parse_grab(msg: dict[str, Any]) -> dict[str, Any]:
    if msg.get("id") is None:
        raise errors.bad_request("'coupon.grab' needs an 'id'")
    return {"coupon": ident(msg.get("coupon"), "coupon")}


def _parse_orders(msg: dict[str, Any]) -> dict[str, Any]:
    """The buyer's own orders (livehub.services.my_orders): no fields but the ``id`` its reply carries."""
    if msg.get("id") is None:
        raise errors.bad_request("'orders' needs an 'id'")
    return {}


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 8192
    comment_max_chars: int = 200
    like_max_per_frame: int = 100


CLIENT_TYPES = ("ping", "join", "leave", "like", "comment", "signal", "buy", "coupon.grab", "orders")


def _too_large(payload: str | bytes, limits: Limits) -> bool:
    size = len(payload)
    if isinstance(payload, str) and size * 4 > limits.max_frame_bytes and size <= limits.max_frame_bytes:
        size = len(payload.encode("utf-8", "surrogatepass"))  # characters -> UTF-8 bytes, only when it matters
    return size > limits.max_frame_bytes


def request_id(payload: str | bytes, codec: Codec, limits: Limits) -> str | int | None:
    """The ``id`` of a frame that is refused before it is parsed (rate limited), so that its answer
    carries it; None when the frame has no valid one.  Never raises; bounded by ``max_frame_bytes``."""
    if _too_large(payload, limits):
        return None
    try:
        msg = codec.decode(payload)
        return _req_id(msg) if isinstance(msg, dict) else None
    except (DecodeError, LivehubError):
        return None


def parse(payload: str | bytes, codec: Codec, limits: Limits) -> Command:
    """Decode and validate one client frame; raise LivehubError with the wire code."""
    if _too_large(payload, limits):
        raise LivehubError(errors.TOO_LARGE, f"frame larger than {limits.max_frame_bytes} bytes")
    try:
        msg = codec.decode(payload)
    except DecodeError as exc:
        raise LivehubError(errors.BAD_FRAME, str(exc)) from None
    if not isinstance(msg, dict):
        raise LivehubError(errors.BAD_FRAME, "a frame must be an object")
    mtype = msg.get("type")
    if not isinstance(mtype, str):
        raise LivehubError(errors.BAD_FRAME, "a frame needs a string 'type'")
    rid = _req_id(msg)
    try:
        if mtype == "ping" or mtype == "leave":
            return Command(mtype, rid)
        if mtype == "join":
            return Command(mtype, rid, _parse_join(msg))
        if mtype == "like":
            return Command(mtype, rid, _parse_like(msg, limits))
        if mtype == "comment":
            return Command(mtype, rid, _parse_comment(msg, limits))
        if mtype == "signal":
            return Command(mtype, rid, _parse_signal(msg))
        if mtype == "buy":
            return Command(mtype, rid, parse_buy_args(msg))
        if mtype == "coupon.grab":
            return Command(mtype, rid, _parse_grab(msg))
        if mtype == "orders":
            return Command(mtype, rid, _parse_orders(msg))
    except LivehubError as exc:
        exc.details.setdefault("type", mtype)
        exc.request_id = rid
        raise
    raise LivehubError(errors.UNKNOWN_TYPE, f"unknown message type {mtype[:40]!r}", known=list(CLIENT_TYPES))
