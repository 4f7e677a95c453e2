"""The host dashboard at the top of /panel in Chromium: its numbers come from the server (the
``stats`` and ``festival_stats`` frames, docs/protocol.md "Live numbers") and move when viewers
buy; a reload shows them again.  Screenshots are saved as test artifacts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import LivehubProcess, host_token, http_json
from tests.web.browser import WAIT_MS, expect, marker, open_panel, open_watch, screenshot, wait_live

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser


def count_of(page: Page, testid: str, attribute: str) -> int:
    """A dashboard number once the server's figures are drawn (its data attribute is set)."""
    value = page.get_by_test_id(testid)
    expect(value).to_have_attribute(attribute, re.compile(r"^\d+$"))
    return int(value.get_attribute(attribute) or 0)


def money(cents: int) -> str:
    """As the pages show money (livehub.js ``money``)."""
    return f"¥{cents / 100:.2f}" if cents % 100 else f"¥{cents // 100}"


def new_sale(server: LivehubProcess, venue: str, sku: str, stock: int, price_cents: int) -> str:
    sale_id = "s" + marker()
    status, out = http_json("POST", f"{server.http}/api/venues/{venue}/sales",
                            {"sale_id": sale_id, "sku": sku, "stock": stock, "price_cents": price_cents,
                             "per_user_limit": 1, "duration_s": 600}, host_token(f"host-{venue}", venue))  # fmt: skip
    assert status == 201, out
    return sale_id


def end_open_sales(server: LivehubProcess, venue: str) -> None:
    """End the sales other tests left open in ``venue`` (the venue's numbers list them with their phase)."""
    token = host_token(f"host-{venue}", venue)
    status, stats = http_json("GET", f"{server.http}/api/venues/{venue}/stats", None, token)
    assert status == 200, stats
    for sale in stats["sales"]:
        if sale["phase"] == "open":
            status, out = http_json("POST", f"{server.http}/api/venues/{venue}/sales/{sale['sale']}/end", None, token)
            assert status == 200, out


def buy_and_pay(page: Page, sale_id: str) -> None:
    """The viewer's page buys one unit of the sale and pays for it (the demo's payment)."""
    row = page.locator(f'article.sale[data-sale="{sale_id}"]')
    expect(row).to_have_attribute("data-phase", "open")
    row.get_by_test_id("buy").click()
    expect(row.get_by_test_id("buy-result")).to_have_attribute("data-status", "ok")
    mine = page.get_by_test_id("my-orders").locator(f'.order[data-reservation^="{sale_id}:"]')
    mine.get_by_test_id("pay").click()
    expect(mine).to_have_attribute("data-state", "paid")


