"""The guide's QR poster (pure: no I/O): one SVG document with the QR code of the share link and
the guide's name and code, escaped."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import segno

from livehub.domain.topology import Guide
from livehub.services.guide_page import poster_svg

LINK = "https://shop.example/watch?guide=g-b1-1"


def test_the_poster_is_one_svg_with_the_links_qr_code_and_the_guides_name_escaped() -> None:
    svg = poster_svg(Guide("b1-g1", "Wang <&> Fang", "b1-s1", "b1", "g-b1-1"), LINK)
    root = ET.fromstring(svg)  # well-formed: the name's markup characters are escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == "Wang <&> Fang" and any(t and "g-b1-1" in t and "b1-s1" in t for t in texts)
    out = io.BytesIO()
    segno.make(LINK, error="m").save(out, kind="svg", xmldecl=False)
    modules = out.getvalue().decode().split(' d="', 1)[1].split('"', 1)[0]
    assert modules in svg


def test_another_link_is_another_code() -> None:
    guide = Guide("b1-g1", "Wang Fang", "b1-s1", "b1", "g-b1-1")
    assert poster_svg(guide, LINK) != poster_svg(guide, LINK.replace("g-b1-1", "g-b1-2"))
