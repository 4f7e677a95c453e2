"""The moderation rules (livehub.domain.moderation), without I/O: the keyword filter, who is exempt,
and a node's view of mutes, bans and slow modes (expiry, backplane messages, reloads, bounds)."""

from __future__ import annotations

import pytest

from livehub import errors
from livehub.domain.moderation import BlockedWords, Loaded, ModerationView, exempt
from livehub.domain.tokens import ADMIN, ANONYMOUS_VIEWER, GUIDE, HOST, MODERATOR, VIEWER, Identity

VIEWER_U1 = Identity("u1", VIEWER)
NO_WORDS = BlockedWords([])
NOW = 1_800_000_000_000


def refusal(view: ModerationView, identity: Identity = VIEWER_U1, text: str = "hello", venue: str = "b1",
            words: BlockedWords = NO_WORDS, now_ms: int = NOW,
            now_s: float = 100.0) -> errors.LivehubError | None:  # fmt: skip
    try:
        view.check_comment(venue, identity, text, words, now_ms, now_s)
    except errors.LivehubError as exc:
        return exc
    return None


# ---- the keyword filter ------------------------------------------------------------------------
def test_a_blocked_word_is_found_as_a_whole_word_in_any_case() -> None:
    words = BlockedWords.from_setting("spam, Scam ,,")
    assert set(words.words) == {"spam", "scam"}
    assert words.find("buy SPAM now") == "spam"
    assert words.find("what a scam!") == "scam"
    assert words.find("spammer and scampi are fine") is None


def test_full_width_letters_are_the_plain_letters_to_the_filter() -> None:
    assert BlockedWords(["spam"]).find("\uff53\uff50\uff41\uff4d here") == "spam"


def test_a_blocked_phrase_and_words_with_regex_characters_are_matched_literally() -> None:
    words = BlockedWords(["free money", "c++"])
    assert words.find("get FREE MONEY today") == "free money"
    assert words.find("I like c++") == "c++"
    assert words.find("cpp or c") is None


def test_no_blocked_words_blocks_nothing() -> None:
    assert BlockedWords.from_setting("").find("anything at all") is None


def test_the_filter_is_bounded() -> None:
    with pytest.raises(ValueError, match="at most"):
        BlockedWords([f"w{i}" for i in range(1001)])


def test_a_blocked_comment_is_refused_for_everyone_naming_the_text_field() -> None:
    view = ModerationView(10)
    for identity in (VIEWER_U1, Identity("host-b1", HOST, "b1"), Identity("m", MODERATOR)):
        exc = refusal(view, identity, "this is spam", words=BlockedWords(["spam"]))
        assert exc is not None and exc.code == errors.BAD_REQUEST and exc.details["field"] == "text"


# ---- who moderation applies to -------------------------------------------------------------------
@pytest.mark.parametrize(("identity", "is_exempt"), [
    (Identity("u1", VIEWER), False), (Identity("g", GUIDE, guide="g1"), False),
    (Identity("h", HOST, "b1"), True), (Identity("m", MODERATOR), True), (Identity("a", ADMIN), True),
    (ANONYMOUS_VIEWER, True),
])  # fmt: skip
def test_hosts_moderators_and_admins_are_never_moderated(identity: Identity, is_exempt: bool) -> None:
    assert exempt(identity) is is_exempt


def test_a_muted_host_id_does_not_silence_the_host() -> None:
    view = ModerationView(10)
    view.apply({"action": "mute", "venue": "b1", "user": "host-b1", "until": NOW + 60_000})
    view.apply({"action": "ban", "venue": "", "user": "host-b1", "until": NOW + 60_000})
    assert refusal(view, Identity("host-b1", HOST, "b1")) is None


# ---- mutes and bans --------------------------------------------------------------------------------
def test_a_mute_refuses_comments_in_its_venue_only_until_it_ends() -> None:
    view = ModerationView(10)
    view.apply({"action": "mute", "venue": "b1", "user": "u1", "until": NOW + 60_000})

    exc = refusal(view)
    assert exc is not None and exc.code == errors.FORBIDDEN and exc.details["until"] == NOW + 60_000
    assert refusal(view, venue="b2") is None
    assert refusal(view, Identity("u2", VIEWER)) is None
    assert refusal(view, now_ms=NOW + 60_000) is None  # over: and forgotten
    assert view.mutes == {}


