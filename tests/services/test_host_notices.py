"""Hosts' notices (order notifications, co-host signals) reach a host whose connection was briefly
paused: they are volatile updates, but not droppable ones; comments still are."""

from __future__ import annotations

from typing import Any

from livehub.domain.admission import Admission
from livehub.domain.tokens import HOST, Identity
from livehub.domain.topology import host_channel, room_channel
from livehub.hub.connection import Connection
from livehub.hub.stats import Stats
from livehub.presence.comments import Comments
from livehub.protocol.codec import CODECS, JSON
from livehub.services.buying import Buying
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import SaleDraft, VenueControls
from tests.fakes import FakeRaw, messages
from tests.services.conftest import Stores


async def test_a_paused_host_gets_its_order_notifications_and_signals_on_resume_but_not_comments(
    stores: Stores,
) -> None:
    raw, stats = FakeRaw(), Stats()
    host = Connection("c1", JSON, CODECS.index(JSON), Identity("host-b1", HOST, "b1"), raw, 1 << 20, stats)

    async def deliver(channel: str, key: str, message: dict[str, Any]) -> None:
        if channel in (host_channel("host-b1"), room_channel("b1")):  # what the hub hands this host's connection
            host.send_volatile(key, JSON.frame(message))

    stores.broker.publish_volatile = deliver  # type: ignore[method-assign]
    registry = SaleRegistry(stores.festival, stores.sales)
    controls = VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons,
                             max_signal_bytes=1024)  # fmt: skip
    await controls.create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-n", stock=2))
    buying = Buying(stores.festival, registry, stores.sales, stores.coupons, Admission(), stores.broker)
    comments = Comments(100.0, stats, stores.broker)

    host.on_pause()  # the host's transport is briefly full
    first = (await buying.buy("u1", "s-n", "q1", {}, None))["reservation"]
    second = (await buying.buy("u2", "s-n", "q1", {}, None))["reservation"]
    await buying.pay(first, "demo-u1")
    await controls.signal(Identity("host-main", HOST, "main"), "host-b1", {"sdp": "offer"})
    await buying.pay(second, "demo-u2")
    assert await comments.publish("b1", "u1", "hello")
    assert raw.writes == []
    host.on_resume()

    got = messages(raw.data)
    assert [(m["type"], m.get("reservation")) for m in got] == [
        ("order", first), ("signal", None), ("order", second)
    ]  # every notice, in the order sent; the comment was dropped
    assert stats.dropped == 1 and host.latest == {}
