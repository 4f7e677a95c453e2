"""livehub.hub.connection.Connection: where a connection's bytes go, and what happens when it cannot keep up."""

from __future__ import annotations

from livehub import errors
from livehub.domain.tokens import Identity
from livehub.hub.connection import UNDROPPABLE, Connection
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON, MSGPACK, OP_BINARY, OP_TEXT, Codec
from livehub.protocol.events import Event, Volatile, event_body
from tests.fakes import FakeRaw, messages, split_frames


def make(codec: Codec = JSON, limit: int = 1 << 20) -> tuple[Connection, FakeRaw, Stats]:
    raw, stats = FakeRaw(), Stats()
    conn = Connection("c1", codec, CODECS.index(codec), Identity("u1", "viewer"), raw, limit, stats)
    return conn, raw, stats


def f(label: str) -> bytes:
    """A stand-in for a pre-built frame: the connection never looks inside."""
    return label.encode()


# ---- not paused: straight through --------------------------------------------------------------------------


def test_a_connection_binds_itself_to_its_socket() -> None:
    conn, raw, _ = make()

    assert raw.sink is conn


def test_writes_go_straight_to_the_socket_when_not_paused() -> None:
    conn, raw, _ = make()
    frame = f("event-1")

    conn.send(frame)
    conn.send_volatile("stock:s1", f("stock-1"))
    conn.send_volatile("~comment", f("comment-1"))

    assert raw.writes == [frame, f("stock-1"), f("comment-1")]
    assert raw.writes[0] is frame  # the caller's bytes, not a copy
    assert conn.backlog == [] and conn.latest == {}


def test_send_message_frames_with_the_connections_codec() -> None:
    json_conn, json_raw, _ = make(JSON)
    mp_conn, mp_raw, _ = make(MSGPACK)
    message = {"type": "reply", "id": 1, "data": {"ok": True}}

    json_conn.send_message(message)
    mp_conn.send_message(message)

    assert split_frames(json_raw.data)[0][0] == OP_TEXT
    assert split_frames(mp_raw.data)[0][0] == OP_BINARY
    assert messages(json_raw.data) == messages(mp_raw.data) == [message]


# ---- paused: backlog and latest-value table --------------------------------------------------------------


def test_while_paused_ordered_frames_wait_in_the_backlog_and_flush_in_order_on_resume() -> None:
    conn, raw, _ = make()
    conn.on_pause()

    for label in ["e1", "e2", "e3"]:
        conn.send(f(label))

    assert raw.writes == []
    assert conn.backlog == [f("e1"), f("e2"), f("e3")]
    assert conn.backlog_bytes == 6

    conn.on_resume()

    assert raw.data == b"e1e2e3"
    assert conn.backlog == [] and conn.backlog_bytes == 0
    conn.send(f("e4"))
    assert raw.writes[-1] == f("e4")


def test_a_paused_connection_coalesces_volatile_updates_to_the_latest_value_per_key() -> None:
    conn, raw, stats = make()
    conn.on_pause()

    conn.send_volatile("stock:s1", f("stock=9;"))
    conn.send_volatile("online", f("online=5;"))
    conn.send_volatile("stock:s1", f("stock=8;"))
    conn.send_volatile("stock:s1", f("stock=7;"))

    assert raw.writes == []
    assert stats.coalesced == 2
    conn.on_resume()
    assert raw.writes == [b"stock=7;online=5;"]  # one write, latest values only


def test_on_resume_the_backlog_goes_out_before_the_latest_values() -> None:
    conn, raw, _ = make()
    conn.on_pause()

    conn.send_volatile("stock:s1", f("[stock]"))
    conn.send(f("[e1]"))
    conn.send(f("[e2]"))
    conn.on_resume()

    assert raw.data == b"[e1][e2][stock]"


def test_a_paused_connection_drops_droppable_updates() -> None:
    conn, raw, stats = make()
    conn.on_pause()

    conn.send_volatile("~comment", f("c1"))
    conn.send_volatile("~comment", f("c2"))
    conn.send_volatile("online", f("o1"))
    conn.on_resume()

    assert stats.dropped == 2
    assert stats.coalesced == 0
    assert raw.data == b"o1"


def test_send_items_queues_events_and_coalesces_volatiles_of_a_paused_connection() -> None:
    conn, raw, stats = make()
    e1 = Event("main", "ep", 1, event_body("k", 1, ts_ms=1))
    e2 = Event("main", "ep", 2, event_body("k", 2, ts_ms=2))
    v1 = Volatile("main", "stock:s1", {"type": "stock", "left": 2})
    v2 = Volatile("main", "stock:s1", {"type": "stock", "left": 1})
    conn.on_pause()

    conn.send_items([e1, v1, e2, v2])

    assert conn.backlog == [e1.frame(JSON), e2.frame(JSON)]
    assert conn.latest == {"stock:s1": v2.frame(JSON)}
    assert stats.coalesced == 1
    conn.on_resume()
    assert messages(raw.data) == [e1.as_dict(), e2.as_dict(), v2.message]


