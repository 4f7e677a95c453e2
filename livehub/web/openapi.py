"""The OpenAPI 3 document of every mounted HTTP route, at ``GET /openapi.json`` (browsable at ``/docs``).

It is generated from the application's routes, never written beside them: each mounted route is
in it (its path parameters, its need from the role table livehub.domain.access as ``security``
and ``x-livehub-need``, its handler's docstring as summary), and a route says more with a small
declaration next to its handler::

    @declare(body={"sku": Param(required=True)}, answers={201: "the sale"})
    async def create_sale(request: Request) -> Response: ...

A route with no declaration is still documented (a route another module adds is never left
out); one with a declaration gets its body's fields and types, its query and header
parameters and its answers.  Error answers (400 naming the field, 401, 403, 404, 429, 503)
follow from the route's shape and need.  The websocket is not an HTTP operation: it is listed
under ``x-livehub-websockets`` with the need of each command.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from livehub.domain.access import ANONYMOUS_OK, HTTP, TOKENLESS, WEBSOCKET, WS, Need
from livehub.web.http import JSONResponse

SPEC_ATTRIBUTE = "__livehub_openapi__"
JSON = "application/json"
E = TypeVar("E", bound=Callable[..., Any])
STATIC_DOC = "A static file of the pages (scripts, styles, product pictures, the vendored API browser)."


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """One body field, query or header parameter: its JSON type, what it is, and more JSON Schema."""

    kind: str = "string"  # string, integer, number, boolean, object, array
    doc: str = ""
    required: bool = False
    schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # enum, minimum, pattern, items ...

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, **self.schema}
        if self.doc:
            out["description"] = self.doc
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """What a route declares about itself (every field optional; see :func:`declare`)."""

    summary: str = ""  # default: the first line of the handler's docstring
    body: Mapping[str, Param] | None = None  # a JSON object body and its fields (POST, ...)
    query: Mapping[str, Param] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, Param] = dataclasses.field(default_factory=dict)
    path: Mapping[str, Param] = dataclasses.field(default_factory=dict)  # default: a string each
    answers: Mapping[int, str] = dataclasses.field(default_factory=dict)  # status -> what it means
    media_type: str = JSON  # of the successful answers


def declare(**fields: Any) -> Callable[[E], E]:
    """Attach a :class:`Spec` (its fields as keywords) to a route's handler."""
    spec = Spec(**fields)

    def mark(endpoint: E) -> E:
        setattr(endpoint, SPEC_ATTRIBUTE, spec)
        return endpoint

    return mark


def spec_of(endpoint: Callable[..., Any]) -> Spec | None:
    """The declaration of a handler, through the role-table guard around it (``__wrapped__``)."""
    found = getattr(inspect.unwrap(endpoint), SPEC_ATTRIBUTE, None)
    return found if isinstance(found, Spec) else None


def _doc(endpoint: Callable[..., Any]) -> str:
    return inspect.getdoc(inspect.unwrap(endpoint)) or ""


def _summary(doc: str, spec: Spec | None, method: str, path: str) -> str:
    if spec is not None and spec.summary:
        return spec.summary
    return doc.strip().splitlines()[0] if doc.strip() else f"{method} {path}"


