"""Property-based fuzzing of the client-frame decoders (livehub.protocol.codec, livehub.protocol.commands):
whatever a client sends, ``parse`` returns a valid command or raises a LivehubError with one of the documented
input codes (never another exception), ``request_id`` never raises, and the answer to it (reply or error,
carrying the request's id) encodes in the connection's codec.  Pure, no I/O; many examples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livehub import errors
from livehub.errors import LivehubError, error_body
from livehub.protocol.codec import JSON, MSGPACK, Codec
from livehub.protocol.commands import CLIENT_TYPES, MAX_NESTING, Command, Limits, parse, request_id
from livehub.protocol.frames import reply
from tests.fuzzing import pure, report, tried

LIMITS = Limits()
INPUT_CODES = {errors.BAD_FRAME, errors.UNKNOWN_TYPE, errors.TOO_LARGE, errors.BAD_REQUEST}
CODECS = {"json": JSON, "msgpack": MSGPACK}


@pytest.fixture(scope="module", autouse=True)
def _tally(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report("decoders", request)


def outcome(payload: str | bytes, codec: Codec) -> Command | LivehubError:
    """parse's result, checked against the contract; the answer the node would send, encoded."""
    rid = request_id(payload, codec, LIMITS)
    assert rid is None or (isinstance(rid, (str, int)) and not isinstance(rid, bool))
    try:
        command = parse(payload, codec, LIMITS)
    except LivehubError as exc:
        assert exc.code in INPUT_CODES, exc.code
        codec.frame(error_body(exc, rid))  # the error answer always encodes
        return exc
    assert command.type in CLIENT_TYPES
    assert command.id is None or command.id == rid
    codec.frame(reply(command.id, {}))
    for name, value in command.args.items():  # what the services get re-encodes (relayed, echoed)
        MSGPACK.encode(value)
        if name != "data":  # signal data from a msgpack client may hold bytes: the relay refuses it (bad_request)
            JSON.encode(value)
    return command


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


# ---- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=20),
)  # fmt: skip
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
FIELDS = ("id", "venue", "since", "n", "text", "to", "data", "sale", "qty", "loc", "pickup_store", "coupon")
known_type = st.sampled_from(CLIENT_TYPES)
frames = st.fixed_dictionaries(
    {"type": known_type | st.text(max_size=50) | values},
    optional={name: values for name in FIELDS},
)
hostile_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**53, 2**53 - 1, -1, 0, 2**63, 2**64 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)  # fmt: skip


def json_number_text(n: int | float) -> str:
    if isinstance(n, float) and (math.isnan(n) or math.isinf(n)):
        return {True: "NaN"}.get(math.isnan(n), "Infinity" if n > 0 else "-Infinity")
    return repr(n)


# ---- properties ---------------------------------------------------------------------------------


@pure(600)
@given(payload=st.binary(max_size=2048), codec=st.sampled_from(list(CODECS)))
def test_random_bytes_are_a_command_or_a_documented_error(payload: bytes, codec: str) -> None:
    tried("random bytes")
    outcome(payload, CODECS[codec])


@pure(400)
@given(payload=st.text(max_size=1024))
def test_random_text_in_a_json_text_frame_is_a_command_or_a_documented_error(payload: str) -> None:
    tried("random text (JSON)")
    outcome(payload, JSON)


