"""Lua scripts kept as package data, registered once per client, run by EVALSHA.

Each ``livehub/store/lua/<name>.lua`` starts with a header naming its KEYS and ARGV.
``Scripts`` loads the files once; scripts run with EVALSHA and are reloaded on
NOSCRIPT (for example after a Redis restart).

With ``batch=True`` (what a node uses), calls travel through the pipelined
batcher of :mod:`livehub.store.batcher` over ``connections`` connections of its
own (default 4); otherwise (and for a call given a pipeline as ``client``) each
call is one EVALSHA through the client.
"""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livehub.store.batcher import Batcher, BatchQueueFull

__all__ = ["BatchQueueFull", "Scripts", "lua_source"]


@cache
def lua_source(name: str) -> str:
    return resources.files("livehub.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, redis: Redis, *, batch: bool = False, connections: int = 4) -> None:
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {}
        self.batch = batch
        self.batcher = Batcher(redis, connections) if batch else None
        self._submit = self.batcher.submit if self.batcher is not None else None

    @property
    def batches(self) -> int:
        """Pipelines the batcher sent (for tests and metrics)."""
        return self.batcher.batches if self.batcher is not None else 0

    def get(self, name: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(lua_source(name))
            self._scripts[name] = script
        return script

    async def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (EVALSHA, NOSCRIPT reload); ``client`` may be a pipeline."""
        script = self.get(name)
        if client is not None or self._submit is None:
            return await script(keys=keys, args=args, client=client)
        return await self._submit(script, keys, args)

    def submit(self, name: str, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """Run script ``name`` like :meth:`run`, queued now: the answer is a future to await later (on the
        batcher: no task, no coroutine; it goes in the same pipeline as the calls queued with it)."""
        if self._submit is None:
            return asyncio.ensure_future(self.run(name, keys, args))
        return self._submit(self.get(name), keys, args)

    async def aclose(self) -> None:
        """Close the batcher's own connections (the client's pool is the caller's)."""
        if self.batcher is not None:
            await self.batcher.aclose()
