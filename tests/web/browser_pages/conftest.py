"""The browser tests' own pair of ``livehub serve`` processes (a key prefix of their own on the session's
Redis): what they check on a page (a venue's live sale, the dashboard's totals, the pinned card) must not
depend on the sales, pre-sales and group deals that the other tests leave in the shared servers' venues."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import HUB_ENV, LivehubProcess, running

# every page logs its host in from 127.0.0.1: the per-IP host-login limit is lifted, as the per-IP
# connection limit is for all test servers (tests/web/test_routes_auth.py tests the limit itself)
PAGES_ENV = {**HUB_ENV, "LIVEHUB_HOST_LOGIN_BURST": "1000"}


@pytest.fixture(scope="session")
def pages_prefix() -> str:
    return "pages" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def livehub_server(redis_url: str, pages_prefix: str) -> Iterator[LivehubProcess]:
    with running(redis_url, pages_prefix, PAGES_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def livehub_peer(redis_url: str, pages_prefix: str, livehub_server: LivehubProcess) -> Iterator[LivehubProcess]:
    """A second process sharing the browser server's Redis and key prefix."""
    with running(redis_url, pages_prefix, PAGES_ENV) as server:
        yield server
