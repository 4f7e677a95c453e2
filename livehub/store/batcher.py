"""The pipelined script batcher: EVALSHA calls sent together over a few connections it owns.

A :class:`livehub.store.scripts.Scripts` built with ``batch=True`` (what a node uses) hands
its calls to a :class:`Batcher`.  The calls are pipelined (no MULTI) over at most
``connections`` connections (default 4): while every one of them has a batch in flight, new
calls wait in one bounded queue and leave together in the next pipeline, so the batch size
follows the load (one call when idle, up to ``MAX_BATCH`` under a rush).  Each call is still
its own atomic script; batching changes only how they travel.  A batch costs one packed write
(hiredis packs each command in C), one read per answer without a per-answer timeout, and one
deadline for the whole batch (the client's ``socket_timeout``, else 5 s): the per-command
costs of a redis-py pipeline (pool checkout, argument encoding in Python, one timeout per
answer) were most of livehub's CPU per buy.  Each call's answer is bounded by that timeout
counted from the moment it was *submitted*, not sent: a batch's deadline is its oldest call's
submission plus the timeout, so during a Redis stall a call queued behind an in-flight batch
fails with the rest by its own deadline instead of waiting for that batch to fail and then for
its own.  A failed batch closes its connection (it may
hold unread answers) and fails its calls; the connection reconnects on its next batch.
A connection idle longer than the pool's ``health_check_interval`` is PINGed before its next
batch (a connection from before a Redis restart is replaced, not used to fail a batch).
More than ``MAX_QUEUED`` waiting calls fail at once with :class:`BatchQueueFull`.  An answer
of NOSCRIPT (Redis lost its script cache) runs that call again through the script object,
which loads the script first.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

log = logging.getLogger("livehub.store.batcher")

MAX_BATCH = 256  # script calls per pipeline; more wait for the next one
MAX_QUEUED = 10_000  # calls waiting for a free connection; past this, a call fails at once (unavailable)
DEFAULT_TIMEOUT_S = 5.0

Call = tuple[AsyncScript, list[Any], list[Any], "asyncio.Future[Any]", float]  # ..., submitted at (loop time)


class BatchQueueFull(RedisError):
    """More script calls are waiting than ``MAX_QUEUED``: Redis is not keeping up."""


class Batcher:
    """Pipelines of EVALSHA calls over its own connections to ``redis``'s server."""

    def __init__(self, redis: Redis, connections: int = 4) -> None:
        self._pending: list[Call] = []
        self._scheduled = False
        pool = redis.connection_pool
        kwargs = dict(pool.connection_kwargs)
        self._timeout_s = kwargs.get("socket_timeout") or DEFAULT_TIMEOUT_S
        kwargs["socket_timeout"] = None  # one deadline per batch instead (see the module docstring)
        # our own health check: a connection idle this long is PINGed before its next batch
        self._health_s = float(kwargs.pop("health_check_interval", 0) or 0)
        self._last_used: dict[AbstractConnection, float] = {}
        self._conn_class: Callable[..., AbstractConnection] = pool.connection_class
        self._conn_kwargs = kwargs
        self._idle: list[AbstractConnection] = []
        self._all: list[AbstractConnection] = []
        self._max_connections = connections
        self._flushing: set[asyncio.Task[None]] = set()
        self.batches = 0  # pipelines sent (for tests and metrics)

    def submit(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """Queue one call for the next pipeline; the future is its answer (await it)."""
        if len(self._pending) >= MAX_QUEUED:
            raise BatchQueueFull(f"{len(self._pending)} script calls already wait for Redis")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((script, keys, args, fut, loop.time()))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start_flush)
        return fut

    def _start_flush(self) -> None:
        self._scheduled = False
        while self._pending and (self._idle or len(self._all) < self._max_connections):
            if self._idle:
                conn = self._idle.pop()
            else:
                conn = self._conn_class(**self._conn_kwargs)
                self._all.append(conn)
            task = asyncio.get_running_loop().create_task(self._flush(conn))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _flush(self, conn: AbstractConnection) -> None:
        """Send pending calls on ``conn`` until none is left, then give ``conn`` back."""
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._send(conn, batch)
        finally:
            self._idle.append(conn)

    async def _send(self, conn: AbstractConnection, batch: list[Call]) -> None:
        self.batches += 1
        results: list[Any] = []
        try:
            packed = b"".join([pack_command(("EVALSHA", s.sha, len(k), *k, *a)) for s, k, a, _, _ in batch])
            async with asyncio.timeout_at(batch[0][4] + self._timeout_s):  # the oldest call's deadline
                await self._check_health(conn)
                for attempt in (1, 2):
                    try:
                        await conn.send_packed_command(packed, check_health=False)
                        for _ in batch:
                            try:
                                results.append(await conn.read_response(timeout=math.inf))
                            except ResponseError as exc:  # an error answer: the connection is still in step
                                results.append(exc)
                        break
                    except (RedisConnectionError, ConnectionError) as exc:
                        # closed before a single answer: a connection left from before a Redis restart
                        # (the new server never saw the batch). Once more on a new connection, within
                        # the same deadline; the scripts are idempotent per request, so even a batch the
                        # old server ran before dying answers "duplicate" then
                        if results or attempt == 2:
                            raise
                        log.info("script connection lost before any answer (%s): sending the batch again", exc)
                        await conn.disconnect(nowait=True)
        except BaseException as exc:
            await conn.disconnect(nowait=True)  # it may hold answers nobody will read
            failure: BaseException = exc
            if isinstance(exc, TimeoutError):  # asyncio's deadline; callers answer RedisError as "unavailable"
                failure = RedisError(f"no answer from Redis within {self._timeout_s} s")
            for *_, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        for (script, keys, args, fut, _), result in zip(batch, results, strict=True):
            if fut.done():  # the caller gave up (cancelled)
                continue
            if isinstance(result, NoScriptError):  # Redis lost its script cache: EVALSHA again after a load
                self._reload(script, keys, args, fut)
            elif isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def _check_health(self, conn: AbstractConnection) -> None:
        """A connection idle longer than the health-check interval may be left over from before a
        Redis restart: PING it first, and on a lost connection connect again (the batch then goes
        on the new one) instead of failing the batch's calls."""
        now = asyncio.get_running_loop().time()
        last, self._last_used[conn] = self._last_used.get(conn), now
        if not self._health_s or last is None or now - last < self._health_s or not conn.is_connected:
            return
        try:
            await conn.send_command("PING", check_health=False)
            await conn.read_response(timeout=math.inf)
        except (ConnectionError, OSError, RedisConnectionError):
            await conn.disconnect(nowait=True)

    def _reload(self, script: AsyncScript, keys: list[Any], args: list[Any], fut: asyncio.Future[Any]) -> None:
        async def again() -> None:
            try:
                result = await script(keys=keys, args=args)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                return
            if not fut.done():
                fut.set_result(result)

        task = asyncio.ensure_future(again())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def aclose(self) -> None:
        """Close the batcher's own connections (the client's pool is the caller's)."""
        for conn in self._all:
            await conn.disconnect()
        self._all.clear()
        self._last_used.clear()
        self._idle.clear()
