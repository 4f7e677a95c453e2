"""The node's Redis clients: one factory, so every connection has the same bounds.

Every connection a node opens to Redis (the command pool, the pub/sub connection, the script
batcher's own connections, which copy the pool's settings) is bounded by the settings:

* ``redis_connect_timeout_s`` to open it and ``redis_socket_timeout_s`` for any answer, so a
  stalled Redis (SIGSTOP, a blocked event loop on the server) fails the call with
  ``TimeoutError`` (the node answers ``unavailable``) instead of freezing that connection;
* ``redis_health_check_s``: a pooled connection idle longer than this is PINGed before it is
  used, so a connection left over from before a Redis restart is replaced instead of failing
  the first command that takes it (503s while ``/readyz`` said ready);
* ``redis_retries``: a command whose connection is lost (``ConnectionError``: Redis restarted,
  the socket reset) is sent again on a new connection, with exponential backoff from 0.05 s
  to 1 s.  A timeout is never retried: the answer's bound stays ``redis_socket_timeout_s``.
* ``redis_pool_size`` connections at most, waiting ``redis_pool_timeout_s`` for a free one.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.settings import Settings


def connection_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every livehub connection to Redis is made with."""
    return {
        "socket_timeout": settings.redis_socket_timeout_s,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "health_check_interval": settings.redis_health_check_s,
        "retry": Retry(
            ExponentialBackoff(cap=1.0, base=0.05), settings.redis_retries, supported_errors=(RedisConnectionError,)
        ),
    }


def redis_client(settings: Settings) -> Redis:
    """The node's command client: a blocking pool of ``redis_pool_size`` bounded connections."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_pool_size, timeout=settings.redis_pool_timeout_s,
        **connection_options(settings),
    )  # fmt: skip
    return Redis(connection_pool=pool)


def pubsub_client(redis: Redis) -> Redis:
    """A client of its own for the node's one pub/sub connection (same server and bounds), so
    that commands holding every pooled connection can never keep the subscriber waiting."""
    pool = redis.connection_pool
    # no health check: its PING would be read by the subscribe that sent it while the broker's
    # reader reads the same connection (the reader notices a lost connection by itself)
    kwargs = {**pool.connection_kwargs, "health_check_interval": 0}
    own = BlockingConnectionPool(connection_class=pool.connection_class, max_connections=2, timeout=5.0, **kwargs)
    return Redis(connection_pool=own)
