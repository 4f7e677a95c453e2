"""livehub.protocol.codec: the two wire codecs, subprotocol choice and pre-built websocket frames."""

from __future__ import annotations

import msgpack
import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from livehub.protocol.codec import (
    CODECS,
    JSON,
    JSON_SUBPROTOCOL,
    MSGPACK,
    MSGPACK_SUBPROTOCOL,
    OP_BINARY,
    OP_TEXT,
    Codec,
    DecodeError,
    choose_codec,
    ws_frame,
)


def parse_one_frame(data: bytes) -> tuple[Frame, bytes]:
    """Parse one server-to-client (unmasked) frame with the websockets library; return it and what is left."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        return done.value, bytes(reader.buffer)
    raise AssertionError("the frame is incomplete")


# ---- ws_frame -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header_len"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)],
)
@pytest.mark.parametrize(("opcode", "expected"), [(OP_TEXT, Opcode.TEXT), (OP_BINARY, Opcode.BINARY)])
def test_ws_frame_is_one_final_unmasked_frame_that_a_websocket_parser_reads_back(
    length: int, header_len: int, opcode: int, expected: Opcode
) -> None:
    payload = bytes(i % 251 for i in range(length))
    data = ws_frame(opcode, payload)

    frame, rest = parse_one_frame(data)

    assert frame.opcode is expected
    assert frame.fin is True
    assert frame.data == payload
    assert rest == b""
    assert len(data) == header_len + length


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, bytes([0x81, 0])),
        (125, bytes([0x81, 125])),
        (126, bytes([0x81, 126, 0x00, 0x7E])),
        (65535, bytes([0x81, 126, 0xFF, 0xFF])),
        (65536, bytes([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])),
    ],
)
def test_ws_frame_header_uses_the_shortest_rfc6455_length_encoding(length: int, header: bytes) -> None:
    data = ws_frame(OP_TEXT, b"a" * length)

    assert data[: len(header)] == header
    assert data[len(header) :] == b"a" * length


def test_ws_frame_never_sets_the_mask_bit() -> None:
    for length in (0, 125, 126, 65536):
        assert ws_frame(OP_BINARY, b"x" * length)[1] & 0x80 == 0


# ---- choose_codec ----------------------------------------------------------------------------


def test_choose_codec_defaults_to_json_without_echoing_a_subprotocol() -> None:
    assert choose_codec([]) == (JSON, None)
    assert choose_codec(["chat", "graphql-ws"]) == (JSON, None)


def test_choose_codec_picks_the_first_known_subprotocol_the_client_offered() -> None:
    assert choose_codec(["chat", MSGPACK_SUBPROTOCOL, JSON_SUBPROTOCOL]) == (MSGPACK, MSGPACK_SUBPROTOCOL)
    assert choose_codec([JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL]) == (JSON, JSON_SUBPROTOCOL)


def test_codecs_are_listed_json_first_then_msgpack() -> None:
    # Connection.codec_index and Event.frame's cache slots depend on this order.
    assert CODECS == (JSON, MSGPACK)


# ---- encode / frame / decode -------------------------------------------------------------------

MESSAGE = {"type": "event", "n": 3, "text": "héllo", "list": [1, 2.5, None, True], "nested": {"a": "b"}}


def test_json_codec_encodes_compact_utf8_json_in_text_frames() -> None:
    payload = JSON.encode(MESSAGE)

    assert orjson.loads(payload) == MESSAGE
    assert JSON.frame(MESSAGE) == ws_frame(OP_TEXT, payload)


def test_msgpack_codec_encodes_msgpack_in_binary_frames() -> None:
    payload = MSGPACK.encode(MESSAGE)

    assert msgpack.unpackb(payload, raw=False) == MESSAGE
    assert MSGPACK.frame(MESSAGE) == ws_frame(OP_BINARY, payload)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_decode_inverts_encode(codec: Codec) -> None:
    assert codec.decode(codec.encode(MESSAGE)) == MESSAGE


def test_json_codec_decodes_text_given_as_str_or_bytes() -> None:
    assert JSON.decode('{"type":"ping"}') == {"type": "ping"}
    assert JSON.decode(b'{"type":"ping"}') == {"type": "ping"}


def test_msgpack_decode_keeps_strings_as_str_and_binary_as_bytes() -> None:
    packed = msgpack.packb({"type": "ping", "blob": b"\x00\x01"}, use_bin_type=True)

    assert MSGPACK.decode(packed) == {"type": "ping", "blob": b"\x00\x01"}


@pytest.mark.parametrize("payload", [b"", b"{", b"{'a': 1}", "not json", b"\xff\xfe", b"[1,]", b"NaN"])
def test_invalid_json_raises_decode_error(payload: str | bytes) -> None:
    with pytest.raises(DecodeError, match="json"):
        JSON.decode(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # nothing
        b"\xc1",  # the one byte msgpack never uses
        b"\x92\x01",  # array of 2 with one element
        b"\x01\x02",  # trailing data after a complete object
        b"\x81\x01\x02",  # map with an integer key (strict_map_key)
    ],
)
def test_invalid_msgpack_raises_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError, match="msgpack"):
        MSGPACK.decode(payload)


def test_a_text_frame_on_a_msgpack_connection_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="binary"):
        MSGPACK.decode('{"type":"ping"}')


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)
