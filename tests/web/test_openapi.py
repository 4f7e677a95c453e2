"""The OpenAPI document (livehub.web.openapi) is generated from the mounted routes: every mounted route
is in it and every path in it is mounted, in demo mode and outside it; a route's need from the role
table is its security; a declaration next to a handler adds its body, parameters and answers; a
route nobody declared is documented all the same.  A real ``livehub serve`` serves it at
``/openapi.json`` and the browsable ``/docs`` page with the vendored Swagger UI (no CDN)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.app import STATIC, create_app
from livehub.config import load_festival
from livehub.domain import access
from livehub.settings import Settings
from livehub.web.http import guard_routes
from livehub.web.openapi import Param, declare, openapi_document
from tests.conftest import LivehubProcess
from tests.web.test_access_table import mounted_routes

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
DEMO = Settings(config_path=str(SMALL), demo=True)
SECURE = Settings(
    config_path=str(SMALL), secret="a-proper-token-secret-0123", payment_secret="a-proper-payment-secret-0"
)


def document(settings: Settings) -> dict[str, Any]:
    return openapi_document(create_app(settings, load_festival(SMALL)).routes)


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, the role table's path) -> the operation."""
    return {(method.upper(), op["x-livehub-route"]): op for ops in doc["paths"].values() for method, op in ops.items()}


@pytest.mark.parametrize("settings", [DEMO, SECURE], ids=["demo", "secure"])
def test_every_mounted_route_is_in_the_document_and_every_documented_route_is_mounted(settings: Settings) -> None:
    doc = document(settings)
    documented = set(operations(doc)) | {(access.WEBSOCKET, path) for path in doc["x-livehub-websockets"]}

    assert documented == mounted_routes(settings)


def test_each_operation_carries_its_need_from_the_role_table_as_its_security() -> None:
    ops = operations(document(DEMO))

    for key, op in ops.items():
        assert op["x-livehub-need"] == access.HTTP[key].need.value, key
    assert ops[("GET", "/api/festival")]["security"] == []  # public: no token is read
    assert ops[("POST", "/api/payments/callback")]["security"] == []  # signed by the provider instead
    assert ops[("POST", "/api/sales/{sale}/buy")]["security"] == [{"bearer": []}]
    assert {"401", "403"} <= set(ops[("POST", "/api/venues/{venue}/sales")]["responses"])
    assert "401" not in ops[("GET", "/healthz")]["responses"]


def test_a_declaration_gives_the_body_its_fields_types_and_required_ones_and_the_query_its_bounds() -> None:
    ops = operations(document(DEMO))

    buy = ops[("POST", "/api/sales/{sale}/buy")]
    body = buy["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["id"]
    assert body["properties"]["qty"] == {"type": "integer", "minimum": 1, "description": "units (default 1)"}
    assert body["properties"]["loc"]["type"] == "array"
    assert [(p["name"], p["in"]) for p in buy["parameters"]] == [("sale", "path"), ("guide", "query")]
    board = ops[("GET", "/api/guides/leaderboard")]
    n = next(p for p in board["parameters"] if p["name"] == "n")
    assert (n["schema"]["minimum"], n["schema"]["maximum"]) == (1, 100)
    window = ops[("POST", "/api/venues/{venue}/sales/{sale}/{action}")]
    action = next(p for p in window["parameters"] if p["name"] == "action")
    assert action["schema"]["enum"] == ["start", "end"]
    assert "201" in ops[("POST", "/api/venues/{venue}/sales")]["responses"]
    assert ops[("GET", "/metrics")]["responses"]["200"]["content"].keys() == {"text/plain"}


def test_a_route_nobody_declared_is_documented_with_its_path_parameters_need_and_docstring() -> None:
    async def undeclared(request: Request) -> Response:
        """Somebody's new venue route.

        More about it."""
        raise AssertionError("never served")

    doc = openapi_document(guard_routes([Route("/api/venues/{venue}/cta", undeclared, methods=["POST"])]))

    op = doc["paths"]["/api/venues/{venue}/cta"]["post"]
    assert op["summary"] == "Somebody's new venue route."
    assert [(p["name"], p["in"], p["required"]) for p in op["parameters"]] == [("venue", "path", True)]
    assert (op["x-livehub-need"], op["security"]) == ("venue_host", [{"bearer": []}])
    assert {"401", "403", "404"} <= set(op["responses"])


def test_declare_keeps_the_handler_and_attaches_its_spec_through_the_guard() -> None:
    @declare(body={"x": Param("integer", required=True)})
    async def handler(request: Request) -> Response:
        """A handler."""
        raise AssertionError("never served")

    doc = openapi_document(guard_routes([Route("/api/venues/{venue}/events", handler, methods=["POST"])]))

    schema = doc["paths"]["/api/venues/{venue}/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def test_every_operation_id_is_unique() -> None:
    ids = [op["operationId"] for op in operations(document(DEMO)).values()]

    assert len(ids) == len(set(ids))


def get(server: LivehubProcess, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(server.http + path, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_a_server_serves_its_document_and_the_docs_page_with_the_vendored_browser(
    livehub_server: LivehubProcess,
) -> None:
    status, kind, raw = get(livehub_server, "/openapi.json")
    assert (status, kind) == (200, "application/json")
    served = orjson.loads(raw)
    assert served["openapi"].startswith("3.") and served["paths"].keys() == document(DEMO)["paths"].keys()

    status, kind, page = get(livehub_server, "/docs")
    assert status == 200 and kind.startswith("text/html")
    sources = re.findall(rb'(?:src|href)="([^"]+)"', page)
    assert b"/static/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert all(s.startswith(b"/") or s.startswith(b"data:") for s in sources), sources  # nothing from elsewhere
    for source in sources:
        if source.startswith(b"/static/"):
            assert get(livehub_server, source.decode())[0] == 200
    assert (STATIC / "vendor" / "swagger-ui" / "LICENSE").is_file()
