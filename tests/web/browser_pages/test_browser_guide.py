"""The guide's page (/guide) in chromium: a guide signs in (the demo guide login) and sees their share
link and its QR poster, a credited order of a customer their code brought in, and that customer's
open reservation; and a guide-only coupon dropped from the panel, refused to another guide's customer."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LivehubProcess, host_token, http_json, viewer_token
from tests.web.browser import expect, open_panel, screenshot, wait_live

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.browser


def open_sale(server: LivehubProcess) -> str:
    sale_id = f"s-{uuid.uuid4().hex[:10]}"
    body = {"sku": "b1-sku2", "stock": 5, "price_cents": 2500, "per_user_limit": 2, "starts_in_s": 0,
            "duration_s": 600, "sale_id": sale_id}  # fmt: skip
    status, out = http_json("POST", f"{server.http}/api/venues/b1/sales", body, host_token("host-b1", "b1"))
    assert status == 201, out
    return sale_id


def bought(server: LivehubProcess, user: str, sale_id: str, guide: str | None = None) -> dict[str, Any]:
    query = f"?guide={guide}" if guide else ""
    status, out = http_json("POST", f"{server.http}/api/sales/{sale_id}/buy{query}", {"id": uuid.uuid4().hex, "qty": 1},
                            viewer_token(user))  # fmt: skip
    assert status == 200 and out["status"] == "ok", out
    return out


def test_a_guides_page_shows_the_qr_poster_a_credited_order_and_an_open_reservation(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    customer = "fan-" + uuid.uuid4().hex[:8]
    sale_id = open_sale(livehub_server)
    first = bought(livehub_server, customer, sale_id, guide="g-b1-4")  # through guide b1-g4's poster
    status, paid = http_json("POST", f"{livehub_server.http}/api/reservations/{first['reservation']}/pay", {},
                             viewer_token(customer))  # fmt: skip
    assert status == 200 and paid["guide"] == "b1-g4", paid
    unpaid = bought(livehub_server, customer, sale_id)  # later, no code: still the guide's customer

    page = context.new_page()
    page.goto("/guide")
    page.get_by_test_id("demo-guide").fill("b1-g4")
    page.get_by_test_id("guide-demo-sign-in").click()
    expect(page.get_by_test_id("share-link")).to_contain_text("/watch?guide=g-b1-4")
    poster = page.get_by_test_id("guide-poster")
    expect(poster).to_have_attribute("src", re.compile(r"^blob:"))  # fetched with the guide's token
    page.wait_for_function("() => document.querySelector('[data-testid=guide-poster]').naturalWidth > 0")
    order = page.locator(f'[data-testid=credited-orders] li[data-order="{paid["order"]}"]')
    expect(order).to_contain_text("¥25 · commission ¥1.25")  # 5 % of 25
    reservation = page.locator(f'[data-testid=open-reservations] li[data-reservation="{unpaid["reservation"]}"]')
    expect(reservation).to_contain_text(customer)
    screenshot(page, "guide-page")


def test_a_token_that_is_not_a_guides_sends_the_page_back_to_the_sign_in(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/guide")
    page.get_by_test_id("guide-token").fill(viewer_token("just-a-viewer"))
    page.get_by_test_id("guide-sign-in").click()
    expect(page.get_by_test_id("guide-login-message")).to_contain_text("not a guide's")


def test_a_host_drops_a_guide_only_coupon_from_the_panel_and_another_guides_customer_is_refused(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    panel = open_panel(context, "host-b1", "b1-key")
    for field, value in [("coupon-value", "3"), ("coupon-min", "0"), ("coupon-total", "5"), ("coupon-limit", "1"),
                         ("coupon-expires", "600"), ("coupon-only-guide", "b1-g1")]:  # fmt: skip
        panel.get_by_test_id(field).fill(value)
    panel.get_by_test_id("coupon-drop").click()
    dropped = panel.get_by_test_id("coupon-result")
    expect(dropped).to_contain_text(re.compile(r"dropped \(c-\w+\).*only for b1-g1's customers"))
    coupon_id = re.search(r"\((c-\w+)\)", dropped.inner_text())[1]  # type: ignore[index]
    fan = context.new_page()
    fan.goto("/watch?venue=b1&guide=g-b1-2")  # another guide's share code
    wait_live(fan)
    offer = fan.locator(f'[data-coupon="{coupon_id}"]')
    offer.get_by_test_id("grab").click()
    expect(offer.get_by_test_id("grab-result")).to_have_text("This coupon is for one shopping guide's customers only")