def test_a_resume_that_fills_the_socket_again_stops_flushing_and_keeps_order() -> None:
    conn, raw, _ = make()
    conn.on_pause()
    for label in ["e1", "e2", "e3"]:
        conn.send(f(label))
    conn.send_volatile("online", f("o1"))

    def write_then_pause(data: bytes) -> None:  # the transport passes its high-water mark on this write
        raw.writes.append(data)
        conn.on_pause()

    conn.write = write_then_pause
    conn.on_resume()

    assert raw.writes == [f("e1")]
    conn.send(f("e4"))  # queued behind e2, e3
    assert conn.backlog == [f("e2"), f("e3"), f("e4")]

    conn.write = raw.write_raw
    conn.on_resume()
    assert raw.data == b"e1e2e3e4o1"


def test_an_ordered_frame_sent_after_resume_while_a_backlog_remains_queues_behind_it() -> None:
    conn, raw, _ = make()
    conn.on_pause()
    conn.send(f("e1"))
    conn.paused = False  # not paused, but the backlog is not flushed yet

    conn.send(f("e2"))

    assert raw.writes == []
    assert conn.backlog == [f("e1"), f("e2")]


# ---- slow consumers -----------------------------------------------------------------------------------------


def test_a_backlog_up_to_the_limit_is_kept() -> None:
    conn, raw, stats = make(limit=10)
    conn.on_pause()

    conn.send(b"12345")
    conn.send(b"67890")

    assert not conn.closed
    assert raw.closes == []
    assert stats.slow_closes == 0


def test_a_backlog_over_the_limit_closes_the_connection_as_slow() -> None:
    conn, raw, stats = make(limit=10)
    closed_via: list[Connection] = []
    conn.on_close = closed_via.append
    conn.on_pause()

    conn.send(b"12345")
    conn.send(b"678901")

    assert conn.closed
    assert [code for code, _ in raw.closes] == [errors.CLOSE_SLOW]
    assert stats.slow_closes == 1
    assert closed_via == [conn]
    assert conn.backlog == [] and conn.latest == {}


def test_after_close_nothing_is_written() -> None:
    conn, raw, stats = make(limit=10)
    conn.on_pause()
    conn.send_volatile("online", f("o1"))
    conn.send(b"12345678901")  # over the limit: closed
    writes_before = list(raw.writes)

    conn.send(f("e2"))
    conn.send_volatile("online", f("o2"))
    conn.send_message({"type": "reply", "id": 1, "data": {}})
    conn.on_resume()

    assert raw.writes == writes_before == []
    assert stats.slow_closes == 1


# ---- close and loss -------------------------------------------------------------------------------------------


def test_close_sends_the_code_once_and_calls_on_close_once() -> None:
    conn, raw, _ = make()
    calls: list[Connection] = []
    conn.on_close = calls.append

    conn.close(errors.CLOSE_RESYNC, "resync")
    conn.close(errors.CLOSE_NORMAL, "again")
    conn.on_lost()

    assert raw.closes == [(errors.CLOSE_RESYNC, "resync")]
    assert calls == [conn]
    assert conn.closed


def test_a_lost_connection_is_closed_without_a_close_frame_and_forgets_its_backlog() -> None:
    conn, raw, _ = make()
    calls: list[Connection] = []
    conn.on_close = calls.append
    conn.on_pause()
    conn.send(f("e1"))
    conn.send_volatile("online", f("o1"))

    conn.on_lost()
    conn.on_resume()

    assert conn.closed
    assert raw.closes == []
    assert raw.writes == []
    assert calls == [conn]
    assert conn.backlog == [] and conn.latest == {}


def test_a_paused_connection_queues_undroppable_updates_in_its_bounded_backlog() -> None:
    conn, raw, stats = make(limit=100)
    conn.on_pause()

    for i in range(5):
        conn.send_volatile(f"{UNDROPPABLE}o{i}", f(f"order-{i:05}"))  # unique keys: nothing to coalesce
    conn.send_volatile("~c1", f("comment"))

    assert conn.latest == {} and len(conn.backlog) == 5 and stats.dropped == 1
    for i in range(5, 20):
        conn.send_volatile(f"{UNDROPPABLE}o{i}", f(f"order-{i:05}"))
    assert raw.close_codes == [errors.CLOSE_SLOW] and conn.latest == {}  # bounded like events: 4008
