"""One livehub websocket session that reports to locust's statistics like any request.

Request type ``WS``; names:

* ``join <main|brand|host>[ guide]``: connect until the snapshot (a close, an error frame or no
  snapshot within the timeout is a failure);
* ``event <kind>``: per event, publish-to-delivery latency (the event's ``ts``, unix ms, against
  the local clock: exact on one machine, otherwise as good as the clocks' synchronisation, NTP);
* ``ping``, ``comment``, ``buy <status>``: round trip of a request by its id (an ``error``
  answer or no answer within the timeout is a failure, named by the request);
* ``closed <code>``: the node closed the connection (a failure; the user reconnects);
* ``error <code>``: an error frame that answers no request (a failure).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import gevent
from gevent.event import AsyncResult
from locust import events
from websockets.exceptions import InvalidHandshake, InvalidStatus

from loadtests.crowd.wire import Closed, WebSocket

log = logging.getLogger("livehub.loadtests.ws")
MAX_PENDING = 64  # requests awaiting an answer per session (each waits at most the timeout)


def fire(name: str, started: float, length: int = 0, exc: BaseException | str | None = None) -> None:
    error = Exception(exc) if isinstance(exc, str) else exc
    events.request.fire(request_type="WS", name=name, response_time=(time.perf_counter() - started) * 1000,
                        response_length=length, exception=error, context={})  # fmt: skip


def fire_ms(name: str, ms: float, length: int = 0) -> None:
    events.request.fire(request_type="WS", name=name, response_time=max(0.0, ms), response_length=length,
                        exception=None, context={})  # fmt: skip


class SessionError(Exception):
    pass


class LiveSocket:
    """Connect, wait for the snapshot, then read every frame in a greenlet.

    ``on_frame(frame)`` is called for every frame that is not the answer to a request.
    """

    def __init__(self, base_url: str, token: str, venue: str, *, main_venue: str, guide: str | None,
                 timeout_s: float, on_frame: Any = None, host: bool = False) -> None:  # fmt: skip
        self.venue = venue
        self.timeout_s = timeout_s
        self.on_frame = on_frame
        self.pending: dict[str, AsyncResult] = {}
        self.closing = False
        self.closed = False
        self.snapshot: dict[str, Any] = {}
        self.clock_offset_ms = 0.0  # node clock - local clock
        room = "host" if host else "main" if venue == main_venue else "brand"
        self.name = f"join {room}{' guide' if guide else ''}"
        query = {"venue": venue, "token": token, **({"guide": guide} if guide else {})}
        self.url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws?" + urlencode(query)
        self.ws: WebSocket | None = None
        self.reader: gevent.Greenlet | None = None

    # ---- opening -----------------------------------------------------------------------
    def open(self) -> bool:
        started = time.perf_counter()
        try:
            deadline = time.monotonic() + self.timeout_s  # one deadline: connect, handshake and snapshot
            self.ws = WebSocket(self.url, ["livehub.json.v1"], self.timeout_s)
            while True:
                raw = self.ws.recv(timeout=max(0.001, deadline - time.monotonic()))
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "welcome":
                    self.clock_offset_ms = frame.get("server_time", time.time() * 1000) - time.time() * 1000
                elif kind == "snapshot":
                    self.observe_clock(frame.get("server_time"))
                    self.snapshot = frame
                    fire(self.name, started, len(raw))
                    break
                elif kind == "error":
                    raise SessionError(f"error {frame.get('code')} before the snapshot: {frame.get('message')}")
        except TimeoutError:
            return self._failed(started, f"no snapshot within {self.timeout_s:g}s")
        except Closed as exc:
            return self._failed(started, f"closed {exc.code} before the snapshot")
        except InvalidStatus as exc:
            return self._failed(started, f"handshake refused: HTTP {exc.response.status_code}")
        except (InvalidHandshake, OSError, SessionError, ValueError) as exc:
            return self._failed(started, f"{type(exc).__name__}: {exc}")
        self.reader = gevent.spawn(self._read)
        return True

    def _failed(self, started: float, why: str) -> bool:
        fire(self.name, started, 0, why)
        self.close()
        return False

    # ---- reading -----------------------------------------------------------------------
    def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                raw = self.ws.recv()
                frame = json.loads(raw)
                kind = frame.get("type")
                rid = frame.get("id")
                waiter = self.pending.pop(rid, None) if rid is not None else None
                if waiter is not None:
                    waiter.set((frame, len(raw)))
                elif kind == "event":
                    if "ts" in frame:
                        fire_ms(f"event {frame.get('kind')}", time.time() * 1000 - frame["ts"], len(raw))
                    if self.on_frame:
                        self.on_frame(frame)
                elif kind == "error":
                    events.request.fire(request_type="WS", name=f"error {frame.get('code')}", response_time=0,
                                        response_length=len(raw), exception=Exception(frame.get("message")),
                                        context={})  # fmt: skip
                elif self.on_frame:
                    self.on_frame(frame)
        except (Closed, ValueError) as exc:
            if not self.closing:
                code = exc.code if isinstance(exc, Closed) and exc.code is not None else "none (connection lost)"
                events.request.fire(request_type="WS", name=f"closed {code}", response_time=0, response_length=0,
                                    exception=Exception(f"the node closed the connection: {code}"),
                                    context={})  # fmt: skip
        finally:
            self.closed = True
            if not self.closing:
                self.ws.release()  # the node ended it; nobody reads it any more
            for waiter in self.pending.values():
                waiter.set(None)
            self.pending.clear()

    # ---- writing -----------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        if self.closed or self.ws is None:
            return False
        try:
            self.ws.send(json.dumps(message))
            return True
        except Closed:
            return False

    def request(self, message: dict[str, Any], name: str, rid: str | None = None) -> dict[str, Any] | None:
        """Send a request with an id; its answer frame, or None (a failure, reported under ``name``)."""
        started = time.perf_counter()
        if self.closed or len(self.pending) >= MAX_PENDING:
            fire(name, started, 0, "connection closed" if self.closed else "too many requests in flight")
            return None
        rid = rid or uuid.uuid4().hex[:16]
        waiter: AsyncResult = AsyncResult()
        self.pending[rid] = waiter
        if not self.send({**message, "id": rid}):
            self.pending.pop(rid, None)
            fire(name, started, 0, "connection closed")
            return None
        try:
            answer = waiter.get(timeout=self.timeout_s)
        except gevent.Timeout:
            self.pending.pop(rid, None)
            fire(name, started, 0, f"no answer within {self.timeout_s:g}s")
            return None
        if answer is None:
            fire(name, started, 0, "connection closed before the answer")
            return None
        frame, length = answer
        if frame.get("type") == "error":
            fire(name, started, length, f"error {frame.get('code')}: {frame.get('message')}")
            return None
        data = frame.get("data")
        self.observe_clock(data.get("server_time") if isinstance(data, dict) else None)
        frame["_elapsed_ms"] = (time.perf_counter() - started) * 1000
        frame["_length"] = length
        return dict(frame)

    def observe_clock(self, server_time: Any) -> None:
        """A node time seen on arrival: ``server_time - local now`` is the clock offset minus that frame's
        delay, so the largest such value seen is the closest (lower) bound of the offset."""
        if isinstance(server_time, int | float):
            self.clock_offset_ms = max(self.clock_offset_ms, server_time - time.time() * 1000)

    def server_now_ms(self) -> float:
        """The node's clock, for sale windows (to within the shortest delay of a frame seen)."""
        return time.time() * 1000 + self.clock_offset_ms

    def close(self) -> None:
        """Close frame, wait (bounded) for the reader to see the end, then close the descriptor."""
        if self.closing:
            return
        self.closing = True
        ws, reader = self.ws, self.reader
        if ws is not None:
            ws.close()
            if reader is not None:
                reader.join(timeout=2)
                if not reader.dead:
                    ws.shutdown()
                    reader.join(timeout=1)
                if not reader.dead:
                    reader.kill(block=True, timeout=1)
            ws.release()
        self.closed = True
