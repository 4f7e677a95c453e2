"""The browser pages (/watch, /panel) in a real browser: Playwright drives Debian's chromium
against a real ``livehub serve`` process (the session's ``livehub_server``, config/small.toml).

The shared helpers are in tests/web/browser.py, the fixtures in tests/web/conftest.py; screenshots
of /watch and /panel are saved as test artifacts (test-artifacts/screenshots/).
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LivehubProcess, host_token, http_json
from tests.web.browser import (
    RECORD_LIKE_FRAMES,
    WAIT_MS,
    client_stats,
    expect,
    marker,
    open_panel,
    open_watch,
    publish,
    screenshot,
    wait_live,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser


def test_brand_viewer_sees_an_announcement_published_on_main_live(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    page = open_watch(context, "b1")
    expect(page.get_by_test_id("venue-title")).to_have_text("Lotus Tea live room")
    text = f"Doors open in 5 minutes {marker()}"
    publish(livehub_server, "main", "announcement", {"text": text})
    item = page.get_by_test_id("feed").locator("li", has_text=text)
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Main venue")  # 1+N: tagged as coming from the main venue


def test_host_sends_a_visit_cta_from_the_panel_and_a_b2_viewer_follows_it_to_b1(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    viewer = open_watch(context, "b2")
    panel = open_panel(context, "host-main", "main-key")
    text = f"Half price tea {marker()}"
    panel.get_by_test_id("cta-target").select_option("b1")
    panel.get_by_test_id("cta-text").fill(text)
    panel.get_by_test_id("cta-send").click()
    expect(panel.locator(".control .result.ok")).to_have_count(1)

    banner = viewer.get_by_test_id("cta-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Lotus Tea live room")
    expect(banner).to_contain_text(text)
    screenshot(viewer, "watch-b2-cta")
    screenshot(panel, "panel-main")
    banner.get_by_test_id("cta-go").click()
    expect(viewer.get_by_test_id("venue-title")).to_have_text("Lotus Tea live room")
    expect(viewer).to_have_url(re.compile(r"[?&]venue=b1\b"))
    wait_live(viewer)
    expect(banner).to_be_hidden()  # the call to action points at the room the viewer is in now
    assert client_stats(viewer)["venue"] == "b1"


def test_main_host_links_up_with_a_brand_and_viewers_see_the_co_host_banner(context: BrowserContext) -> None:
    viewer = open_watch(context, "b2")
    panel = open_panel(context, "host-main", "main-key")
    control = panel.locator("section.control", has=panel.get_by_test_id("cohost-start"))
    panel.get_by_test_id("cohost-target").select_option("b3")
    panel.get_by_test_id("cohost-start").click()
    expect(control.locator(".result")).to_have_class(re.compile(r"\bok\b"))
    expect(control).to_contain_text("Now linked with Kang Pharmacy live room")
    banner = viewer.get_by_test_id("cohost-banner")
    expect(banner).to_be_visible()  # main's state reaches every brand room (1+N)
    expect(banner).to_contain_text("Kang Pharmacy live room")
    panel.get_by_test_id("cohost-end").click()
    expect(banner).to_be_hidden()
    expect(control).to_contain_text("No link-up running.")


def test_a_comment_appears_in_another_viewer_of_the_venue_as_plain_text(context: BrowserContext) -> None:
    alice, bob = open_watch(context, "b3"), open_watch(context, "b3")
    evil = f'<img src=x onerror="window.__xss=1"><b>bold {marker()}</b>'
    alice.get_by_test_id("comment-input").fill(evil)
    alice.get_by_test_id("comment-send").click()
    seen = bob.get_by_test_id("comments").locator("li", has_text=evil)
    expect(seen).to_have_count(1)
    expect(seen.locator(".what")).to_have_text(evil)  # the markup is shown as text ...
    assert bob.get_by_test_id("comments").locator("img, b").count() == 0  # ... and never parsed
    assert bob.evaluate("window.__xss") is None and alice.evaluate("window.__xss") is None
    expect(alice.get_by_test_id("comments").locator("li.mine", has_text=evil)).to_have_count(1)
    expect(alice.get_by_test_id("comment-input")).to_have_value("")


def test_like_taps_are_batched_and_raise_the_likes_counter_for_everyone(context: BrowserContext) -> None:
    tapper = context.new_page()
    tapper.add_init_script(RECORD_LIKE_FRAMES)
    tapper.goto("/watch?venue=main")
    wait_live(tapper)
    watcher = open_watch(context, "main")
    before = int(watcher.get_by_test_id("likes").get_attribute("data-server") or "0")
    tapper.evaluate("() => { for (let i = 0; i < 30; i++) document.querySelector('[data-testid=like-btn]').click(); }")
    for _ in range(5):
        tapper.get_by_test_id("like-btn").click()
    expect(tapper.get_by_test_id("likes")).not_to_have_text(str(before))  # optimistic, right away
    expect(watcher.get_by_test_id("likes")).to_have_attribute("data-server", str(before + 35))
    frames = tapper.evaluate("window.__likes")
    assert sum(n for _, n in frames) == 35
    assert frames[0][1] >= 30, f"a burst of taps goes out as one frame: {frames}"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(frames)]
    assert all(gap >= 240 for gap in gaps), f"more than one like frame per 250 ms: {frames}"


def test_the_page_reconnects_after_a_close_and_resumes_without_gaps_or_duplicates(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    page = open_watch(context, "b1")
    first = client_stats(page)
    page.evaluate("window.livehub.client.ws.close(4000, 'test: drop the connection')")
    missed = f"while away {marker()}"
    publish(livehub_server, "b1", "announcement", {"text": missed})  # most likely before the reconnect
    expect(page.get_by_test_id("feed").locator("li", has_text=missed)).to_have_count(1)
    wait_live(page)
    after = f"after the reconnect {marker()}"
    publish(livehub_server, "b1", "announcement", {"text": after})
    publish(livehub_server, "main", "announcement", {"text": after + " (main)"})
    feed = page.get_by_test_id("feed")
    expect(feed.locator("li", has_text=after)).to_have_count(2)
    expect(feed.locator("li", has_text=missed)).to_have_count(1)
    stats = client_stats(page)
    assert stats["snapshots"] == first["snapshots"] + 1
    assert stats["last"]["recovered"] is True, stats
    assert stats["duplicates"] == 0 and stats["gaps"] == 0, stats
    keys = feed.locator("li").evaluate_all("els => els.map(e => e.dataset.key)")
    assert len(keys) == len(set(keys))


def host_call(server: LivehubProcess, method: str, venue: str, path: str, body: object = None) -> dict[str, Any]:
    host = "host-main" if venue == "main" else f"host-{venue}"
    status, out = http_json(method, f"{server.http}/api/venues/{venue}/{path}", body, host_token(host, venue))
    assert status in (200, 201), out
    return out


def test_a_pinned_card_and_a_flash_sale_render_live_and_the_last_unit_sells_out(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    page = open_watch(context, "b3")
    host_call(livehub_server, "POST", "b3", "cards", {"sku": "b3-sku1"})
    shown = page.get_by_test_id("cards").locator(".card")
    expect(shown).to_contain_text("Vitamin C 100 tablets")
    expect(shown).to_contain_text("¥49")
    expect(shown.locator("img")).to_have_attribute("src", "/static/products/pharmacy.svg")
    sale_id = "s" + marker()
    host_call(livehub_server, "POST", "b3", "sales", {"sale_id": sale_id, "sku": "b3-sku1", "price_cents": 1990,
                                                      "stock": 1, "per_user_limit": 1, "duration_s": 120})  # fmt: skip
    row = page.locator(f'[data-sale="{sale_id}"]')
    expect(row).to_have_attribute("data-phase", "open")
    expect(row.locator(".timer")).to_have_text(re.compile(r"ends in 0[12]:\d\d"))
    expect(row.locator("h3")).to_have_text("Vitamin C 100 tablets")
    expect(row.locator(".was")).to_have_text("¥69")
    row.get_by_test_id("buy").click()
    expect(row.locator(".buy-result")).to_have_class(re.compile(r"\bok\b"))  # this page took the last unit
    expect(row).to_have_attribute("data-phase", "sold_out")  # announced by the server once the stock hit 0
    expect(row.get_by_test_id("buy")).to_be_disabled()
    screenshot(page, "watch-b3-commerce")
    host_call(livehub_server, "DELETE", "b3", "cards")
    expect(shown).to_have_count(0)


def test_a_brand_host_logs_in_and_gets_its_brands_products_but_not_the_main_hosts_controls(
    context: BrowserContext,
) -> None:
    panel = context.new_page()
    panel.goto("/panel")
    panel.get_by_test_id("login-host").fill("host-b1")
    panel.get_by_test_id("login-key").fill("wrong")
    panel.get_by_test_id("login-submit").click()
    expect(panel.get_by_test_id("login-error")).to_contain_text("unauthorized")
    panel.get_by_test_id("login-key").fill("b1-key")
    panel.get_by_test_id("login-submit").click()
    wait_live(panel)
    assert panel.get_by_test_id("cta-send").count() == 0  # brand hosts don't get the main host's controls
    products = panel.get_by_test_id("products").locator(".product")
    expect(products).to_have_count(2)  # /api/festival's products of brand b1 only
    assert products.evaluate_all("els => els.map(e => e.dataset.sku)") == ["b1-sku1", "b1-sku2"]
    panel.get_by_test_id("card-sku").fill("b2-sku1")  # another brand's product: the server says no
    panel.get_by_test_id("card-pin").click()
    expect(panel.get_by_test_id("card-result")).to_have_text(re.compile(r"^✗ HTTP 400 · bad_request: "))
    panel.get_by_test_id("card-sku").fill("b1-sku2")
    panel.get_by_test_id("card-pin").click()
    expect(panel.get_by_test_id("card-result")).to_have_text("✓ Pinned b1-sku2")
    expect(panel.get_by_test_id("card-now")).to_contain_text("Jasmine pearls 100g (b1-sku2)")
    earlier = panel.get_by_test_id("board-hour").locator("option").nth(1).get_attribute("value") or ""
    panel.get_by_test_id("board-hour").select_option(earlier)  # the leaderboard of another hour (GET)
    expect(panel.get_by_test_id("leaderboard")).to_have_attribute("data-hour", earlier)


def guide_sales_cents(server: LivehubProcess, guide: str) -> tuple[str, int]:
    """(hour, sales cents of ``guide`` in that hour) from the leaderboard API."""
    status, board = http_json("GET", f"{server.http}/api/guides/leaderboard?n=100")
    assert status == 200, board
    return board["hour"], next((g["sales_cents"] for g in board["guides"] if g["guide_id"] == guide), 0)


# true once the panel's leaderboard shows `guide` with at least `amount` more sales than before (in `hour`)
LEADERBOARD_GREW = """([guide, hour, before, amount]) => {
  const table = document.querySelector('[data-testid="leaderboard"]');
  const row = table && table.querySelector(`tr[data-guide="${guide}"]`);
  if (!row) return false;
  return Number(row.dataset.salesCents) >= (table.dataset.hour === hour ? before + amount : amount);
}"""


def sale_row(page: Page, sale_id: str) -> Any:
    return page.locator(f'article.sale[data-sale="{sale_id}"]')


def my_order(page: Page, sale_id: str) -> Any:
    return page.get_by_test_id("my-orders").locator(f'.order[data-reservation^="{sale_id}:"]')


def test_host_runs_a_flash_sale_from_the_panel_and_a_referred_viewer_buys_pays_and_credits_the_guide(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    hour, before = guide_sales_cents(livehub_server, "b1-g1")
    panel = open_panel(context, "host-b1", "b1-key")
    fan = context.new_page()
    fan.goto("/watch?venue=b1&guide=g-b1-1")  # from guide Wang Fang's share poster
    wait_live(fan)
    assert "guide=g-b1-1" in fan.evaluate("window.livehub.client.ws.url")

    # the host pins the tea and schedules a flash sale of 2 units, then opens it early
    panel.get_by_test_id("products").locator('[data-sku="b1-sku1"]').get_by_test_id("product-pin").click()
    expect(panel.get_by_test_id("card-result")).to_have_text("✓ Pinned b1-sku1")
    card = fan.get_by_test_id("cards").locator(".card")
    expect(card).to_contain_text("Longjing green tea 250g")
    for field, value in [("sale-sku", "b1-sku1"), ("sale-price", "99"), ("sale-stock", "2"), ("sale-limit", "1"),
                         ("sale-starts-in", "60"), ("sale-duration", "120"), ("sale-ttl", "120")]:  # fmt: skip
        panel.get_by_test_id(field).fill(value)
    panel.get_by_test_id("sale-create").click()
    created = panel.get_by_test_id("sale-result")
    expect(created).to_have_attribute("data-sale", re.compile(r"^s-"))
    sale_id = created.get_attribute("data-sale") or ""
    expect(created).to_contain_text(f"✓ Flash sale {sale_id}: 2 of Longjing green tea 250g at ¥99, starts ")
    row = sale_row(fan, sale_id)
    expect(row).to_have_attribute("data-phase", "scheduled")
    expect(row.get_by_test_id("sale-timer")).to_have_text(re.compile(r"starts in 0[01]:\d\d"))
    expect(row.get_by_test_id("buy")).to_be_disabled()
    panel.get_by_test_id("card-sku").fill("b1-sku1")  # pin it again with the sale attached
    panel.get_by_test_id("card-sale").select_option(sale_id)
    panel.get_by_test_id("card-pin").click()
    expect(card).to_contain_text("Flash price ¥99")
    sale_row(panel, sale_id).get_by_test_id("sale-start-now").click()
    expect(row).to_have_attribute("data-phase", "open")
    expect(row.get_by_test_id("sale-timer")).to_have_text(re.compile(r"ends in 0[23]:\d\d"))
    expect(row.get_by_test_id("sale-left")).to_have_text("2 / 2 left")

    # the referred viewer buys near People's Square: pickup at the store there, then pays
    fan.get_by_test_id("loc-select").select_option(label="People's Square")
    row.get_by_test_id("buy").click()
    expect(row.get_by_test_id("buy-result")).to_have_attribute("data-status", "ok")
    mine = my_order(fan, sale_id)
    expect(mine.get_by_test_id("fulfilment")).to_contain_text("Pick up at store b1-s1")
    expect(mine.get_by_test_id("order-amount")).to_have_text("¥99")
    expect(mine.get_by_test_id("pay-countdown")).to_have_text(re.compile(r"Pay within 0[12]:\d\d"))
    expect(row.get_by_test_id("sale-left")).to_have_text("1 / 2 left")
    screenshot(fan, "watch-b1-reserved")
    mine.get_by_test_id("pay").click()
    paid = mine.get_by_test_id("order-id")
    expect(paid).to_have_attribute("data-order", re.compile(rf"^{re.escape(sale_id)}:o[0-9a-f]+$"))
    order_id = paid.get_attribute("data-order") or ""
    expect(paid).to_have_text(f"Paid · order {order_id.rsplit(':o', 1)[1][:8].upper()}")
    expect(mine).to_have_attribute("data-state", "paid")
    expect(mine.get_by_test_id("pay")).to_be_hidden()

    # the panel: the order in the live feed, credited to the guide, and the guide on the leaderboard
    item = panel.get_by_test_id("orders").locator(f'li[data-order="{order_id}"]')
    expect(item).to_contain_text("¥99")
    expect(item).to_contain_text("pickup at b1-s1")
    expect(item).to_contain_text("guide b1-g1")
    panel.wait_for_function(LEADERBOARD_GREW, arg=["b1-g1", hour, before, 9900], timeout=WAIT_MS)

    # a second viewer takes the last unit (no location: home delivery); a third one sees it sold out
    third = open_watch(context, "b1")
    expect(sale_row(third, sale_id)).to_have_attribute("data-phase", "open")
    second = open_watch(context, "b1")
    sale_row(second, sale_id).get_by_test_id("buy").click()
    expect(sale_row(second, sale_id).get_by_test_id("buy-result")).to_have_attribute("data-status", "ok")
    expect(my_order(second, sale_id).get_by_test_id("fulfilment")).to_contain_text("Home delivery")
    for page in (third, fan):
        expect(sale_row(page, sale_id)).to_have_attribute("data-phase", "sold_out")
        expect(sale_row(page, sale_id).get_by_test_id("buy")).to_have_text("Sold out")
        expect(sale_row(page, sale_id).get_by_test_id("buy")).to_be_disabled()

    # the store's own list has the pickup
    panel.get_by_test_id("store-id").fill("b1-s1")
    panel.get_by_test_id("store-lookup").click()
    store = panel.get_by_test_id("store-orders")
    expect(store).to_contain_text("Lotus Tea People's Square")
    expect(store.locator(f'tr[data-order="{order_id}"]')).to_contain_text("pickup")
    screenshot(panel, "panel-b1-orders")


def test_a_guide_coupon_dropped_from_the_panel_is_grabbed_once_and_lowers_the_flash_price(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    panel = open_panel(context, "host-b3", "b3-key")
    for field, value in [("coupon-value", "5"), ("coupon-min", "0"), ("coupon-total", "1"), ("coupon-limit", "1"),
                         ("coupon-expires", "600"), ("coupon-guide", "b3-g1")]:  # fmt: skip
        panel.get_by_test_id(field).fill(value)
    panel.get_by_test_id("coupon-drop").click()
    dropped = panel.get_by_test_id("coupon-result")
    expect(dropped).to_contain_text(re.compile(r"^✓ 1 coupon of ¥5 off dropped \(c-\w+, from b3-g1\)"))
    coupon_id = re.search(r"\((c-\w+),", dropped.inner_text())[1]  # type: ignore[index]
    sale_id = "s" + marker()
    host_call(livehub_server, "POST", "b3", "sales", {"sale_id": sale_id, "sku": "b3-sku2", "price_cents": 1500,
                                                      "stock": 5, "per_user_limit": 1, "duration_s": 120})  # fmt: skip
    lucky, late = open_watch(context, "b3"), open_watch(context, "b3")
    offer = lucky.locator(f'[data-coupon="{coupon_id}"]')
    expect(offer).to_contain_text("¥5 off")
    offer.get_by_test_id("grab").click()
    expect(offer.get_by_test_id("grab-result")).to_have_text("✓ In your wallet · 0 left")
    expect(offer.get_by_test_id("grab")).to_have_text("In wallet")
    missed = late.locator(f'[data-coupon="{coupon_id}"]')
    missed.get_by_test_id("grab").click()
    expect(missed.get_by_test_id("grab-result")).to_have_text("All taken — too late")
    expect(sale_row(late, sale_id).get_by_test_id("buy-coupon")).to_be_hidden()

    row = sale_row(lucky, sale_id)
    expect(row.get_by_test_id("buy-coupon")).to_have_value(coupon_id)  # the best coupon is picked by default
    expect(row.get_by_test_id("buy")).to_have_text("Buy now · ¥10")
    row.get_by_test_id("buy").click()
    expect(row.get_by_test_id("buy-result")).to_have_attribute("data-status", "ok")
    mine = my_order(lucky, sale_id)
    expect(mine.get_by_test_id("order-amount")).to_have_text("¥10")
    expect(mine.locator(".was")).to_have_text("¥15")
    expect(row.get_by_test_id("buy-coupon")).to_be_hidden()  # spent
    screenshot(lucky, "watch-b3-coupon")
