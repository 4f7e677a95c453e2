"""The buyers' orders and the storefront in a real chromium against a real ``livehub serve`` (demo mode):
a buyer's pickup order survives a reload with nothing but the server to remember it; store staff sign
in, hand the order over with the buyer's code once, and adjust their stock."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LivehubProcess, host_token, http_json
from tests.web.browser import expect, screenshot, wait_live

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser


def open_sale(server: LivehubProcess) -> str:
    """A flash sale of b1's tea at the store near People's Square (units put there first), open now."""
    status, out = http_json("POST", f"{server.http}/api/auth/staff", {"store": "b1-s1"})
    assert status == 200, out
    body = {"id": uuid.uuid4().hex, "sku": "b1-sku1", "delta": 3}
    assert http_json("POST", f"{server.http}/api/stores/b1-s1/stock", body, out["token"])[0] == 200
    sale = {"sku": "b1-sku1", "stock": 5, "price_cents": 9900, "per_user_limit": 1, "starts_in_s": 0,
            "duration_s": 600, "sale_id": f"s-{uuid.uuid4().hex[:10]}"}  # fmt: skip
    status, created = http_json("POST", f"{server.http}/api/venues/b1/sales", sale, host_token("host-b1", "b1"))
    assert status == 201, created
    return str(created["sale"]["sale_id"])


def my_order(page: Page, sale_id: str) -> Any:
    return page.get_by_test_id("my-orders").locator(f'.order[data-reservation^="{sale_id}:"]')


def buy_and_pay_for_pickup(context: BrowserContext, sale_id: str) -> tuple[Page, str]:
    """A viewer near People's Square buys and pays: their page and the pickup code it shows."""
    fan = context.new_page()
    fan.goto("/watch?venue=b1")
    wait_live(fan)
    fan.get_by_test_id("loc-select").select_option(label="People's Square")
    row = fan.locator(f'article.sale[data-sale="{sale_id}"]')
    expect(row).to_have_attribute("data-phase", "open")
    row.get_by_test_id("buy").click()
    expect(row.get_by_test_id("buy-result")).to_have_attribute("data-status", "ok")
    mine = my_order(fan, sale_id)
    where = "Lotus Tea People's Square · 200 Nanjing Road East, Huangpu"
    expect(mine.get_by_test_id("pickup-store")).to_have_text(where)
    expect(mine.get_by_test_id("pickup")).to_contain_text("Your pickup code comes with the payment")
    mine.get_by_test_id("pay").click()
    expect(mine).to_have_attribute("data-state", "paid")
    code = mine.get_by_test_id("pickup-code")
    expect(code).to_have_text(re.compile(r"^[2-9A-HJKMNP-Z]{8}$"))
    return fan, code.inner_text()


def test_a_buyers_pickup_order_and_its_code_survive_a_reload_from_the_server_alone(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    sale_id = open_sale(livehub_server)
    fan, code = buy_and_pay_for_pickup(context, sale_id)
    fan.evaluate("() => sessionStorage.removeItem('livehub.owned')")  # the tab forgets; the guest token stays

    fan.reload()
    wait_live(fan)

    mine = my_order(fan, sale_id)
    expect(mine).to_have_attribute("data-state", "paid")
    expect(mine.get_by_test_id("pickup-code")).to_have_text(code)
    expect(mine.get_by_test_id("pickup-store")).to_contain_text("200 Nanjing Road East")
    expect(mine.get_by_test_id("pickup")).to_contain_text(re.compile(r"\d+ m away"))
    screenshot(fan, "watch-b1-pickup-code")


def test_store_staff_hand_over_a_pickup_once_by_its_code_and_the_buyer_sees_it_picked_up(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    sale_id = open_sale(livehub_server)
    fan, code = buy_and_pay_for_pickup(context, sale_id)
    store = context.new_page()
    store.goto("/store?store=b1-s1")
    store.get_by_test_id("staff-login").click()  # demo mode: the clerk login
    expect(store.get_by_test_id("store-name")).to_have_text("Lotus Tea People's Square")
    expect(store.get_by_test_id("store-address")).to_have_text("200 Nanjing Road East, Huangpu")
    expect(store.get_by_test_id("pickups-waiting")).to_contain_text("Longjing green tea 250g")
    assert code not in store.content()  # staff never see the codes: the buyer shows theirs

    store.get_by_test_id("verify-code").fill(code.lower())
    store.get_by_test_id("verify").click()
    expect(store.get_by_test_id("verify-result")).to_contain_text("✓ Hand over Longjing green tea 250g")
    store.get_by_test_id("verify-code").fill(code)
    store.get_by_test_id("verify").click()
    expect(store.get_by_test_id("verify-result")).to_contain_text("Already picked up")
    expect(store.get_by_test_id("pickups-done")).to_contain_text("Longjing green tea 250g")
    screenshot(store, "store-b1-s1-handed-over")

    fan.reload()
    wait_live(fan)
    expect(my_order(fan, sale_id).get_by_test_id("picked-up")).to_contain_text("Picked up at")


def test_store_staff_adjust_the_stock_of_a_sku(context: BrowserContext, livehub_server: LivehubProcess) -> None:
    store = context.new_page()
    store.goto("/store?store=b1-s2")
    store.get_by_test_id("staff-login").click()
    row = store.get_by_test_id("stock").locator('tr[data-sku="b1-sku2"]')
    units = row.get_by_test_id("stock-units")
    expect(units).to_have_text(re.compile(r"^\d+$"))
    before = int(units.inner_text())

    row.get_by_test_id("stock-delta").fill("4")
    row.get_by_test_id("stock-adjust").click()

    expect(store.get_by_test_id("stock").locator('tr[data-sku="b1-sku2"]').get_by_test_id("stock-units")).to_have_text(
        str(before + 4)
    )
