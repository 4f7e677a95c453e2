"""A small asyncio client for livehub (used by the tests and the load tests).

    async with await Client.connect("ws://127.0.0.1:8000", token, venue="b1") as c:
        snapshot = await c.wait_for("snapshot")
        reply = await c.request({"type": "buy", "sale": "s1", "qty": 1})
        async for frame in c.frames():
            ...

The client keeps each channel's position ``(epoch, offset)`` from the snapshot
and every event, so :meth:`resume` reconnects and asks for exactly what it
missed.  It checks order itself: an event that skips an offset is recorded in
``gaps`` (livehub never sends one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livehub.protocol.codec import JSON, MSGPACK, Codec


class ClientError(Exception):
    """The server answered a request with an error frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.code: str = frame.get("code", "")
        self.frame = frame


class GapError(Exception):
    """An event arrived out of order (never expected from livehub)."""


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}")
        self.code = code
        self.reason = reason


class Client:
    def __init__(self, base_url: str, token: str, codec: Codec, guide: str | None, max_queue: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.codec = codec
        self.guide = guide
        self.venue: str | None = None
        self.positions: dict[str, tuple[str, int]] = {}
        self.welcome: dict[str, Any] = {}
        self.ws: ClientConnection | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_queue)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.max_queue = max_queue
        self.gaps: list[str] = []  # order violations seen (livehub should never cause any)

    @classmethod
    async def connect(
        cls, base_url: str, token: str, *, venue: str | None = None, codec: str = "json",
        guide: str | None = None, max_queue: int = 100_000,
    ) -> Client:  # fmt: skip
        client = cls(base_url, token, MSGPACK if codec == "msgpack" else JSON, guide, max_queue)
        await client._open(venue)
        return client

    def url(self, venue: str | None) -> str:
        query: dict[str, str] = {"token": self.token} if self.token else {}  # no token: an anonymous viewer
        if venue:
            query["venue"] = venue
        if self.guide:
            query["guide"] = self.guide
        base = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        return f"{base}/ws?{urlencode(query)}"

    async def _open(self, venue: str | None) -> None:
        self.close_code, self.close_reason = None, ""
        self._queue = asyncio.Queue(self.max_queue)
        self.ws = await connect(self.url(venue), subprotocols=[self.codec.subprotocol],  # type: ignore[list-item]
                                compression=None, max_size=2**22, max_queue=None)  # fmt: skip
        if venue:
            self.venue = venue
        self._reader = asyncio.create_task(self._read())
        self.welcome = await self.wait_for("welcome")

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = self.codec.decode(raw)
                try:
                    self._track(frame)
                except GapError as exc:
                    self.gaps.append(str(exc))
                rid = frame.get("id")
                if rid is not None and frame.get("type") in ("reply", "error", "snapshot"):
                    fut = self._pending.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(frame)
                        continue
                await self._queue.put(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.close_reason = self.ws.close_reason or ""
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Closed(self.close_code, self.close_reason))
            self._pending.clear()
            await self._queue.put({"type": "__closed__", "code": self.close_code, "reason": self.close_reason})

    def _track(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "snapshot":
            self.venue = frame["venue"]
            self.positions = {c: (p["epoch"], p["offset"]) for c, p in frame["channels"].items()}
        elif kind == "event":
            ch, epoch, offset = frame["ch"], frame["epoch"], frame["offset"]
            last = self.positions.get(ch)
            if last is not None and last[0] == epoch and offset != last[1] + 1:
                raise GapError(f"{ch}: offset {offset} after {last[1]}")
            self.positions[ch] = (epoch, offset)

    # ---- reading ------------------------------------------------------------------------------
    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        frame = await asyncio.wait_for(self._queue.get(), timeout)
        if frame.get("type") == "__closed__":
            raise Closed(frame.get("code"), frame.get("reason", ""))
        return frame

    async def wait_for(self, frame_type: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next frame of type ``frame_type`` (whose fields equal ``match``); others are skipped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next(max(0.0, deadline - loop.time()))
            if frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def frames(self, timeout: float = 10.0) -> AsyncIterator[dict[str, Any]]:
        while True:
            try:
                yield await self.next(timeout)
            except Closed:
                return

    def drain(self) -> list[dict[str, Any]]:
        """Frames already received and not yet read."""
        out = []
        while not self._queue.empty():
            frame = self._queue.get_nowait()
            if frame.get("type") != "__closed__":
                out.append(frame)
        return out

    # ---- sending -------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        payload = self.codec.encode(message)
        await self.ws.send(payload.decode() if self.codec is JSON else payload)

    async def send_raw(self, payload: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(payload)

    async def request(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a request with a fresh id (unless given) and return its reply's data.

        Raises ClientError with the server's code when the answer is an error frame.
        """
        message = dict(message)
        rid = message.setdefault("id", f"r{next(self._ids)}")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.send(message)
        frame = await asyncio.wait_for(fut, timeout)
        if frame.get("type") == "error":
            raise ClientError(frame)
        if frame.get("type") == "snapshot":
            return frame
        data: dict[str, Any] = frame.get("data", {})
        return data

    async def join(self, venue: str, resume: bool = False, attempts: int = 5) -> dict[str, Any]:
        """Join ``venue`` (from the last positions with ``resume``); returns the snapshot.

        A join answered ``unavailable`` (Redis unreachable: the server kept no half state) is
        retried, with a growing pause, up to ``attempts`` times in all."""
        msg: dict[str, Any] = {"type": "join", "venue": venue}
        if resume and self.positions:
            msg["since"] = {c: list(p) for c, p in self.positions.items()}
        for attempt in range(attempts):
            try:
                return await self.request(dict(msg))
            except ClientError as exc:
                if exc.code != "unavailable" or attempt == attempts - 1:
                    raise
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def resume(self, attempts: int = 5) -> dict[str, Any]:
        """Reconnect and rejoin the venue from the last positions; returns the snapshot.

        A refused connection (the node is gone) or a join answered ``unavailable`` is retried,
        with a growing pause, up to ``attempts`` times in all."""
        await self.close()
        for attempt in range(attempts):
            try:
                await self._open(None)
                break
            except OSError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        assert self.venue is not None
        return await self.join(self.venue, resume=True, attempts=attempts)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
