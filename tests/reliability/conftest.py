"""Fixtures of the fault tests: each test gets a redis-server of its own (they pause, kill and
restart it), stopped by PID afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.support import OwnRedis


@pytest.fixture
def redis_server() -> Iterator[OwnRedis]:
    server = OwnRedis().start()
    try:
        yield server
    finally:
        server.stop()
