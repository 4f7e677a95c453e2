"""The watch page outside demo mode: no guest login, a line saying the platform's login provides
the token; with a token from that login (``?token=``) it goes live as that viewer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import LivehubProcess, viewer_token
from tests.web.browser import expect, page_context, wait_live

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.browser


@pytest.fixture
def secure_context(browser: Browser, secure_server: LivehubProcess) -> Iterator[BrowserContext]:
    with page_context(browser, secure_server) as ctx:
        yield ctx


def test_outside_demo_mode_the_watch_page_says_the_platforms_login_provides_the_token(
    secure_context: BrowserContext,
) -> None:
    page = secure_context.new_page()
    page.goto("/watch?venue=b1")
    expect(page.locator(".demo-off")).to_contain_text("The platform's login provides your viewer token")


def test_outside_demo_mode_the_watch_page_goes_live_with_a_token_from_the_url(
    secure_context: BrowserContext,
) -> None:
    page = secure_context.new_page()
    page.goto(f"/watch?venue=b1&token={viewer_token('platform-viewer')}")
    wait_live(page)
