"""A host's control-panel login: check the key against the host's argon2 hashes, rate-limited.

Host keys are stored as argon2 hashes (``key_hash`` in the festival config; ``livehub hash-key``
makes one).  Checking a key costs tens of milliseconds of CPU by design, so it runs in a worker
thread (``asyncio.to_thread``), never on the event loop, and every login first takes a token
from two small buckets, one for the host id and one for the client's IP
(``host_login_rate`` / ``host_login_burst``): a guessing client is answered ``rate_limited``
before any hash is computed.  An unknown host id costs the same hash check as a known one.
A plaintext ``key`` counts only in demo mode (livehub refuses to start with one otherwise).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from livehub import errors
from livehub.domain.quotas import KeyedBuckets
from livehub.domain.topology import Festival, Host
from livehub.errors import LivehubError
from livehub.settings import Settings

log = logging.getLogger("livehub.host_login")

_HASHER = PasswordHasher()  # argon2id, the library's recommended cost (RFC 9106 low-memory profile)
# Checked when the host id is unknown, so that a wrong id takes as long as a wrong key.
_DUMMY_HASH = _HASHER.hash("livehub: no such host")


def hash_key(key: str) -> str:
    """The argon2id hash of a host key, for ``key_hash`` in the festival config."""
    return _HASHER.hash(key)


def key_matches(host: Host | None, key: str, demo: bool) -> bool:
    """Whether ``key`` logs ``host`` in (blocking: tens of ms per hash; call it in a thread)."""
    hashes = host.key_hashes if host is not None else ()
    for stored in hashes or (_DUMMY_HASH,):  # no hash: check the dummy one, to take as long
        try:
            if _HASHER.verify(stored, key) and hashes:
                return True
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
    if demo and host is not None and host.key:
        return hmac.compare_digest(host.key.encode(), key.encode())
    return False


class HostLogin:
    """Host logins of one node."""

    def __init__(self, settings: Settings, festival: Festival,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.festival = festival
        self.demo = settings.demo
        self.clock = clock
        # per host id and per IP; full: the least recently used key is forgotten (a full burst again)
        self.limiter = KeyedBuckets(settings.host_login_rate, settings.host_login_burst, settings.host_login_tracked)

    def adopt(self, festival: Festival) -> None:
        """Check logins against ``festival``'s hosts from now on (an admin changed them): a rotated key
        is refused at once."""
        self.festival = festival

    async def login(self, host_id: str, key: str, client_ip: str) -> Host:
        """The host ``key`` logs in; ``unauthorized`` for an unknown host or a wrong key, ``rate_limited``."""
        host = self.festival.hosts.get(host_id)
        # unknown ids share one bucket: made-up ids cannot crowd the real hosts' buckets out
        now = self.clock()
        wait = max(self.limiter.take("host:" + host_id if host is not None else "host:?", now),
                   self.limiter.take("ip:" + client_ip, now))  # fmt: skip
        if wait:
            raise errors.rate_limited("too many host logins: retry later", wait)
        if not await asyncio.to_thread(key_matches, host, key, self.demo) or host is None:
            log.info("host login refused for %r from %s", host_id[:64], client_ip)
            raise LivehubError(errors.UNAUTHORIZED, "unknown host or wrong key")
        return host
