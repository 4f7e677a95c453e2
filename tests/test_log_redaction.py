"""Secrets never reach the log: ``livehub serve --log-level DEBUG`` (uvicorn's own DEBUG lines carry each
websocket's path with its ``?token=``) with a viewer connecting by token and a host calling the HTTP API
with a bearer token; afterwards neither token is anywhere in the captured log, nor in ``/metrics``, in the text
format and in JSON lines (``LIVEHUB_LOG_FORMAT=json``)."""

from __future__ import annotations

import logging
import sys
import urllib.request
import uuid

import orjson
import pytest
from websockets.sync.client import connect

from livehub.cli import RedactSecrets, redact
from livehub.domain.tokens import ADMIN, mint
from tests.conftest import SECRET, SMALL_CONFIG, LivehubProcess, free_port, http_json, viewer_token


def test_redact_hides_query_tokens_authorization_values_and_signed_tokens() -> None:
    assert redact("GET /ws?venue=b1&token=abc.def&guide=g") == "GET /ws?venue=b1&token=[redacted]&guide=g"
    assert redact("(b'authorization', b'Bearer abc.def')") == "(b'authorization', b'Bearer [redacted]')"
    assert redact("Authorization: Bearer xyz") == "Authorization: Bearer [redacted]"
    assert redact("got eyJhbGciOi.eyJzdWIiOi.c2ln here") == "got [redacted] here"
    assert redact("venue b1 has 3 viewers") == "venue b1 has 3 viewers"


def test_the_filter_redacts_a_records_arguments_and_traceback() -> None:
    args = ("peer", "/ws?token=s3cr3t")
    record = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, '%s - "WebSocket %s"', args, None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == 'peer - "WebSocket /ws?token=[redacted]"'
    try:
        raise ValueError("bad url /ws?token=s3cr3t")
    except ValueError:
        failing = logging.LogRecord("livehub.x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactSecrets().filter(failing)
    assert failing.exc_text is not None and "s3cr3t" not in failing.exc_text


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_debug_log_never_holds_a_token(redis_url: str, log_format: str) -> None:
    port = free_port()
    server = LivehubProcess(
        redis_url, "lr" + uuid.uuid4().hex[:8], env={"LIVEHUB_LOG_FORMAT": log_format}, port=port,
        command=["-m", "livehub", "--log-level", "DEBUG", "serve", "--config", SMALL_CONFIG, "--host", "127.0.0.1",
                 "--port", str(port)],
    ).start()  # fmt: skip
    viewer = viewer_token("u-redact-" + uuid.uuid4().hex[:6])
    host = mint(SECRET, "admin-redact", ADMIN)  # a bearer token on an HTTP call (admins mint tokens)
    try:
        with connect(f"ws://127.0.0.1:{port}/ws?venue=b1&token={viewer}", compression=None) as ws:
            assert orjson.loads(ws.recv(timeout=10))["type"] == "welcome"
        status, _ = http_json("POST", f"http://127.0.0.1:{port}/api/auth/token", {"user": "u-x"}, host)
        assert status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
    finally:
        server.stop()
    text = server.log(tail=None)
    assert "token=[redacted]" in text, text[-3000:]  # uvicorn did log the websocket's path: redacted
    if log_format == "json":  # every line is one JSON object, uvicorn's DEBUG lines too
        assert all(isinstance(orjson.loads(line), dict) for line in text.splitlines() if line.strip())
    for secret in (viewer, host, viewer.split(".")[-1], host.split(".")[-1]):
        assert secret not in text
        assert secret not in metrics