def test_the_dashboards_numbers_move_when_viewers_buy_and_a_reload_keeps_them(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    panel = open_panel(context, "host-b2", "b2-key")
    orders_before = count_of(panel, "dash-orders", "data-count")
    gmv_before = count_of(panel, "dash-gmv", "data-cents")
    sale_id = new_sale(livehub_server, "b2", "b2-sku1", stock=5, price_cents=4_900)
    bar = panel.get_by_test_id("dash-stock-bar")
    expect(bar).to_have_attribute("data-stock", "5", timeout=2 * WAIT_MS)  # the live sale, from the stats frame
    expect(panel.get_by_test_id("dash-sale-countdown")).to_have_text(re.compile(r"ends in (09|10):\d\d"))

    for _ in range(2):  # two viewers, each a guest on a page of their own (the guest token is per tab)
        fan = open_watch(context, "b2")
        buy_and_pay(fan, sale_id)
        fan.close()

    expect(panel.get_by_test_id("dash-orders")).to_have_attribute("data-count", str(orders_before + 2))
    expect(panel.get_by_test_id("dash-gmv")).to_have_attribute("data-cents", str(gmv_before + 2 * 4_900))
    expect(bar).to_have_attribute("data-stock", "3")
    summary = f"{orders_before + 2:,} · {money(gmv_before + 2 * 4_900)}"  # the live orders' heading: the server's
    expect(panel.get_by_test_id("orders-summary")).to_have_text(summary)
    expect(panel.get_by_test_id("dash-stock-text")).to_contain_text("3 of 5 left · 2 sold")
    expect(panel.get_by_test_id("dash-conversion")).to_have_text(re.compile(r"^\d+\.\d %$"))
    panel.wait_for_function("() => document.querySelector('[data-testid=dash-opm-chart] canvas') !== null")
    screenshot(panel, "panel-b2-dashboard")

    panel.reload()  # the numbers are the server's: a reload shows them at once, not 0
    wait_live(panel)
    expect(panel.get_by_test_id("dash-orders")).to_have_attribute("data-count", str(orders_before + 2))
    expect(panel.get_by_test_id("dash-gmv")).to_have_attribute("data-cents", str(gmv_before + 2 * 4_900))
    expect(panel.get_by_test_id("orders-summary")).to_have_text(summary)  # not 0: nothing summed in the page


def test_the_main_hosts_grid_shows_every_venue_and_a_brand_rooms_sales(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    panel = open_panel(context, "host-main", "main-key")
    tiles = panel.get_by_test_id("dash-grid").get_by_test_id("dash-venue")
    expect(tiles).to_have_count(4)
    b3 = panel.locator('[data-testid=dash-venue][data-venue="b3"]')
    before = int(b3.locator("[data-cents]").get_attribute("data-cents") or 0)
    end_open_sales(livehub_server, "b3")  # the tile shows the venue's one live sale: this test's
    sale_id = new_sale(livehub_server, "b3", "b3-sku2", stock=3, price_cents=1_500)
    expect(b3).to_have_class(re.compile(r"\bhas-sale\b"), timeout=2 * WAIT_MS)
    fan = open_watch(context, "b3")
    buy_and_pay(fan, sale_id)
    fan.close()
    expect(b3.locator("[data-cents]")).to_have_attribute("data-cents", str(before + 1_500))
    expect(b3).to_contain_text("2 left")
    b3.get_by_test_id("dash-send").click()
    expect(panel.get_by_test_id("dash-grid-note")).to_contain_text("Viewers sent to")
    screenshot(panel, "panel-main-dashboard")


def test_one_click_starts_a_flash_sale_below_the_regular_price(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    panel = open_panel(context, "host-b2", "b2-key")
    tile = panel.get_by_test_id("dash-products").locator('[data-sku="b2-sku2"]')
    tile.click()
    expect(panel.get_by_test_id("dash-flash-note")).to_contain_text("✓")
    expect(panel.get_by_test_id("dash-sale")).to_be_visible()
    status, venue = http_json("GET", f"{livehub_server.http}/api/venues/b2/stats", token=host_token("host-b2", "b2"))
    assert status == 200
    (flash,) = [s for s in venue["sales"] if s["sku"] == "b2-sku2" and s["initial"] == 50 and s["phase"] == "open"][-1:]
    status, festival = http_json("GET", f"{livehub_server.http}/api/festival")
    (product,) = [p for p in festival["products"] if p["sku"] == "b2-sku2"]
    assert flash["price_cents"] == round(product["price_cents"] * 0.8) < product["price_cents"]


def test_a_scheduled_sale_that_opens_by_its_clock_says_so_in_the_feed_once(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    page = open_watch(context, "b2")
    by_clock, by_host = "s" + marker(), "s" + marker()
    for sale_id, starts_in_s in [(by_clock, 2), (by_host, 600)]:
        body = {"sale_id": sale_id, "sku": "b2-sku2", "stock": 3, "price_cents": 9_900, "starts_in_s": starts_in_s,
                "duration_s": 900}  # fmt: skip
        status, out = http_json("POST", f"{livehub_server.http}/api/venues/b2/sales", body, host_token("host-b2", "b2"))
        assert status == 201, out
    expect(page.locator(f'article.sale[data-sale="{by_clock}"]')).to_have_attribute("data-phase", "open")
    started = page.get_by_test_id("feed").locator("li[data-kind='sale.started']", has_text="Cycling helmet")
    expect(started).to_have_count(1)
    status, out = http_json("POST", f"{livehub_server.http}/api/venues/b2/sales/{by_host}/start", None,
                            host_token("host-b2", "b2"))  # fmt: skip
    assert status == 200, out
    expect(page.locator(f'article.sale[data-sale="{by_host}"]')).to_have_attribute("data-phase", "open")
    expect(started).to_have_count(2)  # the host's start: its event's line, not a second one from the clock
    page.wait_for_timeout(1_000)  # a few renders later: still one line per sale
    expect(started).to_have_count(2)
