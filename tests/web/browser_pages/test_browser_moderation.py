"""Moderation in the browser (livehub/web/static/moderation.js): a moderator watching with a
moderator token (``/watch?token=``) deletes a viewer's comment and it disappears from the viewer's
page, which is on the other node; a moderator mutes a viewer, whose next comment is refused; a
host deletes from the panel; a demo moderator (``?moderate=1``) deletes; a viewer's page has no
moderation actions.  Screenshots are saved as test artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehub.domain.tokens import MODERATOR, mint
from tests.conftest import SECRET, LivehubProcess
from tests.web.browser import expect, marker, open_panel, open_watch, screenshot, wait_live

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser


def open_moderator(ctx: BrowserContext, venue: str) -> Page:
    page = ctx.new_page()
    token = mint(SECRET, "mod-" + marker(), MODERATOR, venues=frozenset({venue}))
    page.goto(f"/watch?venue={venue}&token={token}")
    wait_live(page)
    return page


def comment(page: Page, text: str) -> None:
    page.get_by_test_id("comment-input").fill(text)
    page.get_by_test_id("comment-send").click()


def test_a_moderator_deletes_a_comment_and_it_disappears_from_a_viewers_page_on_the_other_node(
    context: BrowserContext, livehub_peer: LivehubProcess
) -> None:
    viewer = context.new_page()
    viewer.goto(f"{livehub_peer.http}/watch?venue=b1")  # the viewer is on the other node
    wait_live(viewer)
    moderator = open_moderator(context, "b1")
    text = f"a comment to delete {marker()}"
    comment(viewer, text)

    on_moderator = moderator.get_by_test_id("comments").locator("li", has_text=text)
    expect(on_moderator).to_have_count(1)
    expect(viewer.get_by_test_id("comments").locator("li", has_text=text)).to_have_count(1)
    screenshot(moderator, "moderation-before-delete")
    on_moderator.get_by_test_id("comment-delete").click()

    expect(viewer.get_by_test_id("comments").locator("li", has_text=text)).to_have_count(0)
    expect(on_moderator).to_have_count(0)
    expect(moderator.get_by_text("Comment deleted")).to_be_visible()
    screenshot(viewer, "moderation-viewer-after-delete")
    screenshot(moderator, "moderation-moderator-after-delete")


def test_a_moderator_mutes_a_viewer_whose_next_comment_is_refused(context: BrowserContext) -> None:
    viewer = open_watch(context, "b2")
    moderator = open_moderator(context, "b2")
    text = f"before the mute {marker()}"
    comment(viewer, text)
    on_moderator = moderator.get_by_test_id("comments").locator("li", has_text=text)
    expect(on_moderator).to_have_count(1)

    on_moderator.get_by_test_id("comment-mute").click()
    expect(moderator.get_by_text("for 10 minutes")).to_be_visible()
    comment(viewer, f"after the mute {marker()}")
    expect(viewer.get_by_test_id("comment-error")).to_contain_text("forbidden")
    screenshot(viewer, "moderation-muted-viewer")


def test_in_demo_mode_moderate_1_watches_as_a_demo_moderator_who_may_delete(context: BrowserContext) -> None:
    viewer = open_watch(context, "b3")
    moderator = context.new_page()
    moderator.goto("/watch?venue=b3&moderate=1")
    wait_live(moderator)
    assert moderator.evaluate("window.livehub.client.role") == "moderator"
    text = f"seen by a demo moderator {marker()}"
    comment(viewer, text)
    on_moderator = moderator.get_by_test_id("comments").locator("li", has_text=text)
    on_moderator.get_by_test_id("comment-delete").click()
    expect(viewer.get_by_test_id("comments").locator("li", has_text=text)).to_have_count(0)


def test_a_host_deletes_a_comment_from_the_panel(context: BrowserContext) -> None:
    viewer = open_watch(context, "b1")
    panel = open_panel(context, "host-b1", "b1-key")
    text = f"deleted by the host {marker()}"
    comment(viewer, text)
    on_panel = panel.get_by_test_id("comments").locator("li", has_text=text)
    on_panel.get_by_test_id("comment-delete").click()
    expect(viewer.get_by_test_id("comments").locator("li", has_text=text)).to_have_count(0)
    expect(on_panel).to_have_count(0)


def test_a_viewers_page_has_no_moderation_actions(context: BrowserContext) -> None:
    author, other = open_watch(context, "b3"), open_watch(context, "b3")
    text = f"nothing to moderate here {marker()}"
    comment(author, text)
    seen = other.get_by_test_id("comments").locator("li", has_text=text)
    expect(seen).to_have_count(1)
    expect(seen.get_by_test_id("comment-delete")).to_have_count(0)
    expect(seen.get_by_test_id("comment-mute")).to_have_count(0)
