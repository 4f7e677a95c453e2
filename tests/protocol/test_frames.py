"""Every server frame livehub.protocol.frames builds has the keys docs/protocol.md documents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from livehub import errors
from livehub.domain.stats import SaleFigures, Totals, totals_view
from livehub.protocol import frames
from livehub.protocol.codec import PROTOCOL_VERSION

PROTOCOL_MD = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def doc_example(frame_type: str) -> dict[str, Any]:
    """The first JSON example in docs/protocol.md whose "type" is ``frame_type`` ("…" elided)."""
    for block in re.findall(r"```json\n(.*?)```", PROTOCOL_MD, re.S):
        for text in re.split(r"\n(?=\{)", block.strip()):
            obj = json.loads(text)
            if obj.get("type") == frame_type:
                return obj  # type: ignore[no-any-return]
    raise AssertionError(f"no {frame_type!r} example in docs/protocol.md")


def doc_table_fields(frame_type: str) -> list[str]:
    """The field names of a latest-value frame's row in docs/protocol.md's table."""
    row = re.search(rf"^\| `{re.escape(frame_type)}` \| (.*?) \|", PROTOCOL_MD, re.M)
    assert row is not None, f"no {frame_type!r} row in docs/protocol.md"
    return re.findall(r"`([a-z_]+)[`:]", row.group(1).split(" — ")[0])


def test_welcome_has_the_documented_keys_in_order() -> None:
    frame = frames.welcome("5b48", "vm-5488-f3", "u1", "viewer", 1795424209940)
    assert list(frame) == list(doc_example("welcome"))
    assert frame == {"type": "welcome", "v": PROTOCOL_VERSION, "conn": "5b48", "node": "vm-5488-f3",
                     "user": "u1", "role": "viewer", "server_time": 1795424209940}  # fmt: skip


def test_a_fresh_snapshot_carries_state_and_echoes_the_join_id() -> None:
    channels = {"main": {"epoch": "bd214306", "offset": 41}}
    counters = {"main": {"online": 3, "likes": 4}}
    state = {"main": {"card": {"sku": "x"}}}
    frame = frames.snapshot("main", False, channels, counters, 1795424209951, request_id="r1", state=state)
    assert set(frame) == set(doc_example("snapshot"))
    assert frame["type"] == "snapshot" and frame["recovered"] is False and frame["id"] == "r1"
    assert (frame["venue"], frame["channels"], frame["counters"], frame["state"]) == ("main", channels, counters, state)
    assert frame["server_time"] == 1795424209951


def test_a_recovered_snapshot_has_no_state_and_an_automatic_join_no_id() -> None:
    frame = frames.snapshot("b1", True, {}, {}, 5)
    assert frame == {"type": "snapshot", "venue": "b1", "recovered": True, "channels": {}, "counters": {},
                     "server_time": 5}  # fmt: skip


def test_reply_and_error_have_the_documented_keys() -> None:
    assert set(frames.reply("r7", {"server_time": 1})) == set(doc_example("reply"))
    exc = errors.bad_request("'n' must be between 1 and 100", min=1, max=100, type="like")
    assert set(frames.error(exc, "r8")) == set(doc_example("error"))
    assert frames.error(exc, "r8")["code"] == errors.BAD_REQUEST


@pytest.mark.parametrize(
    ("frame_type", "frame"),
    [
        ("online", frames.online("main", 120)),
        ("likes", frames.likes("main", 99)),
        ("comment", frames.comment("b1", "u1", "hi", 7, "c0ffee")),
        ("comment.deleted", frames.comment_deleted("b1", "c0ffee")),
        ("signal", frames.signal("host-main", {"sdp": "..."}, 7)),
        ("stock", frames.stock("b1", "s1", 3)),
        ("leaderboard", frames.leaderboard({"hour": "2026120123", "guides": []})),
    ],
)
def test_each_latest_value_frame_has_exactly_its_documented_fields(frame_type: str, frame: dict[str, Any]) -> None:
    assert frame["type"] == frame_type
    assert list(frame)[1:] == doc_table_fields(frame_type)


def test_an_order_frame_is_the_pay_answer_with_its_venue_and_time() -> None:
    paid = {"status": "paid", "reservation": "s1:r0", "order": "s1:o0", "sale": "s1", "sku": "k", "qty": 1,
            "amount_cents": 900, "mode": "pickup", "store": "st1", "guide": None}  # fmt: skip
    frame = frames.order("b1", paid, 11)
    assert frame["type"] == "order" and list(frame)[1:] == doc_table_fields("order")
    assert frame["venue"] == "b1" and frame["ts"] == 11 and frame["amount_cents"] == 900


def test_stock_says_sold_out_exactly_when_none_is_left() -> None:
    assert frames.stock("b1", "s1", 0)["sold_out"] is True
    assert frames.stock("b1", "s1", 1)["sold_out"] is False


@pytest.mark.parametrize(
    ("close_code", "code"),
    [
        (errors.CLOSE_UNAUTHORIZED, errors.UNAUTHORIZED),
        (errors.CLOSE_NOT_FOUND, errors.NOT_FOUND),
        (errors.CLOSE_OVERLOADED, errors.UNAVAILABLE),
        (errors.CLOSE_RESTART, errors.UNAVAILABLE),
    ],
)
def test_the_error_before_a_refusing_close_names_the_reason(close_code: int, code: str) -> None:
    assert frames.refusal(close_code, "why") == {"type": "error", "code": code, "message": "why"}


def _venue_figures() -> dict[str, Any]:
    """A venue's figures as livehub.services.stats builds them (domain shapes), without ``venue``."""
    sale = SaleFigures("s1", "b1-sku1", "Tea", "open", 1, 2, 10, 7, 1, 2, 9900, None)
    return {**totals_view(Totals(19_800, 2, 2, 2, 40, 35), 31, [0, 0, 2], 1),
            "live_sale": sale.view(), "upcoming": [], "sales": [sale.view()], "stores": []}  # fmt: skip


def test_the_stats_frame_has_the_documented_keys_in_order() -> None:
    frame = frames.stats("b1", _venue_figures(), 7)
    assert list(frame) == list(doc_example("stats"))
    assert list(frame)[1:] == doc_table_fields("stats")
    assert list(frame["live_sale"]) == list(doc_example("stats")["live_sale"])


def test_the_festival_stats_frame_has_its_documented_fields() -> None:
    figures = {k: v for k, v in totals_view(Totals(), 0, [0], 0).items() if k != "reservations"}
    frame = frames.festival_stats({**figures, "brands": [], "stores": [], "venues": []}, 7)
    assert frame["type"] == "festival_stats"
    assert list(frame)[1:] == doc_table_fields("festival_stats")
