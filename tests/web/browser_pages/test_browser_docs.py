"""The browsable API at ``/docs``: Swagger UI, from the server's own static files only, shows every
operation of ``/openapi.json``; expanding one shows its body's fields and the need it has."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import LivehubProcess, http_json
from tests.web.browser import expect, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.browser


def test_the_docs_page_lists_every_operation_from_the_servers_own_files(
    context: BrowserContext, livehub_server: LivehubProcess
) -> None:
    _, document = http_json("GET", livehub_server.http + "/openapi.json")
    count = sum(len(ops) for ops in document["paths"].values())
    requested: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs", wait_until="domcontentloaded", timeout=30_000)  # a 1.7 MB script on a busy machine

    expect(page.locator(".opblock")).to_have_count(count, timeout=30_000)
    buy = page.locator(".opblock-post", has_text="/api/sales/{sale}/buy")
    buy.locator(".opblock-summary").click()
    expect(buy.locator(".opblock-description-wrapper").first).to_contain_text("Needs: buyer")
    expect(buy.locator(".opblock-section-request-body")).to_contain_text("qty")  # the body's example
    screenshot(page, "docs-buy")
    assert requested and all(url.startswith(livehub_server.http) or url.startswith("data:") for url in requested), (
        requested
    )
