"""The redis-py and hiredis internals that the store's script batcher builds on, pinned.

The batcher (``Scripts(batch=True)`` in ``livehub.store``) skips redis-py's pipeline: it
builds its own connections from the client's pool settings, packs EVALSHA calls with
``hiredis.pack_command``, writes them with ``send_packed_command`` and reads each answer
with ``read_response``.  Those are redis-py internals with no promise between releases
(hence the ``redis`` range in pyproject.toml).  These tests fail naming the piece that
moved.  Pure introspection: clients and connections are built, never connected.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import hiredis
import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

UNUSED_URL = "redis://127.0.0.1:1/0"  # never dialled: nothing here sends a command


def params(func: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(func).parameters)


def test_the_clients_pool_exposes_its_connection_class_and_keyword_arguments() -> None:
    client = aioredis.Redis.from_url(UNUSED_URL, socket_timeout=3.0)
    pool = client.connection_pool
    assert isinstance(pool, ConnectionPool), "Redis.connection_pool"
    assert isinstance(pool.connection_kwargs, dict), "ConnectionPool.connection_kwargs is a dict"
    assert pool.connection_kwargs.get("socket_timeout") == 3.0, "connection_kwargs['socket_timeout']"
    assert issubclass(pool.connection_class, AbstractConnection), "ConnectionPool.connection_class"


def test_a_connection_built_from_the_pool_kwargs_takes_the_batchers_socket_timeout_override() -> None:
    pool = aioredis.Redis.from_url(UNUSED_URL, socket_timeout=3.0).connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs["socket_timeout"] = None
    conn = pool.connection_class(**kwargs)
    assert isinstance(conn, AbstractConnection)
    assert conn.socket_timeout is None, "AbstractConnection.socket_timeout"


@pytest.mark.parametrize(
    ("method", "used"),
    [
        ("send_packed_command", {"command": None, "check_health": inspect.Parameter.POSITIONAL_OR_KEYWORD}),
        ("read_response", {"timeout": inspect.Parameter.POSITIONAL_OR_KEYWORD}),
        ("disconnect", {"nowait": inspect.Parameter.POSITIONAL_OR_KEYWORD}),
    ],
)
def test_connection_methods_the_batcher_calls_are_coroutines_with_the_parameters_it_passes(
    method: str, used: dict[str, Any]
) -> None:
    func = getattr(AbstractConnection, method, None)
    assert func is not None, f"AbstractConnection.{method} is gone"
    assert inspect.iscoroutinefunction(func), f"AbstractConnection.{method} is no longer async"
    found = params(func)
    for name, kind in used.items():
        assert name in found, f"AbstractConnection.{method} has no parameter {name!r}: {inspect.signature(func)}"
        if kind is not None:
            assert found[name].kind is kind, f"AbstractConnection.{method}({name}=...) {found[name].kind}"


def test_read_response_timeout_defaults_to_the_sockets_own() -> None:
    # The batcher passes timeout=math.inf: no per-answer deadline, one asyncio.timeout for the batch.
    assert params(AbstractConnection.read_response)["timeout"].default is None


def test_register_script_returns_an_async_script_named_by_the_sha1_of_its_source_without_redis() -> None:
    client = aioredis.Redis.from_url(UNUSED_URL)
    script = client.register_script("return 1")
    assert isinstance(script, AsyncScript), "Redis.register_script returns an AsyncScript"
    assert script.sha == hashlib.sha1(b"return 1").hexdigest(), "AsyncScript.sha"
    call = list(params(AsyncScript.__call__))
    assert call[:4] == ["self", "keys", "args", "client"], "AsyncScript(keys, args, client)"
    assert inspect.iscoroutinefunction(AsyncScript.__call__), "AsyncScript.__call__ is async"


def test_error_answers_keep_their_hierarchy() -> None:
    # A per-answer ResponseError leaves the connection in step; NoScriptError among them means "load and retry".
    assert issubclass(NoScriptError, ResponseError), "NoScriptError is a ResponseError"
    assert issubclass(ResponseError, RedisError), "ResponseError is a RedisError"


def test_hiredis_packs_a_command_of_str_bytes_int_and_float_into_resp() -> None:
    assert callable(hiredis.pack_command), "hiredis.pack_command"
    packed = hiredis.pack_command(("EVALSHA", "ab", 1, "k", b"v", 2.5))
    assert packed == b"*6\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\nv\r\n$3\r\n2.5\r\n"


def test_redis_py_uses_the_hiredis_parser_when_hiredis_is_installed() -> None:
    # The redis[hiredis] extra: answers are parsed in C, a large part of the flash-sale CPU budget.
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE, "redis.utils.HIREDIS_AVAILABLE"
    default = params(AbstractConnection.__init__)["parser_class"].default
    assert "Hiredis" in default.__name__, f"default parser_class is {default.__name__}"
