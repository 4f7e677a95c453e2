"""A connection's inbound limits over real websockets on a node with a strict inbound rate (a burst of 4
frames, then practically none) and a small ``max_errors``: a rate-limited request is answered by its id, and
once the connection is closed for too many errors nothing more it sent is handled, even frames that came in
the same TCP read.

And, without I/O, what an idle connection's Session holds: no backlog and no rate bucket until frames
come, the backlog gone again once its frames are handled.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from livehub.client import Client
from livehub.config import load_festival
from livehub.domain.tokens import Identity
from livehub.hub.connection import Connection
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON
from livehub.settings import Settings
from livehub.web.session import Session
from tests.conftest import HUB_ENV, LivehubProcess, connect_viewer, host_token, running, viewer_token
from tests.fakes import FakeRaw, messages

pytestmark = pytest.mark.asyncio

BURST = 4
MAX_ERRORS = 10


@pytest.fixture(scope="module")
def strict_server(redis_url: str) -> Iterator[LivehubProcess]:
    env = {**HUB_ENV, "LIVEHUB_INBOUND_RATE": "0.0001", "LIVEHUB_INBOUND_BURST": str(BURST),
           "LIVEHUB_MAX_ERRORS": str(MAX_ERRORS)}  # fmt: skip
    with running(redis_url, "se" + uuid.uuid4().hex[:8], env) as server:
        yield server




async def answers(client: Client, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        frame = await client.next(10)
        if frame.get("type") in ("reply", "error", "snapshot"):
            out.append(frame)
    return out


def inbound_errors(server: LivehubProcess) -> float:
    with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
        text = r.read().decode()
    match = re.search(r"^livehub_inbound_errors_total\{[^}]*\} (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


async def test_a_rate_limited_request_is_answered_with_its_id(strict_server: LivehubProcess) -> None:
    client = await connect_viewer(strict_server)
    try:
        for i in range(BURST):
            await client.send({"type": "ping", "id": i})
        await client.send({"type": "buy", "id": "buy-1", "sale": "s-nope", "qty": 1})
        await client.send({"type": "ping", "id": "after"})
        await client.send_raw('{"type": "ping", "id": ')  # not JSON: no id to give back
        await client.send({"type": "ping", "id": True})  # not a valid id: none either
        got = await answers(client, BURST + 4)
        assert [(a["type"], a.get("id")) for a in got[:BURST]] == [("reply", i) for i in range(BURST)]
        assert [(a["type"], a["code"], a.get("id")) for a in got[BURST:]] == [
            ("error", "rate_limited", "buy-1"), ("error", "rate_limited", "after"),
            ("error", "rate_limited", None), ("error", "rate_limited", None),
        ]  # fmt: skip
    finally:
        await client.close()


def masked_text(payload: bytes) -> bytes:
    return Frame(Opcode.TEXT, payload).serialize(mask=True, extensions=[])


async def test_bad_frames_in_one_read_after_the_close_are_dropped_unanswered_and_the_node_stays_healthy(
    strict_server: LivehubProcess,
) -> None:
    errors_before = inbound_errors(strict_server)
    async with connect(f"{strict_server.ws}/ws?token={viewer_token('u-flood')}", compression=None) as ws:
        assert orjson.loads(await ws.recv())["type"] == "welcome"
        # A join (a task: the frames behind it wait in the backlog) and 500 bad frames, all in one write.
        flood = masked_text(b'{"type": "join", "venue": "b1", "id": "j"}') + masked_text(b"nope") * 500
        ws.transport.write(flood)
        received = []
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    received.append(orjson.loads(await ws.recv()))
        assert ws.close_code == 1008
    kinds = [m["type"] for m in received if m["type"] in ("snapshot", "error")]
    assert kinds == ["snapshot"] + ["error"] * MAX_ERRORS, kinds
    assert inbound_errors(strict_server) - errors_before == MAX_ERRORS  # none built for the frames after the close

    other = await connect_viewer(strict_server)
    try:
        assert (await other.request({"type": "ping"}))["server_time"] > 0
        snapshot = await other.join("b1")
        assert snapshot["venue"] == "b1"
    finally:
        await other.close()


async def test_a_signal_nested_deeper_than_the_node_re_encodes_is_a_bad_request_and_the_connection_stays(
    livehub_server: LivehubProcess,
) -> None:
    async with connect(f"{livehub_server.ws}/ws?token={host_token()}", compression=None) as ws:
        assert orjson.loads(await ws.recv())["type"] == "welcome"
        payload = b'{"type": "signal", "id": "s", "to": "host-b1", "data": {"sdp": ' + b"[" * 300 + b"]" * 300 + b"}}"
        await ws.send(payload.decode())
        await ws.send('{"type": "ping", "id": "p"}')
        first, second = orjson.loads(await ws.recv()), orjson.loads(await ws.recv())
    assert (first["type"], first["code"], first["id"], first.get("details")) == (
        "error", "bad_request", "s", {"field": "data", "type": "signal"})  # fmt: skip
    assert (second["type"], second["id"]) == ("reply", "p")


# ---- an idle connection's Session, without I/O -----------------------------------------------------------


class StandInNode:
    """What a Session reads of its node; ``buy`` answers once ``release`` is set."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.festival = load_festival("config/small.toml")
        self.stats = Stats()
        self.release = asyncio.Event()
        self.commands = {"buy": self.buy}

    async def buy(self, conn: Connection, cmd: Any) -> dict[str, Any]:
        await self.release.wait()
        return {"bought": cmd.id}