def _security(need: Need) -> list[dict[str, list[str]]]:
    if need in TOKENLESS:
        return []
    if need in ANONYMOUS_OK:
        return [{}, {"bearer": []}]  # a token is optional; when given it must be valid
    return [{"bearer": []}]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(method: str, path: str, route_path: str, params: Sequence[str], spec: Spec | None, doc: str
               ) -> dict[str, Any]:  # fmt: skip
    rule = HTTP.get((method, route_path))
    need = rule.need if rule is not None else Need.PUBLIC
    declared = spec or Spec()
    parameters: list[dict[str, Any]] = []
    for name in params:
        param = declared.path.get(name, Param())
        parameters.append({"name": name, "in": "path", "required": True, "schema": param.json_schema()})
    for where, table in (("query", declared.query), ("header", declared.headers)):
        for name, param in table.items():
            parameters.append({"name": name, "in": where, "required": param.required, "schema": param.json_schema()})
    answers = declared.answers or {200: "ok"}
    responses: dict[str, Any] = {}
    for status, description in sorted(answers.items()):
        answer: dict[str, Any] = {"description": description}
        if spec is not None and status < 400:
            media = {"schema": {"type": "object"}} if declared.media_type == JSON else {"schema": {"type": "string"}}
            answer["content"] = {declared.media_type: media}
        responses[str(status)] = answer if status < 400 or spec is None else _error(description)
    defaults = {"400": "bad input: the message names the field"} if parameters or declared.body is not None else {}
    if need not in TOKENLESS:
        defaults["401"] = "a wrong or expired token" + ("" if need in ANONYMOUS_OK else ", or none")
    if need not in ANONYMOUS_OK:
        defaults["403"] = "the token's role may not do this here"
    if params:
        defaults["404"] = "unknown " + ", ".join(params)
    if path.startswith("/api/"):
        defaults["429"] = "too many requests: retry after retry_after_ms"
        defaults["503"] = "storage unavailable: retry later"
    for code, text in defaults.items():
        responses.setdefault(code, _error(text))
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route_path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}"
        or f"{method.lower()}_root",
        "summary": _summary(doc, spec, method, route_path),
        "description": f"{doc}\n\nNeeds: `{need.value}` (livehub.domain.access).".strip(),
        "security": _security(need),
        "tags": [path.split("/")[2] if path.startswith("/api/") else "server"],  # /api/<tag>/...
        "responses": responses,
        "x-livehub-need": need.value,
        "x-livehub-route": route_path,
    }
    if parameters:
        operation["parameters"] = parameters
    if declared.body is not None and method not in ("GET", "DELETE"):
        required = sorted(name for name, param in declared.body.items() if param.required)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {n: p.json_schema() for n, p in declared.body.items()},
        }
        if required:
            schema["required"] = required
        operation["requestBody"] = {"required": bool(required), "content": {JSON: {"schema": schema}}}
    return operation


def _version() -> str:
    try:
        return metadata.version("livehub")
    except metadata.PackageNotFoundError:
        return "0"


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes`` (an application's mounted routes)."""
    paths: dict[str, dict[str, Any]] = {}
    websockets: dict[str, Any] = {}
    for route in routes:
        if isinstance(route, Route):
            params = list(route.param_convertors)
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                operation = _operation(method, route.path, route.path, params, spec_of(route.endpoint),
                                       _doc(route.endpoint))  # fmt: skip
                paths.setdefault(route.path, {})[method.lower()] = operation
        elif isinstance(route, Mount):  # the static files
            path = route.path + "/{path}"
            operation = _operation("GET", path, route.path, ["path"], None, STATIC_DOC)
            paths.setdefault(path, {})["get"] = operation
        elif isinstance(route, WebSocketRoute):
            rule = HTTP.get((WEBSOCKET, route.path))
            websockets[route.path] = {
                "summary": "The websocket: join venues, receive their events, send commands (docs/protocol.md)",
                "x-livehub-need": (rule.need if rule else Need.WATCH).value,
                "commands": {kind: need.value for kind, need in WS.items()},
            }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "livehub",
            "version": _version(),
            "description": "The HTTP API of livehub (the websocket protocol: docs/protocol.md).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["type", "code", "message"],
                    "properties": {
                        "type": {"type": "string", "enum": ["error"]},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                        "retry_after_ms": {"type": "integer"},
                    },
                }
            },
        },
        "x-livehub-websockets": websockets,
    }


@declare(summary="This document: the OpenAPI 3 description of every HTTP route")
async def openapi_json(request: Request) -> Response:
    """Generated from the mounted routes and their declarations (livehub.web.openapi)."""
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        document = request.app.state.openapi = openapi_document(request.app.routes)
    return JSONResponse(document)


routes = [
    Route("/openapi.json", openapi_json),
]


def id_param(doc: str, required: bool = False) -> Param:
    """An entity id (livehub.domain.ids: 1-64 characters of A-Z a-z 0-9 _ . -)."""
    return Param("string", doc, required, {"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.-]+$"})


def int_param(doc: str, required: bool = False, minimum: int | None = None, maximum: int | None = None) -> Param:
    bounds = {k: v for k, v in (("minimum", minimum), ("maximum", maximum)) if v is not None}
    return Param("integer", doc, required, bounds)