def test_an_unmute_lifts_the_mute() -> None:
    view = ModerationView(10)
    view.apply({"action": "mute", "venue": "b1", "user": "u1", "until": NOW + 60_000})
    view.apply({"action": "unmute", "venue": "b1", "user": "u1"})
    assert refusal(view) is None


def test_a_ban_names_the_user_to_disconnect_and_refuses_them_everywhere_until_it_ends() -> None:
    view = ModerationView(10)
    assert view.apply({"action": "ban", "venue": "", "user": "u1", "until": NOW + 1000}) == "u1"

    with pytest.raises(errors.LivehubError) as refused:
        view.refuse_banned(VIEWER_U1, NOW)
    assert refused.value.code == errors.FORBIDDEN
    exc = refusal(view, venue="b3")
    assert exc is not None and exc.code == errors.FORBIDDEN
    view.refuse_banned(VIEWER_U1, NOW + 1000)  # over
    assert view.banned_until("u1", NOW + 1000) is None


def test_an_unban_lifts_the_ban() -> None:
    view = ModerationView(10)
    view.apply({"action": "ban", "venue": "", "user": "u1", "until": NOW + 1000})
    assert view.apply({"action": "unban", "venue": "", "user": "u1"}) is None
    view.refuse_banned(VIEWER_U1, NOW)


def test_a_malformed_message_is_refused_and_changes_nothing() -> None:
    view = ModerationView(10)
    for message in ({"action": "mute", "venue": "b1", "user": "u1"}, {"action": "explode"}, {}):
        with pytest.raises(ValueError):
            view.apply(message)
    assert (view.mutes, view.bans, view.slow) == ({}, {}, {})


def test_a_reload_replaces_the_view_and_names_the_users_banned_since() -> None:
    view = ModerationView(10)
    view.apply({"action": "ban", "venue": "", "user": "old", "until": NOW + 1000})
    view.apply({"action": "mute", "venue": "b1", "user": "gone", "until": NOW + 1000})

    newly = view.replace(Loaded(mutes={("b2", "u1"): NOW + 5}, bans={"old": NOW + 1000, "new": NOW + 9},
                                slow={"b1": 5, "b2": 0}))  # fmt: skip
    assert newly == {"new"}
    assert view.mutes == {("b2", "u1"): NOW + 5}
    assert view.slow == {"b1": 5}


# ---- slow mode --------------------------------------------------------------------------------------
def test_slow_mode_lets_each_viewer_comment_once_per_interval_in_that_room() -> None:
    view = ModerationView(10)
    view.apply({"action": "slow", "venue": "b1", "interval": 5})

    assert refusal(view, now_s=100.0) is None
    exc = refusal(view, now_s=102.0)
    assert exc is not None and exc.code == errors.RATE_LIMITED and exc.retry_after_ms == 3000
    assert refusal(view, Identity("u2", VIEWER), now_s=102.0) is None  # per viewer
    assert refusal(view, venue="b2", now_s=102.0) is None  # per room
    assert refusal(view, now_s=105.0) is None


def test_slow_mode_off_lets_comments_through_again() -> None:
    view = ModerationView(10)
    view.apply({"action": "slow", "venue": "b1", "interval": 60})
    assert refusal(view, now_s=1.0) is None
    view.apply({"action": "slow", "venue": "b1", "interval": 0})
    assert refusal(view, now_s=2.0) is None
    assert view.slow == {}


def test_slow_mode_remembers_at_most_max_tracked_viewers_forgetting_the_stalest() -> None:
    view = ModerationView(2)
    view.apply({"action": "slow", "venue": "b1", "interval": 60})
    for n, user in enumerate(("a", "b", "c")):
        assert refusal(view, Identity(user, VIEWER), now_s=float(n)) is None
    assert refusal(view, Identity("a", VIEWER), now_s=3.0) is None  # forgotten: may comment again
    exc = refusal(view, Identity("c", VIEWER), now_s=3.0)
    assert exc is not None and exc.code == errors.RATE_LIMITED
