"""Lua scripts kept as package data, registered once per client, run by EVALSHA.

Each ``livehub/lua/<name>.lua`` starts with a header naming its KEYS and ARGV.
``Scripts`` loads the files once; scripts run with EVALSHA and are reloaded on
NOSCRIPT (for example after a Redis restart).

With ``batch=True`` (what a node uses), script calls made in the same event-loop
turn are sent together in one pipeline (no MULTI): one pool checkout, one write
and one read for many calls instead of one each.  Each call is still its own
atomic script; batching changes only how they travel.  Under a flash-sale rush
this is what keeps livehub's cost per buy low and the connection pool unstarved.
"""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

MAX_BATCH = 256  # script calls per pipeline; more wait for the next one


@cache
def lua_source(name: str) -> str:
    return resources.files("livehub").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, redis: Redis, *, batch: bool = False) -> None:
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {}
        self.batch = batch
        self._pending: list[tuple[AsyncScript, list[Any], list[Any], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self.batches = 0  # pipelines sent (for tests and metrics)

    def get(self, name: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(lua_source(name))
            self._scripts[name] = script
        return script

    async def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (EVALSHA, NOSCRIPT reload); ``client`` may be a pipeline."""
        script = self.get(name)
        if client is not None or not self.batch:
            return await script(keys=keys, args=args, client=client)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, fut))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await fut

    def _start_flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            task = asyncio.ensure_future(self._flush(batch))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[AsyncScript, list[Any], list[Any], asyncio.Future[Any]]]) -> None:
        self.batches += 1
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for script, keys, args, _ in batch:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (script, keys, args, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, NoScriptError):  # Redis lost its script cache: EVALSHA again after a load
                try:
                    fut.set_result(await script(keys=keys, args=args))
                except Exception as exc:
                    fut.set_exception(exc)
            elif isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)
