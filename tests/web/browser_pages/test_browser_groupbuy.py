"""Group buys in real chromium (livehub/web/static/groupbuy.js): a host opens a deal from the panel,
a group fills up on two viewer pages and completes when a third viewer joins by its share link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext

from tests.web.browser import expect, open_panel, open_watch, screenshot, wait_live

pytestmark = pytest.mark.browser


def test_a_group_fills_up_on_two_viewer_pages_and_completes(context: BrowserContext) -> None:
    panel = open_panel(context, "host-b1", "b1-key")
    control = panel.get_by_test_id("groupdeal-control")
    control.get_by_test_id("groupdeal-sku").fill("b1-sku2")
    control.get_by_test_id("groupdeal-price").fill("39.00")
    control.get_by_test_id("groupdeal-group_size").fill("3")
    control.get_by_test_id("groupdeal-groups").fill("1")
    control.get_by_test_id("groupdeal-create").click()
    result = control.get_by_test_id("groupdeal-result")
    expect(result).to_contain_text("1 groups of 3 at ¥39")
    deal = re.search(r"Group deal (\S+):", result.inner_text())
    assert deal is not None
    in_deal = f"[data-testid=groupdeal][data-deal='{deal.group(1)}']"

    ann, bo = open_watch(context, "b1"), open_watch(context, "b1")
    ann.locator(in_deal).get_by_test_id("group-start").click()
    expect(ann.get_by_test_id("group-notice")).to_contain_text("You are in")
    expect(bo.locator(in_deal).get_by_test_id("group-fill")).to_have_text(re.compile(r"1 of 3 joined, \d\d:\d\d left"))
    expect(ann.locator(in_deal).get_by_test_id("group-start")).to_have_text("No groups left")  # its one group taken
    bo.locator(in_deal).get_by_test_id("group-join").click()
    for page in (ann, bo):
        expect(page.locator(in_deal).get_by_test_id("group-fill")).to_have_text(
            re.compile(r"2 of 3 joined, \d\d:\d\d left"))  # fmt: skip
    share = bo.locator(in_deal).get_by_test_id("group-share").get_attribute("href")
    assert share is not None and share.startswith("/watch?venue=b1&group=")
    expect(panel.locator(in_deal).get_by_test_id("group-fill")).to_contain_text("2 of 3 joined")  # the host sees it
    screenshot(bo, "groupbuy-filling")

    cy = context.new_page()  # a third viewer opens the shared link: the join dialog
    cy.goto(share)
    wait_live(cy)
    expect(cy.get_by_test_id("group-dialog-fill")).to_contain_text("2 of 3 joined")
    cy.get_by_test_id("group-dialog-join").click()
    expect(cy.get_by_test_id("group-notice")).to_contain_text("Group complete")
    for page in (ann, bo):
        row = page.locator(in_deal).get_by_test_id("group")
        expect(row).to_have_attribute("data-state", "completed")
        expect(row.get_by_test_id("group-fill")).to_have_text("3 of 3 joined · complete ✓")
        expect(page.get_by_test_id("group-notice")).to_contain_text("Group complete")
    screenshot(ann, "groupbuy-completed")
