"""A host's login over HTTP on a real livehub outside demo mode: the key is checked against the
host's argon2 hash, a wrong key or host is refused, and logins are rate-limited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import HUB_ENV, LivehubProcess, http_json, running


def login(server: LivehubProcess, host: object, key: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    return http_json("POST", f"{server.http}/api/auth/host", {"host": host, "key": key})


def test_a_host_logs_in_with_the_key_whose_hash_is_in_the_config_and_its_token_drives_its_venue(
    secure_server: LivehubProcess,
) -> None:
    status, out = login(secure_server, "host-b2", "b2-key")
    assert status == 200 and out["host"] == "host-b2" and out["venue"] == "b2"
    status, _ = http_json("POST", f"{secure_server.http}/api/venues/b2/events",
                          {"kind": "announcement", "data": {"text": "hello"}}, out["token"])  # fmt: skip
    assert status == 200


@pytest.mark.parametrize(("host", "key"), [("host-b3", "b2-key"), ("host-nobody", "b3-key"), ("host-b3", ""),
                                           ("host-b3", 42), ("host-b3", "k" * 300)])  # fmt: skip
def test_a_wrong_key_an_unknown_host_or_a_malformed_key_is_unauthorized(
    secure_server: LivehubProcess, host: str, key: object
) -> None:
    status, err = login(secure_server, host, key)
    assert status == 401 and err["code"] == "unauthorized" and "token" not in err


@pytest.fixture(scope="module")
def strict_login_server(redis_url: str) -> Iterator[LivehubProcess]:
    env = {**HUB_ENV, "LIVEHUB_DEMO": "0", "LIVEHUB_HOST_LOGIN_BURST": "2", "LIVEHUB_HOST_LOGIN_RATE": "0.001"}
    with running(redis_url, "lg" + uuid.uuid4().hex[:8], env) as server:
        yield server


def test_host_logins_beyond_the_burst_are_answered_rate_limited_even_with_the_right_key(
    strict_login_server: LivehubProcess,
) -> None:
    assert login(strict_login_server, "host-b1", "guess-1")[0] == 401
    assert login(strict_login_server, "host-b1", "guess-2")[0] == 401
    status, err = login(strict_login_server, "host-b1", "b1-key")
    assert status == 429 and err["code"] == "rate_limited"
