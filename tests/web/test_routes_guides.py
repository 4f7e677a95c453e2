"""The guides' routes on a real ``livehub serve``: a guide's hours and poster, the winners' query and
its bounds, and the demo guide login (demo mode only)."""

from __future__ import annotations

import io
import urllib.request

import segno

from livehub.domain.tokens import GUIDE, mint
from tests.conftest import SECRET, LivehubProcess, http_json

GUIDE_TOKEN = mint(SECRET, "g-user", GUIDE, guide="b1-g2")


def test_a_guides_hours_are_the_last_24_by_default_this_hour_first_and_bounded(livehub_server: LivehubProcess) -> None:
    status, mine = http_json("GET", f"{livehub_server.http}/api/guides/me/hours", None, GUIDE_TOKEN)
    assert status == 200 and mine["guide"] == "b1-g2" and len(mine["hours"]) == 24
    assert mine["hours"][0]["hour"] > mine["hours"][1]["hour"]
    assert mine["link"] == f"{livehub_server.http}/watch?guide=g-b1-2"
    status, one = http_json("GET", f"{livehub_server.http}/api/guides/me/hours?hours=1", None, GUIDE_TOKEN)
    assert status == 200 and [h["hour"] for h in one["hours"]] == [mine["hours"][0]["hour"]]
    status, bad = http_json("GET", f"{livehub_server.http}/api/guides/me/hours?hours=169", None, GUIDE_TOKEN)
    assert status == 400 and bad["code"] == "bad_request"


def test_the_poster_is_an_svg_with_the_qr_code_of_the_guides_absolute_link(livehub_server: LivehubProcess) -> None:
    request = urllib.request.Request(f"{livehub_server.http}/api/guides/me/poster.svg")
    request.add_header("Authorization", f"Bearer {GUIDE_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        svg = response.read().decode()
    link = f"{livehub_server.http}/watch?guide=g-b1-2"
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", xmldecl=False)
    path = out.getvalue().decode().split(' d="', 1)[1].split('"', 1)[0]  # the code's modules, as segno draws them
    assert path in svg and f"QR code: {link}" in svg and ">Li Na<" in svg  # the code, and whose it is


def test_the_winners_are_public_and_the_span_is_checked(livehub_server: LivehubProcess) -> None:
    status, answer = http_json("GET", f"{livehub_server.http}/api/guides/winners")
    assert status == 200 and isinstance(answer["winners"], list) and answer["from"] < answer["to"]
    status, answer = http_json("GET", f"{livehub_server.http}/api/guides/winners?from=2023111410&to=2023111412")
    assert status == 200 and answer == {"from": "2023111410", "to": "2023111412", "winners": []}
    for query, field in (("from=yesterday", "from"), ("from=2023111412&to=2023111410", "from"),
                         ("from=2023010100&to=2023123123", "from"), ("to=now", "to")):  # fmt: skip
        status, bad = http_json("GET", f"{livehub_server.http}/api/guides/winners?{query}")
        assert status == 400 and bad["details"]["field"] == field, (query, bad)


def test_the_demo_guide_login_mints_a_guide_token_for_a_festival_guide_only(
    livehub_server: LivehubProcess, secure_server: LivehubProcess
) -> None:
    status, login = http_json("POST", f"{livehub_server.http}/api/auth/guide", {"guide": "b1-g3"})
    assert status == 200 and login["guide"] == "b1-g3"
    status, me = http_json("GET", f"{livehub_server.http}/api/guides/me", None, login["token"])
    assert status == 200 and me["guide"] == "b1-g3"
    status, bad = http_json("POST", f"{livehub_server.http}/api/auth/guide", {"guide": "nobody"})
    assert status == 400 and bad["details"]["field"] == "guide"
    assert http_json("POST", f"{secure_server.http}/api/auth/guide", {"guide": "b1-g3"})[0] == 404
