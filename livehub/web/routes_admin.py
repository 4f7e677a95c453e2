"""HTTP routes of festival admins (``Authorization: Bearer <admin token>``; the role table,
livehub.domain.access, lets only the admin role in): what the node serves, edits of any
section's records, CSV imports of stores and guides, a host's key rotation.  Bodies are parsed
here; livehub.services.festival_admin validates, applies and spreads the change to every node."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.festival_edit import CSV_COLUMNS, EDITABLE
from livehub.errors import LivehubError
from livehub.web.http import JSONResponse, json_body, node_of

CSV_TYPES = ("text/csv", "text/plain", "application/csv")
_FLAGS = {"1": True, "true": True, "0": False, "false": False}


async def festival(request: Request) -> Response:
    """GET: the festival this node serves (the admin edits' version and each section's count).
    POST {<section>: [{<id field>, <fields to set>...}, ...], ..., dry_run?, request_id?}: add or edit
    records of any sections (venues, hosts, brands, products, stores, guides), whole or not at all."""
    admin = node_of(request).admin
    if request.method == "GET":
        return JSONResponse(admin.view())
    body = await json_body(request)
    dry_run = _flag(body.pop("dry_run", False), "dry_run")
    request_id = _text(body.pop("request_id", None), "request_id")
    for name, records in body.items():
        if name not in EDITABLE:
            raise errors.bad_request(f"unknown section {name[:40]!r} (sections: {', '.join(EDITABLE)})", field=name)
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise errors.bad_request(f"'{name}' must be a non-empty array of objects", field=name)
    if not body:
        raise errors.bad_request(f"name at least one section ({', '.join(EDITABLE)})", field="body")
    batch = {name: list(enumerate(records, start=1)) for name, records in body.items()}
    answer = await admin.edit(batch, dry_run=dry_run, request_id=request_id)
    return JSONResponse(answer.as_dict())


async def import_csv(request: Request) -> Response:
    """A CSV file of stores or guides (``Content-Type: text/csv``; ``?dry_run=1``, ``?request_id=``)."""
    section = request.url.path.rsplit("/", 1)[1]
    assert section in CSV_COLUMNS
    node = node_of(request)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind not in CSV_TYPES:
        raise errors.bad_request(f"the body must be {CSV_TYPES[0]}, got {kind[:40]!r}", field="content-type")
    raw = await _limited_body(request, node.settings.admin_import_max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"the body is not UTF-8 (byte {exc.start})", field="body") from None
    query = request.query_params
    answer = await node.admin.import_csv(section, text, dry_run=_flag(query.get("dry_run", "0"), "dry_run"),
                                         request_id=query.get("request_id"))  # fmt: skip
    return JSONResponse(answer.as_dict())


async def rotate_key(request: Request) -> Response:
    """{key_hash, request_id?}: the host's new key hash (``livehub hash-key``) replaces every key it had."""
    host = request.path_params["host"]
    admin = node_of(request).admin
    await admin.sync()
    if host not in admin.festival.hosts:
        raise errors.not_found(f"no host {host[:64]!r}")
    body = await json_body(request)
    key_hash = body.get("key_hash")
    if not isinstance(key_hash, str) or not key_hash:
        raise errors.bad_request("'key_hash' must be an argon2 hash from `livehub hash-key`", field="key_hash")
    answer = await admin.edit({"hosts": [(1, {"id": host, "key_hash": key_hash})]},
                              request_id=_text(body.get("request_id"), "request_id"))  # fmt: skip
    return JSONResponse(answer.as_dict())


async def _limited_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (a larger declared length refused before reading anything)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise LivehubError(errors.TOO_LARGE, f"body larger than {limit} bytes: import the file in parts")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LivehubError(errors.TOO_LARGE, f"body larger than {limit} bytes: import the file in parts")
        chunks.append(chunk)
    return b"".join(chunks)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _FLAGS:
        return _FLAGS[value.lower()]
    raise errors.bad_request(f"'{name}' must be true or false", field=name)


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise errors.bad_request(f"'{name}' must be a string", field=name)


routes = [
    Route("/api/admin/festival", festival, methods=["GET", "POST"]),
    Route("/api/admin/import/stores", import_csv, methods=["POST"]),
    Route("/api/admin/import/guides", import_csv, methods=["POST"]),
    Route("/api/admin/hosts/{host}/key", rotate_key, methods=["POST"]),
]
