"""The shared HTTP pieces: body integers, the route table (same URLs and methods as before the
split by audience), and the error bodies of the app's handlers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.routing import Route

from livehub import errors
from livehub.app import create_app
from livehub.config import load_festival
from livehub.errors import LivehubError
from livehub.settings import Settings
from livehub.web.http import body_int, body_opt_int

if TYPE_CHECKING:
    from starlette.testclient import TestClient

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"

API = {
    ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"),
    ("/api/auth/host", "POST"), ("/api/auth/guest", "POST"), ("/api/auth/token", "POST"),
    ("/api/festival", "GET"), ("/api/venues/{venue}", "GET"),
    ("/api/venues/{venue}/events", "POST"), ("/api/venues/{venue}/cta", "POST"),
    ("/api/venues/{venue}/cohost", "POST"), ("/api/venues/{venue}/cohost", "DELETE"),
    ("/api/venues/{venue}/cards", "POST"), ("/api/venues/{venue}/cards", "DELETE"),
    ("/api/venues/{venue}/sales", "POST"), ("/api/venues/{venue}/sales/{sale}/{action}", "POST"),
    ("/api/venues/{venue}/coupons", "POST"), ("/api/sales/{sale}", "GET"), ("/api/sales/{sale}/buy", "POST"),
    ("/api/coupons/{coupon}/grab", "POST"), ("/api/reservations/{reservation}/pay", "POST"),
    ("/api/payments/callback", "POST"), ("/api/stores/{store}/orders", "GET"), ("/api/guides/leaderboard", "GET"),
}  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with warnings.catch_warnings():  # starlette 1.x deprecates its httpx-based client; it still works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        settings = Settings(config_path=str(SMALL))
        yield TestClient(create_app(settings, load_festival(SMALL)))  # no lifespan: no node, no Redis


def test_body_int_takes_an_integer_or_the_default_and_refuses_anything_else() -> None:
    assert body_int({"n": 3}, "n", 7) == 3
    assert body_int({}, "n", 7) == 7
    for bad in (True, 1.5, "3", None):
        with pytest.raises(LivehubError) as exc:
            body_int({"n": bad}, "n", 7)
        assert exc.value.code == errors.BAD_REQUEST and exc.value.details == {"field": "n"}


def test_body_opt_int_is_none_only_when_absent_and_an_explicit_null_is_refused() -> None:
    assert body_opt_int({}, "n") is None
    assert body_opt_int({"n": 0}, "n") == 0
    with pytest.raises(LivehubError):
        body_opt_int({"n": None}, "n")


def test_the_http_api_serves_exactly_the_documented_urls_and_methods(client: TestClient) -> None:
    served = {
        (route.path, method)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz", "/readyz", "/metrics"))
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert served == API


def test_an_unknown_url_answers_livehubs_not_found_body(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"type": "error", "code": errors.NOT_FOUND, "message": "Not Found"}


def test_a_wrong_method_answers_405_with_a_bad_request_body(client: TestClient) -> None:
    response = client.get("/api/payments/callback")
    assert response.status_code == 405
    assert response.json() == {"type": "error", "code": errors.BAD_REQUEST, "message": "Method Not Allowed"}
