"""livehub.protocol.commands.parse: every client message, and the exact error code for every way to get one wrong."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest

from livehub import errors
from livehub.errors import LivehubError
from livehub.protocol.codec import JSON, MSGPACK, PROTOCOL_VERSION, Codec
from livehub.protocol.commands import CLIENT_TYPES, Command, Limits, parse
from livehub.protocol.frames import reply, welcome

LIMITS = Limits()


def encode(codec: Codec, msg: Any) -> str | bytes:
    """What the websocket layer hands to parse: text frames as str, binary frames as bytes."""
    if codec is JSON:
        return orjson.dumps(msg).decode()
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def error_of(payload: str | bytes, codec: Codec = JSON, limits: Limits = LIMITS) -> LivehubError:
    with pytest.raises(LivehubError) as info:
        parse(payload, codec, limits)
    return info.value


def code_of(msg: Any, codec: Codec = JSON, limits: Limits = LIMITS) -> str:
    return error_of(encode(codec, msg), codec, limits).code


both_codecs = pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])


# ---- every client type parses ---------------------------------------------------------------------

VALID: list[tuple[dict[str, Any], Command]] = [
    ({"type": "ping"}, Command("ping", None, {})),
    ({"type": "ping", "id": "r1"}, Command("ping", "r1", {})),
    ({"type": "leave", "id": 7}, Command("leave", 7, {})),
    ({"type": "join", "venue": "main"}, Command("join", None, {"venue": "main", "since": None})),
    (
        {"type": "join", "id": 1, "venue": "b001", "since": {"b001": ["a1b2c3d4", 42], "main": ["e0", 0]}},
        Command("join", 1, {"venue": "b001", "since": {"b001": ("a1b2c3d4", 42), "main": ("e0", 0)}}),
    ),
    ({"type": "like"}, Command("like", None, {"n": 1})),
    ({"type": "like", "n": 100}, Command("like", None, {"n": 100})),
    ({"type": "comment", "text": "  so cheap!  "}, Command("comment", None, {"text": "so cheap!"})),
    (
        {"type": "signal", "id": "s", "to": "host-main", "data": {"sdp": "v=0"}},
        Command("signal", "s", {"to": "host-main", "data": {"sdp": "v=0"}}),
    ),
    (
        {"type": "buy", "id": "req-1", "sale": "b001-s1"},
        Command("buy", "req-1", {"sale": "b001-s1", "qty": 1, "loc": None, "pickup_store": None, "coupon": None}),
    ),
    (
        {
            "type": "buy",
            "id": 9,
            "sale": "s1",
            "qty": 2,
            "loc": [31.23, 121.47],
            "pickup_store": "b001-s001",
            "coupon": "c-1",
        },
        Command(
            "buy", 9, {"sale": "s1", "qty": 2, "loc": (31.23, 121.47), "pickup_store": "b001-s001", "coupon": "c-1"}
        ),
    ),
    ({"type": "coupon.grab", "id": "g", "coupon": "c-1"}, Command("coupon.grab", "g", {"coupon": "c-1"})),
    ({"type": "orders", "id": 1}, Command("orders", 1, {})),
]


def test_the_valid_examples_cover_every_client_type() -> None:
    assert {cmd.type for _, cmd in VALID} == set(CLIENT_TYPES)


@both_codecs
@pytest.mark.parametrize(("msg", "expected"), VALID, ids=[f"{m['type']}-{i}" for i, (m, _) in enumerate(VALID)])
def test_every_client_message_type_parses_into_its_command(
    codec: Codec, msg: dict[str, Any], expected: Command
) -> None:
    assert parse(encode(codec, msg), codec, LIMITS) == expected


def test_json_frames_parse_from_bytes_as_well_as_str() -> None:
    assert parse(b'{"type":"ping","id":"x"}', JSON, LIMITS) == Command("ping", "x")


def test_location_numbers_become_floats() -> None:
    cmd = parse(encode(JSON, {"type": "buy", "id": 1, "sale": "s", "loc": [31, -121]}), JSON, LIMITS)

    assert cmd.args["loc"] == (31.0, -121.0)
    assert all(isinstance(x, float) for x in cmd.args["loc"])


@pytest.mark.parametrize("rid", [0, 2**53 - 1, "x", "r" * 64, "a b/é"])
def test_request_ids_may_be_non_negative_integers_below_2_53_or_strings_of_1_to_64_characters(rid: Any) -> None:
    assert parse(encode(JSON, {"type": "ping", "id": rid}), JSON, LIMITS).id == rid


def test_the_limits_are_the_ones_passed_in() -> None:
    limits = Limits(max_frame_bytes=8192, comment_max_chars=5, like_max_per_frame=3)

    assert parse(encode(JSON, {"type": "like", "n": 3}), JSON, limits).args == {"n": 3}
    assert code_of({"type": "like", "n": 4}, limits=limits) == errors.BAD_REQUEST
    assert parse(encode(JSON, {"type": "comment", "text": "12345"}), JSON, limits).args == {"text": "12345"}
    assert code_of({"type": "comment", "text": "123456"}, limits=limits) == errors.BAD_REQUEST


# ---- too_large -------------------------------------------------------------------------------------


def ping_of_exact_size(size: int) -> str:
    base = '{"type":"ping","pad":""}'
    return base.replace('""', '"' + "x" * (size - len(base)) + '"')


@both_codecs
def test_a_frame_longer_than_max_frame_bytes_is_too_large_before_it_is_decoded(codec: Codec) -> None:
    limits = Limits(max_frame_bytes=64)
    payload: str | bytes = "{" * 65 if codec is JSON else b"\xc1" * 65  # not even valid: size is checked first

    exc = error_of(payload, codec, limits)

    assert exc.code == errors.TOO_LARGE
    assert exc.http_status == 413


def test_a_frame_of_exactly_max_frame_bytes_is_accepted() -> None:
    limits = Limits(max_frame_bytes=64)
    payload = ping_of_exact_size(64)
    assert len(payload) == 64

    assert parse(payload, JSON, limits).type == "ping"
    assert error_of(ping_of_exact_size(65), JSON, limits).code == errors.TOO_LARGE


def test_max_frame_bytes_counts_the_utf8_bytes_of_a_text_frame() -> None:
    limits = Limits(max_frame_bytes=64, comment_max_chars=200)
    payload = orjson.dumps({"type": "comment", "text": "好" * 30}).decode()  # 41 characters, 101 bytes
    assert len(payload) <= 64 < len(payload.encode())

    assert error_of(payload, JSON, limits).code == errors.TOO_LARGE


# ---- bad_frame -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["{not json", "", '{"type":"ping"', "NaN", b"\xff\xfe"],
    ids=["broken", "empty", "truncated", "nan-literal", "not-utf8"],
)
def test_undecodable_json_is_a_bad_frame(payload: str | bytes) -> None:
    assert error_of(payload).code == errors.BAD_FRAME


@pytest.mark.parametrize(
    "payload", [b"", b"\xc1", b"\x92\x01", "a text frame"], ids=["empty", "reserved", "truncated", "str"]
)
def test_undecodable_msgpack_is_a_bad_frame(payload: str | bytes) -> None:
    assert error_of(payload, MSGPACK).code == errors.BAD_FRAME


@both_codecs
@pytest.mark.parametrize("msg", [[1, 2], "ping", 5, None], ids=["list", "str", "int", "null"])
def test_a_frame_that_is_not_an_object_is_a_bad_frame(codec: Codec, msg: Any) -> None:
    assert code_of(msg, codec) == errors.BAD_FRAME


@both_codecs
@pytest.mark.parametrize(
    "msg",
    [{}, {"kind": "ping"}, {"type": 5}, {"type": None}, {"type": ["ping"]}],
    ids=["empty", "no-type", "int-type", "null-type", "list-type"],
)
def test_a_frame_without_a_string_type_is_a_bad_frame(codec: Codec, msg: Any) -> None:
    assert code_of(msg, codec) == errors.BAD_FRAME


# ---- unknown_type ----------------------------------------------------------------------------------


@both_codecs
@pytest.mark.parametrize("mtype", ["dance", "", "PING", "event", "snapshot"])
def test_a_type_livehub_does_not_know_is_unknown_type_and_lists_the_known_ones(codec: Codec, mtype: str) -> None:
    exc = error_of(encode(codec, {"type": mtype}), codec)

    assert exc.code == errors.UNKNOWN_TYPE
    assert exc.details["known"] == list(CLIENT_TYPES)


# ---- bad_request -----------------------------------------------------------------------------------

BAD_REQUESTS: dict[str, dict[str, Any]] = {
    # request ids
    "id-bool": {"type": "ping", "id": True},
    "id-float": {"type": "ping", "id": 1.5},
    "id-negative": {"type": "ping", "id": -1},
    "id-2**53": {"type": "ping", "id": 2**53},
    "id-empty": {"type": "ping", "id": ""},
    "id-65-chars": {"type": "ping", "id": "x" * 65},
    "id-list": {"type": "ping", "id": ["a"]},
    # like
    "like-n-0": {"type": "like", "n": 0},
    "like-n-101": {"type": "like", "n": 101},
    "like-n-negative": {"type": "like", "n": -3},
    "like-n-float": {"type": "like", "n": 2.0},
    "like-n-str": {"type": "like", "n": "2"},
    "like-n-bool": {"type": "like", "n": True},
    "like-n-null": {"type": "like", "n": None},
    # comment
    "comment-missing": {"type": "comment"},
    "comment-blank": {"type": "comment", "text": " \t\n"},
    "comment-too-long": {"type": "comment", "text": "x" * 201},
    "comment-not-str": {"type": "comment", "text": 5},
    # join / venue ids
    "join-no-venue": {"type": "join"},
    "join-venue-empty": {"type": "join", "venue": ""},
    "join-venue-65": {"type": "join", "venue": "v" * 65},
    "join-venue-space": {"type": "join", "venue": "main venue"},
    "join-venue-slash": {"type": "join", "venue": "main/1"},
    "join-venue-non-ascii": {"type": "join", "venue": "主会场"},
    "join-venue-int": {"type": "join", "venue": 1},
    # since shapes
    "since-list": {"type": "join", "venue": "main", "since": [["main", "e", 1]]},
    "since-empty": {"type": "join", "venue": "main", "since": {}},
    "since-5-channels": {"type": "join", "venue": "main", "since": {f"c{i}": ["e", 1] for i in range(5)}},
    "since-pos-str": {"type": "join", "venue": "main", "since": {"main": "e:1"}},
    "since-pos-3": {"type": "join", "venue": "main", "since": {"main": ["e", 1, 2]}},
    "since-pos-1": {"type": "join", "venue": "main", "since": {"main": ["e"]}},
    "since-epoch-empty": {"type": "join", "venue": "main", "since": {"main": ["", 1]}},
    "since-epoch-int": {"type": "join", "venue": "main", "since": {"main": [5, 1]}},
    "since-offset-negative": {"type": "join", "venue": "main", "since": {"main": ["e", -1]}},
    "since-offset-bool": {"type": "join", "venue": "main", "since": {"main": ["e", True]}},
    "since-offset-str": {"type": "join", "venue": "main", "since": {"main": ["e", "1"]}},
    "since-offset-huge": {"type": "join", "venue": "main", "since": {"main": ["e", 2**53 + 1]}},
    "since-channel-bad": {"type": "join", "venue": "main", "since": {"main hall": ["e", 1]}},
    # signal
    "signal-no-to": {"type": "signal", "data": {}},
    "signal-data-list": {"type": "signal", "to": "h", "data": []},
    "signal-no-data": {"type": "signal", "to": "h"},
    # buy
    "buy-without-id": {"type": "buy", "sale": "s1"},
    "buy-no-sale": {"type": "buy", "id": 1},
    "buy-qty-bool": {"type": "buy", "id": 1, "sale": "s1", "qty": True},
    "buy-qty-str": {"type": "buy", "id": 1, "sale": "s1", "qty": "2"},
    "buy-qty-float": {"type": "buy", "id": 1, "sale": "s1", "qty": 1.0},
    "buy-lat-91": {"type": "buy", "id": 1, "sale": "s1", "loc": [91, 0]},
    "buy-lat--91": {"type": "buy", "id": 1, "sale": "s1", "loc": [-91, 0]},
    "buy-lon-181": {"type": "buy", "id": 1, "sale": "s1", "loc": [0, 180.5]},
    "buy-lat-bool": {"type": "buy", "id": 1, "sale": "s1", "loc": [True, 0]},
    "buy-loc-1": {"type": "buy", "id": 1, "sale": "s1", "loc": [31.2]},
    "buy-loc-object": {"type": "buy", "id": 1, "sale": "s1", "loc": {"lat": 31.2, "lon": 121.4}},
    "buy-loc-str": {"type": "buy", "id": 1, "sale": "s1", "loc": "31.2,121.4"},
    "buy-store-bad": {"type": "buy", "id": 1, "sale": "s1", "pickup_store": "a b"},
    "buy-coupon-bad": {"type": "buy", "id": 1, "sale": "s1", "coupon": 7},
    # coupon.grab
    "grab-without-id": {"type": "coupon.grab", "coupon": "c1"},
    "grab-no-coupon": {"type": "coupon.grab", "id": 1},
    # orders
    "orders-without-id": {"type": "orders"},
}


@both_codecs
@pytest.mark.parametrize("msg", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
def test_a_missing_mistyped_or_out_of_range_field_is_a_bad_request(codec: Codec, msg: dict[str, Any]) -> None:
    assert code_of(msg, codec) == errors.BAD_REQUEST


@pytest.mark.parametrize(
    "loc",
    [[float("nan"), 0.0], [0.0, float("nan")], [float("inf"), 0.0], [0.0, float("-inf")]],
    ids=["nan-lat", "nan-lon", "inf-lat", "-inf-lon"],
)
def test_non_finite_coordinates_sent_by_msgpack_are_a_bad_request(loc: list[float]) -> None:
    assert code_of({"type": "buy", "id": 1, "sale": "s1", "loc": loc}, MSGPACK) == errors.BAD_REQUEST


def test_out_of_range_errors_name_the_bounds() -> None:
    exc = error_of(encode(JSON, {"type": "like", "n": 101}))

    assert exc.details["min"] == 1
    assert exc.details["max"] == LIMITS.like_max_per_frame


def test_field_errors_name_the_message_type() -> None:
    assert error_of(encode(JSON, {"type": "buy", "sale": "s1"})).details["type"] == "buy"
    assert error_of(encode(JSON, {"type": "join", "venue": ""})).details["type"] == "join"


def test_a_bad_request_maps_to_http_400() -> None:
    assert error_of(encode(JSON, {"type": "like", "n": 0})).http_status == 400


# ---- server messages -------------------------------------------------------------------------------


def test_welcome_carries_the_protocol_version_and_who_the_client_is() -> None:
    assert welcome("c1", "node-a", "u1", "viewer", 1234) == {
        "type": "welcome",
        "v": PROTOCOL_VERSION,
        "conn": "c1",
        "node": "node-a",
        "user": "u1",
        "role": "viewer",
        "server_time": 1234,
    }


def test_reply_echoes_the_request_id() -> None:
    assert reply("r-7", {"ok": True}) == {"type": "reply", "id": "r-7", "data": {"ok": True}}
