"""The browser fixtures: one chromium per test module, a context per test (tests/web/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import LivehubProcess
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, REQUIRE, WAIT_MS, missing, page_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    absent = missing()
    if absent:
        if REQUIRE:
            pytest.fail(f"LIVEHUB_REQUIRE_BROWSER=1 but {absent}", pytrace=False)
        pytest.skip(absent)
    from playwright.sync_api import expect as pw_expect
    from playwright.sync_api import sync_playwright

    pw_expect.set_options(timeout=WAIT_MS)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Browser, livehub_server: LivehubProcess) -> Iterator[BrowserContext]:
    with page_context(browser, livehub_server) as ctx:
        yield ctx
