"""A property-based run over the OpenAPI document (schemathesis) against a real ``livehub serve`` in demo
mode: every operation, with inputs that follow the document and inputs that break it, called with a
token that meets its need (a host who drives every venue, an admin, a viewer, a guide); never a 5xx,
and every refusal is livehub's error body (``type``, ``code``, ``message``).  The examples are bounded so
the run stays well under a minute."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from livehub.app import create_app
from livehub.config import load_festival
from livehub.domain.tokens import ADMIN, GUIDE, mint
from livehub.settings import Settings
from livehub.web.openapi import openapi_document
from tests.conftest import HUB_ENV, SECRET, SMALL_CONFIG, LivehubProcess, host_token, viewer_token

TOKENS = {  # x-livehub-need -> the bearer token that meets it
    "venue_host": host_token(),  # the main host drives every venue
    "host": host_token(),
    "admin": mint(SECRET, "fuzz-admin", ADMIN),
    "store_staff": mint(SECRET, "fuzz-admin", ADMIN),
    "guide_self": mint(SECRET, "fuzz-guide", GUIDE, guide="b1-g1"),
    "buyer": viewer_token("fuzz-viewer"),
    "user": viewer_token("fuzz-viewer"),
    "watch": viewer_token("fuzz-viewer"),
}


@pytest.fixture(scope="module")
def fuzzed_server(redis_url: str) -> Iterator[LivehubProcess]:
    # generous limits: the run is about answers to bad input, not about the rate limits (429 would pass anyway)
    env = {**HUB_ENV, "LIVEHUB_IDENTITY_BUY_RATE": "10000", "LIVEHUB_IDENTITY_BUY_BURST": "10000",
           "LIVEHUB_IDENTITY_GRAB_RATE": "10000", "LIVEHUB_IDENTITY_GRAB_BURST": "10000",
           "LIVEHUB_HOST_LOGIN_BURST": "10000"}  # fmt: skip
    server = LivehubProcess(redis_url, "fz" + uuid.uuid4().hex[:8], env=env).start()
    try:
        yield server
    finally:
        server.stop()


def error_body_on_refusal(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx of livehub's API is its JSON error body, with a message (the pages and files are not JSON)."""
    if 400 <= response.status_code < 500 and case.operation.path.startswith("/api/"):
        body = response.json()
        assert body["type"] == "error" and body["code"] and body["message"], body
        field = body.get("details", {}).get("field")
        assert field is None or field in body["message"], body  # bad input: the message names the field
    return None


# The document a demo-mode server serves (tests/web/test_openapi.py checks they are the same), read here
# so that each operation is a test of its own.
DOCUMENT = openapi_document(
    create_app(Settings(config_path=SMALL_CONFIG, demo=True), load_festival(SMALL_CONFIG)).routes
)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


def has_constraints(operation: dict[str, Any]) -> bool:
    """Whether the document says anything an input could break (a body, or a parameter beyond "a string")."""
    return "requestBody" in operation or any(
        set(p["schema"]) - {"type", "description"} or p["schema"]["type"] != "string" or p["required"]
        for p in operation.get("parameters", ()) if p["in"] != "path"
    ) or any(set(p["schema"]) - {"type", "description"} for p in operation.get("parameters", ()))  # fmt: skip


CASES = [(method.upper(), path, mode) for path, ops in DOCUMENT["paths"].items() for method, op in ops.items()
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or has_constraints(op)]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_no_input_makes_any_route_fail_with_a_server_error(
    fuzzed_server: LivehubProcess, method: str, path: str, mode: GenerationMode
) -> None:
    operation = SCHEMA[path][method]
    token = TOKENS.get(operation.definition.raw["x-livehub-need"])

    @given(operation.as_strategy(mode))
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def call(case: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if any(name.lower() == "authorization" for name in case.headers or {}):
            headers = {}
        case.call_and_validate(base_url=fuzzed_server.http, headers=headers, checks=[not_a_server_error],
                               additional_checks=[error_body_on_refusal])  # fmt: skip

    call()