def idle_session() -> tuple[Session, StandInNode, FakeRaw]:
    node, raw = StandInNode(), FakeRaw()
    conn = Connection("c1", JSON, CODECS.index(JSON), Identity("u1", "viewer"), raw, 1 << 20, node.stats)
    return Session(node, conn, "u1"), node, raw  # type: ignore[arg-type]


async def test_an_idle_session_holds_no_backlog_and_no_rate_bucket_until_frames_come() -> None:
    session, _, raw = idle_session()
    assert session.backlog is None and session.inbound is None
    assert session.feed('{"type":"ping","id":1}')
    assert [m["id"] for m in messages(raw.data)] == [1]
    assert session.inbound is not None, "the bucket exists from the first frame on"
    assert session.backlog is None, "a frame handled at once never waits"


async def test_frames_behind_a_running_command_wait_in_order_and_their_backlog_is_gone_once_handled() -> None:
    session, node, raw = idle_session()
    session.feed('{"type":"buy","id":"b1","sale":"s1","qty":1}')
    session.feed('{"type":"ping","id":2}')
    session.feed('{"type":"ping","id":3}')
    assert session.backlog is not None and len(session.backlog) == 2 and raw.writes == []
    node.release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert [m["id"] for m in messages(raw.data)] == ["b1", 2, 3]
    assert session.task is None and session.backlog is None


async def test_the_role_check_is_made_once_per_allowed_type_and_every_time_for_a_refused_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import livehub.web.session as session_module

    node, raw = StandInNode(), FakeRaw()
    anonymous = Connection("c2", JSON, CODECS.index(JSON), Identity("", "anonymous"), raw, 1 << 20, node.stats)
    session = Session(node, anonymous, "ip 127.0.0.1")  # type: ignore[arg-type]
    checks: list[str] = []
    real = session_module.check_command

    def counted(kind: str, identity: Identity, festival: Any) -> None:
        checks.append(kind)
        real(kind, identity, festival)

    monkeypatch.setattr(session_module, "check_command", counted)
    for i in range(3):
        session.feed(f'{{"type":"ping","id":{i}}}')
        session.feed(f'{{"type":"comment","id":"c{i}","text":"hi"}}')  # needs a verified user

    assert checks == ["ping", "comment", "comment", "comment"]
    answers = messages(raw.data)
    assert [a["type"] for a in answers] == ["reply", "error"] * 3
    assert {a["code"] for a in answers if a["type"] == "error"} == {"unauthorized"}
