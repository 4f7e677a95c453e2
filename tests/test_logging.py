"""Structured logs: ``LIVEHUB_LOG_FORMAT=json`` (or ``--log-format json``) writes one JSON object per line with
time, level, logger and message, and the request's id, venue and user where known; the request id is the
caller's ``X-Request-Id`` (when well-formed) or a fresh one, echoed in the answer.  A real
``livehub serve --workers 2`` in that format writes nothing but JSON lines, its workers' lines included."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from livehub.cli import build_parser, json_formatter, redact, uvicorn_log_config
from livehub.runtime import log_context
from livehub.runtime.log_context import JsonFormatter, accept_request_id
from tests.conftest import HUB_ENV, LivehubProcess, viewer_token


def record(message: str, *args: Any, exc_info: Any = None, name: str = "livehub.x") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, exc_info)


def test_a_json_line_has_time_level_logger_message_and_the_context_that_is_set() -> None:
    def in_a_request() -> str:
        log_context.request_id.set("req-1")
        log_context.venue.set("b1")
        log_context.user.set("u-42")
        return JsonFormatter().format(record("sold %d units", 3))

    line = contextvars.copy_context().run(in_a_request)

    out = orjson.loads(line)
    assert "\n" not in line
    assert out.keys() == {"time", "level", "logger", "message", "request_id", "venue", "user"}
    assert (out["level"], out["logger"], out["message"]) == ("INFO", "livehub.x", "sold 3 units")
    assert out["time"].endswith("Z") and out["time"][10] == "T"
    assert (out["request_id"], out["venue"], out["user"]) == ("req-1", "b1", "u-42")


def test_outside_a_request_a_line_has_no_context_fields() -> None:
    out = orjson.loads(contextvars.Context().run(JsonFormatter().format, record("node up")))

    assert out.keys() == {"time", "level", "logger", "message"}


def test_the_cli_json_formatter_redacts_the_message_and_the_traceback() -> None:
    try:
        raise ValueError("bad url /ws?token=s3cr3t")
    except ValueError:
        failing = record("GET /ws?token=%s", "s3cr3t", exc_info=sys.exc_info())

    out = orjson.loads(json_formatter().format(failing))

    assert out["message"] == "GET /ws?token=[redacted]"
    assert "s3cr3t" not in out["exc"] and "ValueError" in out["exc"]
    assert redact("Authorization: Bearer abc") == "Authorization: Bearer [redacted]"


@pytest.mark.parametrize(("given", "kept"), [
    ("req-1", True), ("a.b:c_d-9", True), ("x" * 64, True),
    ("x" * 65, False), ("has space", False), ("new\nline", False), ("", False), (None, False),
])  # fmt: skip
def test_a_callers_request_id_is_kept_only_when_well_formed(given: str | None, kept: bool) -> None:
    rid = accept_request_id(given)

    assert (rid == given) is kept
    assert 1 <= len(rid) <= 64


def test_the_cli_takes_a_log_format_and_json_swaps_every_uvicorn_formatter() -> None:
    assert build_parser().parse_args(["--log-format", "json", "hash-key"]).log_format == "json"
    config = uvicorn_log_config("json", "INFO")

    assert {f["()"] for f in config["formatters"].values()} == {"livehub.cli.json_formatter"}
    assert config["root"]["handlers"] == ["livehub"]
    assert "livehub_redact" in config["handlers"]["livehub"]["filters"]
    assert "root" not in uvicorn_log_config("text", "INFO")


@pytest.fixture(scope="module")
def json_server(redis_url: str) -> Iterator[LivehubProcess]:
    env = {**HUB_ENV, "LIVEHUB_LOG_FORMAT": "json", "LIVEHUB_HOST_LOGIN_BURST": "100"}
    server = LivehubProcess(redis_url, "lg" + uuid.uuid4().hex[:8], env=env, workers=2).start()
    try:
        yield server
    finally:
        server.stop()


def post(server: LivehubProcess, path: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(server.http + path, data=orjson.dumps(body), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_a_request_id_is_echoed_and_is_in_the_requests_json_log_line(json_server: LivehubProcess) -> None:
    rid = "req-" + uuid.uuid4().hex[:8]
    status, headers = post(json_server, "/api/auth/host", {"host": "host-b1", "key": "wrong"}, {"X-Request-Id": rid})
    assert (status, headers["x-request-id"]) == (401, rid)
    viewer = {"Authorization": f"Bearer {viewer_token('u-logs')}", "X-Request-Id": "bad id!"}
    status, headers = post(json_server, "/api/sales/no-sale/buy", {"id": "r", "qty": 1}, viewer)
    assert status == 404 and accept_request_id(headers["x-request-id"]) == headers["x-request-id"] != "bad id!"

    def refused() -> list[dict[str, Any]]:
        assert json_server.log_path is not None
        lines = [orjson.loads(line) for line in json_server.log_path.read_text().splitlines() if line.strip()]
        return [line for line in lines if "host login refused" in line["message"]]

    deadline = time.monotonic() + 15
    while not refused() and time.monotonic() < deadline:  # the worker's line reaches the log file
        time.sleep(0.1)
    line = refused()[-1]
    assert (line["request_id"], line["logger"], line["level"]) == (rid, "livehub.host_login", "INFO")
    assert line["node"]


def test_every_line_a_json_server_writes_is_one_json_object(json_server: LivehubProcess) -> None:
    assert json_server.log_path is not None
    lines = [line for line in json_server.log_path.read_text().splitlines() if line.strip()]

    assert lines
    for line in lines:
        assert isinstance(orjson.loads(line), dict), line
