"""What a log line knows about the request it was written for, and the JSON lines format.

The web adapters set the context (livehub.web.request_context: the request id of every HTTP
request and websocket handshake; livehub.web.http and the websocket endpoint: the venue and the
verified user id once known) in context variables, which stay with the request's task; a log
record made there carries them.  ``LIVEHUB_LOG_FORMAT=json`` (or ``--log-format json``) writes
each record as one JSON object per line: ``time`` (UTC, ISO 8601, milliseconds), ``level``,
``logger``, ``message``, and where known ``request_id``, ``venue``, ``user``, ``node``, and
``exc`` (the traceback).  The text is redacted before it is written (livehub.cli.redact): no
token, Authorization value or secret reaches a log line in either format.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

import orjson

request_id: ContextVar[str | None] = ContextVar("livehub_request_id", default=None)
venue: ContextVar[str | None] = ContextVar("livehub_venue", default=None)
user: ContextVar[str | None] = ContextVar("livehub_user", default=None)
node: ContextVar[str | None] = ContextVar("livehub_node", default=None)

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a caller's id is kept only in this shape


def accept_request_id(raw: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is 1-64 characters of A-Z a-z 0-9 . _ : -, else a fresh one."""
    if raw is not None and _REQUEST_ID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex[:16]


_FIELDS = (("request_id", request_id), ("venue", venue), ("user", user), ("node", node))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, one line each (see the module); ``redact`` runs over every text."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.redact = redact or (lambda text: text)

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for name, var in _FIELDS:
            value = var.get()
            if value is not None:
                out[name] = self.redact(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = self.redact(record.exc_text)
        return orjson.dumps(out).decode()
