"""The one entity id grammar, the user id and the request id grammars."""

from __future__ import annotations

import pytest

from livehub.domain.ids import valid_id, valid_request_id, valid_user_id
from livehub.domain.sale_rules import SaleSpec, SaleSpecError
from livehub.errors import LivehubError
from livehub.protocol.commands import ident
from livehub.store.keys import Keys

GOOD = ["a", "sku-1", "tea.green_250g", "B.01", "x" * 64, "2026"]
BAD = ["", "x" * 65, "a:b", "{a}", "a}b", "a b", "é", "a/b", None, 7, b"a"]


@pytest.mark.parametrize("value", GOOD)
def test_the_grammar_accepts_letters_digits_and_underscore_dot_dash(value: str) -> None:
    assert valid_id(value) and ident(value, "venue") == value


@pytest.mark.parametrize("value", BAD)
def test_the_grammar_refuses_separators_braces_spaces_and_non_strings(value: object) -> None:
    assert not valid_id(value)
    with pytest.raises(LivehubError):
        ident(value, "venue")


@pytest.mark.parametrize("value", GOOD)
def test_every_valid_id_is_a_valid_sale_spec_id(value: str) -> None:
    spec = SaleSpec(value, value, value, value, 1, 1, 1, 0, 1)
    assert spec.sku == value


def test_a_sale_spec_refuses_what_the_grammar_refuses() -> None:
    with pytest.raises(SaleSpecError):
        SaleSpec("a:b", "v", "b", "k", 1, 1, 1, 0, 1)


@pytest.mark.parametrize("value", GOOD)
def test_an_id_stays_inside_its_keys_hash_tag(value: str) -> None:
    key = Keys().sale_stock(value)
    assert key[key.index("{") + 1 : key.index("}")] == f"sale:{value}"


def test_user_ids_are_printable_without_spaces() -> None:
    assert valid_user_id("u1") and valid_user_id("user:42@example") and valid_user_id("x" * 64)
    assert not any(valid_user_id(v) for v in ("", "x" * 65, "a b", "a\nb", None))


def test_request_ids_are_printable_ascii_without_spaces() -> None:
    assert valid_request_id("r-1") and valid_request_id("~!{}") and valid_request_id("x" * 64)
    assert not any(valid_request_id(v) for v in ("", "x" * 65, "a b", "é", 7))
