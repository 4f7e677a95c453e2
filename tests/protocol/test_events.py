"""livehub.protocol.events: events and volatile updates, their frames, and the backplane envelope."""

from __future__ import annotations

import msgpack
import orjson
import pytest

from livehub.protocol.codec import JSON, MSGPACK, OP_BINARY, OP_TEXT, ws_frame
from livehub.protocol.events import (
    EnvelopeError,
    Event,
    Volatile,
    decode_envelope,
    encode_event_envelope,
    encode_volatile_envelope,
    event_body,
)

BODY = event_body("pin", {"sku": "b001-p1", "price_cents": 9900, "tags": ["hot", "新"]}, ts_ms=1_700_000_000_123)


def make_event(body: bytes = BODY) -> Event:
    return Event("b001", "a1b2c3d4", 42, body)


# ---- event bodies -------------------------------------------------------------------------------------


def test_event_body_is_a_json_object_of_kind_data_and_ts() -> None:
    assert orjson.loads(BODY) == {
        "kind": "pin",
        "data": {"sku": "b001-p1", "price_cents": 9900, "tags": ["hot", "新"]},
        "ts": 1_700_000_000_123,
    }


def test_event_body_stamps_the_current_time_when_no_ts_is_given() -> None:
    ts = orjson.loads(event_body("k", None))["ts"]

    assert isinstance(ts, int) and ts > 1_600_000_000_000  # milliseconds, not seconds


# ---- event payloads and frames ---------------------------------------------------------------------------


def test_as_dict_puts_the_position_in_front_of_the_body() -> None:
    assert make_event().as_dict() == {
        "type": "event",
        "ch": "b001",
        "epoch": "a1b2c3d4",
        "offset": 42,
        "kind": "pin",
        "data": {"sku": "b001-p1", "price_cents": 9900, "tags": ["hot", "新"]},
        "ts": 1_700_000_000_123,
    }


def test_json_payload_decodes_to_the_same_message_as_encoding_as_dict() -> None:
    event = make_event()

    assert orjson.loads(event.payload(JSON)) == orjson.loads(orjson.dumps(event.as_dict()))


def test_json_event_frame_is_spliced_from_the_body_without_reencoding() -> None:
    # A body with spacing orjson would never produce: it must reach the client byte for byte.
    body = b'{"kind": "pin",  "data": {"x": 1.50}, "ts": 7}'
    event = make_event(body)

    payload = event.payload(JSON)

    assert payload.endswith(body[1:])
    assert payload == b'{"type":"event","ch":"b001","epoch":"a1b2c3d4","offset":42,' + body[1:]
    assert orjson.loads(payload)["data"] == {"x": 1.5}


def test_msgpack_payload_decodes_to_as_dict() -> None:
    event = make_event()

    assert msgpack.unpackb(event.payload(MSGPACK), raw=False) == event.as_dict()


def test_event_frames_are_websocket_frames_of_the_codec_payload() -> None:
    event = make_event()

    assert event.frame(JSON) == ws_frame(OP_TEXT, event.payload(JSON))
    assert event.frame(MSGPACK) == ws_frame(OP_BINARY, event.payload(MSGPACK))


def test_event_frame_is_built_once_per_codec_and_cached() -> None:
    event = make_event()

    json_frame = event.frame(JSON)
    msgpack_frame = event.frame(MSGPACK)

    assert event.frame(JSON) is json_frame
    assert event.frame(MSGPACK) is msgpack_frame
    assert json_frame != msgpack_frame


def test_volatile_frame_is_the_codec_frame_of_its_message_built_once() -> None:
    update = Volatile("b001", "stock:s1", {"type": "stock", "sale": "s1", "left": 17})

    json_frame = update.frame(JSON)
    msgpack_frame = update.frame(MSGPACK)

    assert json_frame == JSON.frame(update.message)
    assert msgpack_frame == MSGPACK.frame(update.message)
    assert update.frame(JSON) is json_frame
    assert update.frame(MSGPACK) is msgpack_frame


# ---- publish_ts ----------------------------------------------------------------------------------------------


def test_publish_ts_reads_the_publishers_timestamp() -> None:
    assert make_event().publish_ts() == 1_700_000_000_123


def test_publish_ts_is_not_fooled_by_a_ts_field_inside_data() -> None:
    body = event_body("k", {"ts": 5, "nested": {"ts": 6}}, ts_ms=1234)

    assert make_event(body).publish_ts() == 1234


def test_publish_ts_is_zero_when_the_body_has_no_timestamp() -> None:
    assert make_event(b'{"kind":"k","data":null}').publish_ts() == 0


# ---- envelopes ------------------------------------------------------------------------------------------------


def test_event_envelope_round_trip_keeps_position_and_body_bytes() -> None:
    raw = encode_event_envelope("a1b2c3d4", 42, BODY)

    event = decode_envelope("b001", raw)

    assert isinstance(event, Event)
    assert (event.channel, event.epoch, event.offset) == ("b001", "a1b2c3d4", 42)
    assert event.body == BODY


def test_event_envelope_body_may_contain_spaces() -> None:
    body = event_body("comment", {"text": "a b  c"}, ts_ms=1)

    event = decode_envelope("main", encode_event_envelope("e1", 3, body))

    assert isinstance(event, Event)
    assert event.body == body


def test_volatile_envelope_round_trip_keeps_key_and_message() -> None:
    message = {"type": "online", "venue": "main", "n": 12345, "text": "x y"}

    update = decode_envelope("main", encode_volatile_envelope("online", message))

    assert isinstance(update, Volatile)
    assert (update.channel, update.key, update.message) == ("main", "online", message)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"X1 2 {}",
        b"E",
        b"Eabc",
        b"Eabc 12",
        b"Eabc twelve {}",
        b"E\xff\xfe 1 {}",
        b"V",
        b"Vkey",
        b"Vkey {not json",
        b"V\xff {}",
    ],
    ids=[
        "empty",
        "unknown-kind",
        "E-only",
        "E-no-offset",
        "E-no-body",
        "E-bad-offset",
        "E-epoch-not-utf8",
        "V-only",
        "V-no-message",
        "V-bad-json",
        "V-key-not-utf8",
    ],
)
def test_a_malformed_envelope_raises_envelope_error(raw: bytes) -> None:
    with pytest.raises(EnvelopeError, match="main"):
        decode_envelope("main", raw)


def test_envelope_error_is_a_value_error() -> None:
    assert issubclass(EnvelopeError, ValueError)