@pure(300)
@given(prefix=st.binary(max_size=40), bad=st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88"]))
def test_invalid_utf8_inside_a_json_or_msgpack_string_is_a_bad_frame(prefix: bytes, bad: bytes) -> None:
    tried("invalid UTF-8 in a string", 2)
    clean = prefix.replace(b'"', b"").replace(b"\\", b"")
    as_json = b'{"type":"comment","text":"' + clean + bad + b'"}'
    assert isinstance(outcome(as_json, JSON), LivehubError)
    text = clean + bad  # a msgpack str8 holding invalid UTF-8
    as_msgpack = b"\x82" + pack("type") + pack("comment") + pack("text") + b"\xd9" + bytes([len(text)]) + text
    assert isinstance(outcome(as_msgpack, MSGPACK), LivehubError)


@pure(300)
@given(msg=frames, codec=st.sampled_from(list(CODECS)))
def test_wrong_types_in_every_field_of_every_message_are_a_command_or_a_documented_error(
    msg: dict[str, Any], codec: str
) -> None:
    tried("wrong types / values per field")
    c = CODECS[codec]
    if c is JSON:
        try:
            payload: str | bytes = orjson.dumps(msg).decode()
        except (orjson.JSONEncodeError, TypeError):
            return  # not expressible in JSON: the msgpack half covers it
    else:
        payload = pack(msg)
    outcome(payload, c)


@pure(300)
@given(value=json_values, mtype=known_type)
def test_any_json_value_in_a_known_message_is_a_command_or_a_documented_error(value: Any, mtype: str) -> None:
    tried("valid JSON, arbitrary values", 8)
    for name in ("id", "venue", "since", "data", "loc", "n", "qty", "text"):
        outcome(orjson.dumps({"type": mtype, name: value}), JSON)


@pure(200)
@given(depth=st.integers(min_value=1, max_value=5000), kind=st.sampled_from(["list", "dict"]),
       codec=st.sampled_from(list(CODECS)))  # fmt: skip
def test_deep_nesting_is_refused_or_parsed_never_a_crash(depth: int, kind: str, codec: str) -> None:
    tried("deep nesting")
    if codec == "json":
        open_, close = ("[", "]") if kind == "list" else ('{"a":', "}")
        nested = open_ * depth + "1" + close * depth
        payload: str | bytes = '{"type":"signal","to":"host-b","data":{"x":' + nested + "}}"
    else:
        inner: bytes = pack(1)
        for _ in range(min(depth, 2000)):
            inner = (b"\x91" + inner) if kind == "list" else (b"\x81" + pack("a") + inner)
        payload = b"\x83" + pack("type") + pack("signal") + pack("to") + pack("host-b") + pack("data") + (
            b"\x81" + pack("x") + inner)  # fmt: skip
    result = outcome(payload, CODECS[codec])
    if isinstance(result, Command):
        assert depth < MAX_NESTING, "a value nested deeper than MAX_NESTING was let through"


@pure(400)
@given(n=hostile_numbers, name=st.sampled_from(["id", "n", "qty", "loc", "since"]), mtype=known_type,
       codec=st.sampled_from(list(CODECS)))  # fmt: skip
def test_huge_negative_and_non_finite_numbers_are_a_command_or_a_documented_error(
    n: int | float, name: str, mtype: str, codec: str
) -> None:
    tried("huge / negative / NaN / Infinity numbers")
    if name == "loc":
        field: Any = [n, n]
    elif name == "since":
        field = {"main": ["e1", n]}
    else:
        field = n
    if codec == "json":  # written by hand: JSON encoders refuse NaN and out-of-range integers
        t = json_number_text(n)
        text_field = {"loc": f"[{t},{t}]", "since": f'{{"main":["e1",{t}]}}'}.get(name, t)
        payload: str | bytes = f'{{"type":"{mtype}","{name}":{text_field}}}'
    else:
        if isinstance(n, int) and not -(2**63) <= n < 2**64:
            return  # MessagePack has no such integer
        payload = pack({"type": mtype, name: field})
    outcome(payload, CODECS[codec])


@pure(100)
@given(size=st.integers(min_value=LIMITS.max_frame_bytes + 1, max_value=LIMITS.max_frame_bytes * 8),
       codec=st.sampled_from(list(CODECS)), multibyte=st.booleans())  # fmt: skip
def test_frames_over_max_frame_bytes_are_too_large_before_being_decoded(size: int, codec: str, multibyte: bool) -> None:
    tried("oversized frames")
    filler = ("é" if multibyte else "x") * (size // (2 if multibyte else 1))
    msg = {"type": "comment", "id": "big", "text": filler}
    payload: str | bytes = orjson.dumps(msg).decode() if codec == "json" else pack(msg)
    result = outcome(payload, CODECS[codec])
    assert isinstance(result, LivehubError) and result.code == errors.TOO_LARGE
    assert request_id(payload, CODECS[codec], LIMITS) is None


@pure(300)
@given(mtype=st.text(min_size=1, max_size=200).filter(lambda t: t not in CLIENT_TYPES),
       rid=st.none() | st.text(min_size=1, max_size=20) | st.integers(0, 2**53 - 1),
       codec=st.sampled_from(list(CODECS)))  # fmt: skip
def test_unknown_message_types_are_unknown_type_with_the_request_id(mtype: str, rid: Any, codec: str) -> None:
    tried("unknown ops")
    msg = {"type": mtype} if rid is None else {"type": mtype, "id": rid}
    try:
        payload: str | bytes = orjson.dumps(msg).decode() if codec == "json" else pack(msg)
    except (orjson.JSONEncodeError, UnicodeEncodeError):
        return  # lone surrogates: not sendable in either codec
    result = outcome(payload, CODECS[codec])
    assert isinstance(result, LivehubError)
    if result.code != errors.BAD_REQUEST:  # an over-long id is a bad request instead
        assert result.code == errors.UNKNOWN_TYPE
        assert request_id(payload, CODECS[codec], LIMITS) == rid


@pure(300)
@given(data=st.binary(max_size=64), code=st.integers(min_value=-128, max_value=127))
def test_msgpack_extension_types_and_non_string_keys_are_bad_frames_or_bad_requests(data: bytes, code: int) -> None:
    tried("msgpack ext types / non-string keys", 3)
    ext = pack({"type": "signal", "to": "host-b", "data": msgpack.ExtType(code & 0x7F, data)})
    assert isinstance(outcome(ext, MSGPACK), LivehubError)
    keyed = b"\x82" + pack("type") + pack("ping") + pack(1) + pack(data)  # an integer key
    assert isinstance(outcome(keyed, MSGPACK), LivehubError)
    binkey = b"\x82" + pack("type") + pack("ping") + pack(data) + pack(1)  # a bin key
    outcome(binkey, MSGPACK)
