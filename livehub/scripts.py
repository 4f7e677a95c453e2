"""Lua scripts kept as package data, registered once per client, run by EVALSHA.

Each ``livehub/lua/<name>.lua`` starts with a header naming its KEYS and ARGV.
``Scripts`` loads the files once; redis-py's ``Script`` object runs them with
EVALSHA and reloads on NOSCRIPT (for example after a Redis restart).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


@cache
def lua_source(name: str) -> str:
    return resources.files("livehub").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {}

    def get(self, name: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(lua_source(name))
            self._scripts[name] = script
        return script

    async def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (EVALSHA, NOSCRIPT reload); ``client`` may be a pipeline."""
        return await self.get(name)(keys=keys, args=args, client=client)
