"""The application's error handlers (livehub.app): every exception an endpoint raises becomes
livehub's error body, and a websocket's exception is logged without a second crash (starlette
hands the handlers a WebSocket, which has no ``method``, and sends nothing for that scope)."""

from __future__ import annotations

import logging

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.requests import Request
from starlette.websockets import WebSocket

from livehub import app, errors


def websocket(path: str = "/ws") -> WebSocket:
    scope = {"type": "websocket", "path": path, "query_string": b"token=t", "headers": [], "scheme": "ws",
             "server": ("127.0.0.1", 8000)}  # fmt: skip

    async def never() -> dict[str, object]:
        raise AssertionError("not read")

    async def nowhere(message: dict[str, object]) -> None:
        raise AssertionError("not sent")

    return WebSocket(scope, never, nowhere)  # type: ignore[arg-type]


async def test_a_redis_failure_on_a_websocket_is_logged_as_unavailable_not_a_second_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="livehub.app"):
        response = await app._redis_down(websocket(), RedisConnectionError("gone"))  # type: ignore[arg-type]

    assert orjson.loads(bytes(response.body))["code"] == errors.UNAVAILABLE
    assert "WEBSOCKET /ws: redis failed" in caplog.text and "token" not in caplog.text


async def test_a_crash_on_a_websocket_is_logged_with_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="livehub.app"):
        response = await app._crash(websocket(), RuntimeError("boom"))  # type: ignore[arg-type]

    assert response.status_code == 500 and orjson.loads(bytes(response.body))["code"] == errors.INTERNAL
    assert [r.getMessage() for r in caplog.records] == ["request WEBSOCKET /ws failed"]


async def test_an_http_request_is_named_by_its_method_and_path(caplog: pytest.LogCaptureFixture) -> None:
    scope = {"type": "http", "method": "POST", "path": "/api/sales/s1/buy", "query_string": b"", "headers": [],
             "scheme": "http", "server": ("127.0.0.1", 8000)}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="livehub.app"):
        await app._redis_down(Request(scope), RedisConnectionError("gone"))

    assert "POST /api/sales/s1/buy: redis failed" in caplog.text
