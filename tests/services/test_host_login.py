"""Host logins: argon2 hashes (several while rotating), plaintext keys only in demo mode, the check
off the event loop, and a small bounded limiter per host id and per IP."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher

from livehub import errors
from livehub.domain.topology import Festival, Host
from livehub.errors import LivehubError
from livehub.services import host_login
from livehub.services.host_login import HostLogin, hash_key, key_matches
from livehub.settings import Settings

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # the hash's own parameters drive verify
OLD, NEW = FAST.hash("old-key"), FAST.hash("new-key")
HASHED = Host("host-a", "a", "A", "", (OLD, NEW))
PLAIN = Host("host-p", "p", "P", "plain-key")


def festival(*hosts: Host) -> Festival:
    return Festival("f", "F", "main", {}, {h.id: h for h in hosts}, {}, {}, {}, {})


def test_hash_key_makes_an_argon2id_hash_that_the_login_accepts() -> None:
    stored = hash_key("panel-key")
    assert stored.startswith("$argon2id$")
    assert key_matches(Host("h", "v", "H", "", (stored,)), "panel-key", demo=False)


def test_every_listed_hash_logs_in_while_a_key_is_rotated_and_a_wrong_key_does_not() -> None:
    assert key_matches(HASHED, "old-key", demo=False) and key_matches(HASHED, "new-key", demo=False)
    assert not key_matches(HASHED, "other-key", demo=False)
    assert not key_matches(HASHED, "", demo=True)


def test_a_plaintext_key_logs_in_only_in_demo_mode() -> None:
    assert key_matches(PLAIN, "plain-key", demo=True)
    assert not key_matches(PLAIN, "plain-key", demo=False)
    assert not key_matches(PLAIN, "wrong", demo=True)


def test_an_unknown_host_or_a_host_with_no_key_never_logs_in() -> None:
    assert not key_matches(None, "anything", demo=True)
    assert not key_matches(Host("h", "v", "H", ""), "", demo=True)


def login(settings: Settings, *hosts: Host) -> HostLogin:
    return HostLogin(settings, festival(*hosts), clock=lambda: 0.0)


async def test_login_returns_the_host_for_a_right_key_and_refuses_a_wrong_key_or_host() -> None:
    logins = login(Settings(), HASHED)
    assert (await logins.login("host-a", "new-key", "10.0.0.1")).id == "host-a"
    for host_id, key in (("host-a", "bad"), ("host-x", "new-key")):
        with pytest.raises(LivehubError) as exc:
            await logins.login(host_id, key, "10.0.0.2")
        assert exc.value.code == errors.UNAUTHORIZED


async def test_the_key_check_runs_in_a_worker_thread_not_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def recording(host: Host | None, key: str, demo: bool) -> bool:
        seen.append(threading.get_ident())
        return True

    monkeypatch.setattr(host_login, "key_matches", recording)
    await login(Settings(), HASHED).login("host-a", "k", "10.0.0.3")
    assert seen and seen[0] != loop_thread


async def test_logins_beyond_the_burst_per_host_id_are_rate_limited_before_any_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    monkeypatch.setattr(host_login, "key_matches", lambda host, key, demo: checked.append(key) or False)
    logins = login(Settings(host_login_burst=2, host_login_rate=0.001), HASHED)
    for ip in ("10.0.0.4", "10.0.0.5"):
        with pytest.raises(LivehubError, match="wrong key"):
            await logins.login("host-a", "guess", ip)
    with pytest.raises(LivehubError) as exc:
        await logins.login("host-a", "guess", "10.0.0.6")  # a third IP: the host id's bucket is empty
    assert exc.value.code == errors.RATE_LIMITED and len(checked) == 2


async def test_logins_beyond_the_burst_per_ip_are_rate_limited_whatever_the_host_id() -> None:
    logins = login(Settings(host_login_burst=2, host_login_rate=0.001), HASHED)
    for host_id in ("host-x", "host-y"):
        with pytest.raises(LivehubError, match="wrong key"):
            await logins.login(host_id, "guess", "10.0.0.7")
    with pytest.raises(LivehubError) as exc:
        await logins.login("host-a", "new-key", "10.0.0.7")
    assert exc.value.code == errors.RATE_LIMITED


async def test_made_up_host_ids_share_one_bucket_and_leave_the_real_hosts_alone() -> None:
    logins = login(Settings(host_login_burst=2, host_login_rate=0.001), HASHED)
    for i, host_id in enumerate(("made-up-1", "made-up-2")):
        with pytest.raises(LivehubError, match="wrong key"):
            await logins.login(host_id, "guess", f"10.0.1.{i}")
    with pytest.raises(LivehubError) as exc:
        await logins.login("made-up-3", "guess", "10.0.1.9")
    assert exc.value.code == errors.RATE_LIMITED
    assert (await logins.login("host-a", "new-key", "10.0.1.10")).id == "host-a"
    assert len(logins.limiter) <= 2 + 4  # one shared bucket for every unknown id, one per IP
