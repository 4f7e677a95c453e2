"""The shelf, the pinned card's own Buy button and pre-sales in a real browser (chromium against the
session's ``livehub_server``): the shopping bag renders in the host's order with the pinned card on
top, a card pinned without a flash sale is bought and paid, a deposit is put down and paid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LivehubProcess, host_token, http_json
from tests.web.browser import expect, marker, open_panel, open_watch, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.browser


def host_call(server: LivehubProcess, method: str, path: str, body: object = None) -> dict[str, Any]:
    status, out = http_json(method, f"{server.http}/api/venues/b2/{path}", body, host_token("host-b2", "b2"))
    assert status in (200, 201), out
    return out


@pytest.fixture
def b2(livehub_server: LivehubProcess) -> Iterator[LivehubProcess]:
    """Venue b2 for one test: its shelf and card cleared afterwards."""
    yield livehub_server
    host_call(livehub_server, "DELETE", "shelf")
    host_call(livehub_server, "DELETE", "cards")


def test_the_shelf_renders_in_the_hosts_order_with_the_pinned_card_on_top(
    context: BrowserContext, b2: LivehubProcess
) -> None:
    page = open_watch(context, "b2")
    host_call(b2, "POST", "shelf", {"items": [{"sku": "b2-sku2", "coupon": None}, {"sku": "b2-sku1", "group": "gd-1"}]})
    items = page.get_by_test_id("shelf").locator(".shelf-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-sku", "b2-sku2")
    expect(items.nth(1)).to_have_attribute("data-sku", "b2-sku1")
    expect(items.nth(1)).to_contain_text("Group deal")
    host_call(b2, "POST", "cards", {"sku": "b2-sku1"})
    expect(items.nth(0)).to_have_attribute("data-sku", "b2-sku1")  # the pinned card's product on top
    expect(items.nth(0)).to_contain_text("Pinned")
    expect(items.nth(1)).to_have_attribute("data-sku", "b2-sku2")
    screenshot(page, "watch-b2-shelf")


def test_a_pinned_card_without_a_sale_is_bought_with_its_own_buy_button_and_paid(
    context: BrowserContext, b2: LivehubProcess
) -> None:
    page = open_watch(context, "b2")
    host_call(b2, "POST", "cards", {"sku": "b2-sku2"})
    card = page.get_by_test_id("cards").locator(".card")
    expect(card).to_contain_text("Cycling helmet")
    card.get_by_test_id("card-buy").click()
    expect(card.locator(".card-buy .buy-result")).to_contain_text("Reserved")
    mine = page.get_by_test_id("my-orders").locator(".order").first
    expect(mine).to_contain_text("Cycling helmet")
    mine.get_by_test_id("pay").click()
    expect(mine.get_by_test_id("order-id")).to_be_visible()
    expect(mine.get_by_test_id("pay")).to_be_hidden()


def test_a_viewer_puts_down_a_deposit_and_pays_it_and_the_countdown_runs(
    context: BrowserContext, b2: LivehubProcess
) -> None:
    page = open_watch(context, "b2")
    presale_id = "p" + marker()
    host_call(b2, "POST", "presales", {"presale_id": presale_id, "sku": "b2-sku1", "stock": 5, "deposit_cents": 50_000,
                                       "deposit_duration_s": 300, "balance_duration_s": 300})  # fmt: skip
    card = page.locator(f'[data-presale="{presale_id}"]')
    expect(card).to_have_attribute("data-phase", "deposit")
    expect(card.get_by_test_id("presale-countdown")).to_contain_text("Deposits close in")
    card.get_by_test_id("presale-deposit").click()
    deposit = card.locator(".deposit")
    expect(deposit).to_have_attribute("data-state", "deposit_due")
    expect(card.get_by_test_id("presale-left")).to_contain_text("4 of 5 left")  # the live stock frame
    deposit.get_by_test_id("deposit-pay").click()
    expect(deposit).to_have_attribute("data-state", "balance_due")
    expect(deposit.get_by_test_id("deposit-pay")).to_have_count(0)  # the balance waits for its window
    screenshot(page, "watch-b2-presale")


def test_the_host_sets_the_shelf_and_schedules_a_pre_sale_from_the_panel(
    context: BrowserContext, b2: LivehubProcess
) -> None:
    panel = open_panel(context, "host-b2", "b2-key")
    fan = open_watch(context, "b2")
    panel.get_by_test_id("shelf-items").fill("b2-sku1 group=gd-9\nb2-sku2")
    panel.get_by_test_id("shelf-set").click()
    expect(panel.get_by_test_id("shelf-result")).to_have_text("Shelf set: 2 products")
    items = fan.get_by_test_id("shelf").locator(".shelf-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-sku", "b2-sku1")
    expect(items.nth(0)).to_contain_text("Group deal")
    panel.get_by_test_id("presale-sku").fill("b2-sku2")
    panel.get_by_test_id("presale-deposit_cents").fill("2000")
    panel.get_by_test_id("presale-create").click()
    expect(panel.get_by_test_id("presale-result")).to_contain_text("scheduled")
    expect(fan.get_by_test_id("presales").locator(".presale").last).to_contain_text("Deposit ¥20")
    screenshot(panel, "panel-b2-shelf-presale")
    panel.get_by_test_id("shelf-clear").click()
    expect(items).to_have_count(0)
