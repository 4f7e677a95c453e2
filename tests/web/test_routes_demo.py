"""Demo-mode routes (guest login, simulated payment): served only in demo mode, 404 otherwise;
and the app factory refuses unsafe settings whoever calls it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from livehub.app import create_app
from livehub.config import UnsafeSettings, load_festival
from livehub.settings import Settings
from tests.conftest import LivehubProcess, host_token, http_json, viewer_token

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
PROPER = {"secret": "in-process-secret-0123456789", "payment_secret": "in-process-payment-0123456789"}
DEMO_ROUTES = {"/api/auth/guest", "/api/auth/staff", "/api/reservations/{reservation}/pay"}


def paths(settings: Settings) -> set[str]:
    app = create_app(settings, load_festival(SMALL))
    return {getattr(route, "path", "") for route in app.routes}


def test_the_app_mounts_the_demo_routes_only_in_demo_mode() -> None:
    assert DEMO_ROUTES <= paths(Settings(config_path=str(SMALL), demo=True))
    assert not DEMO_ROUTES & paths(Settings(config_path=str(SMALL), **PROPER))


def test_the_app_factory_refuses_unsafe_settings_outside_demo_mode() -> None:
    with pytest.raises(UnsafeSettings, match="LIVEHUB_SECRET is not set"):
        create_app(Settings(config_path=str(SMALL)), load_festival(SMALL))
    with pytest.raises(UnsafeSettings, match="LIVEHUB_PAYMENT_SECRET equals LIVEHUB_SECRET"):
        create_app(Settings(config_path=str(SMALL), secret=PROPER["secret"], payment_secret=PROPER["secret"]),
                   load_festival(SMALL))  # fmt: skip


def test_outside_demo_mode_the_guest_login_and_the_simulated_payment_answer_404(
    secure_server: LivehubProcess,
) -> None:
    status, err = http_json("POST", f"{secure_server.http}/api/auth/guest")
    assert status == 404 and err["code"] == "not_found"
    status, err = http_json("POST", f"{secure_server.http}/api/reservations/s1:r{uuid.uuid4().hex}/pay", {},
                            viewer_token("demo-off-buyer"))  # fmt: skip
    assert status == 404 and err["code"] == "not_found"


def test_in_demo_mode_a_store_clerk_signs_in_to_their_store_only(livehub_server: LivehubProcess) -> None:
    status, clerk = http_json("POST", f"{livehub_server.http}/api/auth/staff", {"store": "b1-s2"})
    assert (status, clerk["store"]) == (200, "b1-s2") and clerk["user"].startswith("clerk-")

    assert http_json("GET", f"{livehub_server.http}/api/stores/b1-s2/stock", None, clerk["token"])[0] == 200
    assert http_json("GET", f"{livehub_server.http}/api/stores/b1-s1/stock", None, clerk["token"])[0] == 403
    assert http_json("POST", f"{livehub_server.http}/api/auth/staff", {"store": "nowhere"})[0] == 404
    assert http_json("POST", f"{livehub_server.http}/api/auth/staff", {})[1]["code"] == "bad_request"


def test_outside_demo_mode_there_is_no_staff_login(secure_server: LivehubProcess) -> None:
    assert http_json("POST", f"{secure_server.http}/api/auth/staff", {"store": "b1-s1"})[0] == 404


def test_in_demo_mode_a_guest_gets_a_fresh_viewer_identity_each_time(livehub_server: LivehubProcess) -> None:
    first = http_json("POST", f"{livehub_server.http}/api/auth/guest")
    second = http_json("POST", f"{livehub_server.http}/api/auth/guest")
    assert first[0] == second[0] == 200
    assert first[1]["user"].startswith("guest-") and first[1]["user"] != second[1]["user"] and first[1]["token"]


async def test_in_demo_mode_a_buyer_pays_their_own_reservation_but_not_another_users(
    livehub_server: LivehubProcess,
) -> None:
    sale_id = "demo-" + uuid.uuid4().hex[:8]
    body = {"sku": "b1-sku1", "stock": 5, "price_cents": 990, "per_user_limit": 1, "starts_in_s": 0,
            "duration_s": 600, "sale_id": sale_id}  # fmt: skip
    status, _ = await asyncio.to_thread(http_json, "POST", f"{livehub_server.http}/api/venues/b1/sales", body,
                                        host_token("host-b1", "b1"))  # fmt: skip
    assert status == 201
    _, held = await asyncio.to_thread(http_json, "POST", f"{livehub_server.http}/api/sales/{sale_id}/buy",
                                      {"id": uuid.uuid4().hex, "qty": 1}, viewer_token("demo-buyer"))  # fmt: skip
    url = f"{livehub_server.http}/api/reservations/{held['reservation']}/pay"
    status, err = await asyncio.to_thread(http_json, "POST", url, {}, viewer_token("demo-someone-else"))
    assert status == 404 and err["code"] == "not_found"
    status, paid = await asyncio.to_thread(http_json, "POST", url, {}, viewer_token("demo-buyer"))
    assert status == 200 and paid["status"] == "paid"
