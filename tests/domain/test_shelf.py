"""The shelf (pure): the host's order, the attachments, the bounds, the pinned card on top."""

from __future__ import annotations

import pytest

from livehub.domain.shelf import ShelfError, ShelfItem, parse_shelf, pinned_on_top


def test_the_shelf_keeps_the_hosts_order_and_each_items_attachments() -> None:
    items = parse_shelf([{"sku": "b", "sale": "s1"}, {"sku": "a", "group": "g-1", "coupon": "c1"}, {"sku": "c"}], 5)
    assert items == [ShelfItem("b", sale="s1"), ShelfItem("a", group="g-1", coupon="c1"), ShelfItem("c")]
    assert [i.to_dict() for i in items] == [{"sku": "b", "sale": "s1"},
                                            {"sku": "a", "group": "g-1", "coupon": "c1"}, {"sku": "c"}]  # fmt: skip


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ("b", "items"),
        ([{"sku": "a"}] * 2, "items[1].sku"),
        ([{"sku": "a b"}], "items[0].sku"),
        ([{"sku": "a", "group": "x y"}], "items[0].group"),
        ([{"sku": "a", "sale": 7}], "items[0].sale"),
        ([{"sku": "a", "price": 1}], "items[0].price"),
        (["a"], "items[0]"),
        ([{"sku": str(i)} for i in range(4)], "items"),  # longer than the bound
    ],
)
def test_a_malformed_shelf_names_the_field(items: object, field: str) -> None:
    with pytest.raises(ShelfError) as exc:
        parse_shelf(items, 3)
    assert exc.value.field == field


def test_the_pinned_card_goes_on_top_of_the_shelf() -> None:
    items = [ShelfItem("a"), ShelfItem("b", sale="s1"), ShelfItem("c")]
    assert [i.sku for i in pinned_on_top(items, "b")] == ["b", "a", "c"]
    assert pinned_on_top(items, "b")[0].sale == "s1"
    assert [i.sku for i in pinned_on_top(items, "z")] == ["z", "a", "b", "c"]
    assert pinned_on_top(items, None) == items
