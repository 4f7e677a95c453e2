"""What every browser test shares: Playwright driving Debian's chromium (``executable_path``) against
a real ``livehub serve``; the fixtures (``browser``, ``context``) are in tests/web/conftest.py.

Skipped when /usr/bin/chromium (or the playwright package) is missing, unless
LIVEHUB_REQUIRE_BROWSER=1 (CI), where that is a failure.  Screenshots are saved as test artifacts
in ``test-artifacts/screenshots/`` (or ``$LIVEHUB_SCREENSHOT_DIR``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import ROOT, LivehubProcess, host_token, http_json

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]  # fmt: skip
REQUIRE = os.environ.get("LIVEHUB_REQUIRE_BROWSER") == "1"
WAIT_MS = 8000


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@contextlib.contextmanager
def page_context(browser: Browser, server: LivehubProcess) -> Iterator[BrowserContext]:
    """A browser context on ``server``; an uncaught error in any of its pages fails the test."""
    ctx = browser.new_context(base_url=server.http, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        yield ctx
        assert not errors, f"uncaught errors in the page: {errors}"
    finally:
        ctx.close()


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(target)


def marker() -> str:
    return uuid.uuid4().hex[:10]


def open_watch(ctx: BrowserContext, venue: str) -> Page:
    page = ctx.new_page()
    page.goto(f"/watch?venue={venue}")
    wait_live(page)
    return page


def wait_live(page: Page) -> None:
    # connecting includes loading the page's module, the festival and a guest token: allow for a loaded machine
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "live", timeout=2 * WAIT_MS)


def open_panel(ctx: BrowserContext, host: str, key: str) -> Page:
    panel = ctx.new_page()
    panel.goto("/panel")
    panel.get_by_test_id("login-host").fill(host)
    panel.get_by_test_id("login-key").fill(key)
    panel.get_by_test_id("login-submit").click()
    wait_live(panel)
    expect(panel.get_by_test_id("panel-host")).to_contain_text(host)
    return panel


def publish(server: LivehubProcess, venue: str, kind: str, data: object) -> dict[str, Any]:
    host = "host-main" if venue == "main" else f"host-{venue}"
    status, body = http_json("POST", f"{server.http}/api/venues/{venue}/events", {"kind": kind, "data": data},
                             host_token(host, venue))  # fmt: skip
    assert status == 200, body
    return body


# an init script: every `like` frame the page sends, as [time ms, n], in window.__likes
RECORD_LIKE_FRAMES = """{
  const send = WebSocket.prototype.send;
  window.__likes = [];
  WebSocket.prototype.send = function (data) {
    const f = JSON.parse(data);
    if (f.type === "like") window.__likes.push([performance.now(), f.n]);
    return send.call(this, data);
  };
}"""


def client_stats(page: Page) -> dict[str, Any]:
    stats: dict[str, Any] = page.evaluate("() => ({...window.livehub.client.stats, venue: window.livehub.client.venue,"
                                          " last: window.livehub.client.lastSnapshot})")  # fmt: skip
    return stats


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot saved as a test artifact: ``$LIVEHUB_SCREENSHOT_DIR/<name>.png``
    (default ``test-artifacts/screenshots/``, ignored by git)."""
    directory = Path(os.environ.get("LIVEHUB_SCREENSHOT_DIR") or ARTIFACTS)
    directory.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header stays on top in a full-page shot
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ---- tests ---------------------------------------------------------------------------------------------------------
