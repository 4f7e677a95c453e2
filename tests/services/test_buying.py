"""The buyer's use-cases over real Redis stores: a websocket buy by a viewer (hosts refused), the
answers about a sale versus errors, and a payment that tells the hosts of the venue and of main once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from livehub import errors
from livehub.domain.admission import Admission
from livehub.domain.quotas import Quotas
from livehub.domain.tokens import HOST, VIEWER, Identity
from livehub.errors import LivehubError
from livehub.protocol.commands import Command
from livehub.services.buying import Buying
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import SaleDraft, VenueControls
from livehub.settings import Settings
from tests.services.conftest import Stores


@dataclass
class Conn:
    identity: Identity
    guide: str | None = None


@pytest.fixture
async def buying(stores: Stores) -> Buying:
    registry = SaleRegistry(stores.festival, stores.sales)
    controls = VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons,
                             max_signal_bytes=1024)  # fmt: skip
    product = stores.festival.products["b1-sku1"]
    await controls.create_sale("b1", SaleDraft(product, sale_id="s-buy", stock=2, per_user_limit=1))
    return Buying(stores.festival, registry, stores.sales, stores.coupons, Admission(), stores.broker)


def buy_cmd(request_id: str, **args: Any) -> Command:
    return Command("buy", request_id, {"sale": "s-buy", "qty": 1, **args})


async def test_a_viewer_buys_over_the_websocket_and_a_retry_answers_duplicate(buying: Buying) -> None:
    viewer = Conn(Identity("u1", VIEWER))
    first = await buying.ws_buy(viewer, buy_cmd("q1"))  # type: ignore[arg-type]
    assert first["status"] == "ok" and first["available"] == 1 and first["qty"] == 1 and first["state"] == "reserved"
    again = await buying.ws_buy(viewer, buy_cmd("q1"))  # type: ignore[arg-type]
    assert again["status"] == "duplicate" and again["reservation"] == first["reservation"]
    other = await buying.ws_buy(viewer, buy_cmd("q2"))  # type: ignore[arg-type]
    assert other["status"] == "limit_reached"


async def test_hosts_do_not_buy_or_grab(buying: Buying) -> None:
    host = Conn(Identity("host-b1", HOST, "b1"))
    for call in (buying.ws_buy(host, buy_cmd("q1")), buying.ws_grab(host, Command("coupon.grab", 1, {"coupon": "c"}))):  # type: ignore[arg-type]
        with pytest.raises(LivehubError) as exc:
            await call
        assert exc.value.code == errors.FORBIDDEN


async def test_a_bad_quantity_is_an_answer_and_an_unknown_sale_or_coupon_is_an_error(buying: Buying) -> None:
    answer = await buying.buy("u1", "s-buy", "q1", {"qty": 0}, None)
    assert answer["status"] == "bad_quantity" and answer["sale"] == "s-buy"
    for call in (buying.buy("u1", "s-none", "q1", {}, None), buying.grab("u1", "c-none")):
        with pytest.raises(LivehubError) as exc:
            await call
        assert exc.value.code == errors.NOT_FOUND


async def test_a_payment_confirms_the_order_once_and_tells_the_venues_and_mains_hosts(
    buying: Buying, stores: Stores
) -> None:
    told: list[tuple[str, dict[str, Any]]] = []

    async def record(channel: str, key: str, message: dict[str, Any]) -> None:
        told.append((channel, message))

    stores.broker.publish_volatile = record  # type: ignore[method-assign]
    reservation = (await buying.buy("u1", "s-buy", "q1", {}, None))["reservation"]
    with pytest.raises(LivehubError) as exc:
        await buying.pay(reservation, "demo-u2", user="u2")  # not the buyer's
    assert exc.value.code == errors.NOT_FOUND
    paid = await buying.pay(reservation, "demo-u1", user="u1")
    assert paid["status"] == "paid" and paid["sale"] == "s-buy" and paid["qty"] == 1
    assert sorted(c for c, _ in told) == ["host:host-b1", "host:host-main"]
    assert all(m["type"] == "order" and m["venue"] == "b1" and m["order"] == paid["order"] for _, m in told)
    again = await buying.pay(reservation, "demo-u1")
    assert again["status"] == "duplicate" and again["order"] == paid["order"] and len(told) == 2


def counting_buy_scripts(stores: Stores) -> list[str]:
    """Names of the scripts run from now on (the buy path's Redis work)."""
    ran: list[str] = []
    run = stores.scripts.run

    async def counted(name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        ran.append(name)
        return await run(name, keys, args, client)

    stores.scripts.run = counted  # type: ignore[method-assign]
    return ran


async def test_a_retry_after_sell_out_still_gets_its_reservation(buying: Buying, stores: Stores) -> None:
    buying.admission = Admission(probe_interval_s=3600.0)  # no probe goes through during the test
    first = await buying.buy("u1", "s-buy", "q1", {}, None)
    second = await buying.buy("u2", "s-buy", "q1", {}, None)
    assert first["status"] == second["status"] == "ok" and second["available"] == 0
    assert buying.admission.is_sold_out("s-buy")  # the gate now sheds
    ran = counting_buy_scripts(stores)
    again = await buying.buy("u1", "s-buy", "q1", {}, None)  # the first answer was lost
    assert again["status"] == "duplicate" and again["reservation"] == first["reservation"]
    assert again["state"] == "reserved"
    ran.clear()
    late = await buying.buy("u3", "s-buy", "q1", {}, None)
    assert late["status"] == "sold_out" and late["available"] == 0
    assert "buy" not in ran  # shed by the gate: buy.lua never ran


async def test_a_retry_shed_as_busy_still_gets_its_reservation(buying: Buying, stores: Stores) -> None:
    buying.admission = Admission(rate=1e-6, burst=1.0)  # one buy admitted, then the bucket stays empty
    first = await buying.buy("u1", "s-buy", "q1", {}, None)
    assert first["status"] == "ok"
    ran = counting_buy_scripts(stores)
    again = await buying.buy("u1", "s-buy", "q1", {}, None)
    assert again["status"] == "duplicate" and again["reservation"] == first["reservation"]
    ran.clear()
    other = await buying.buy("u2", "s-buy", "q1", {}, None)
    assert other["status"] == "busy" and "buy" not in ran


def strict_quotas(buys: float = 2.0, grabs: float = 2.0) -> Quotas:
    """Per-identity buys and grabs: a burst of ``buys``/``grabs``, then practically none."""
    return Quotas.from_settings(Settings(identity_buy_rate=1e-6, identity_buy_burst=buys, identity_grab_rate=1e-6,
                                         identity_grab_burst=grabs))  # fmt: skip


async def test_a_buy_for_an_unknown_sale_answers_not_found_and_creates_no_admission_state(buying: Buying) -> None:
    for i in range(50):
        with pytest.raises(LivehubError) as exc:
            await buying.buy(f"u{i}", f"s-unknown-{i}", "q1", {}, None)
        assert exc.value.code == errors.NOT_FOUND
    assert len(buying.admission) == 0
    await buying.buy("u1", "s-buy", "q1", {}, None)
    assert len(buying.admission) == 1  # the sale that exists has its gate


async def test_buys_are_limited_per_user_over_the_websocket_and_http_paths_together(buying: Buying) -> None:
    buying.quotas = strict_quotas(buys=2.0)
    viewer = Conn(Identity("u1", VIEWER))
    assert (await buying.ws_buy(viewer, buy_cmd("q1")))["status"] == "ok"  # type: ignore[arg-type]
    assert (await buying.buy("u1", "s-buy", "q2", {}, None))["status"] == "limit_reached"  # the HTTP twin's call
    for call in (buying.ws_buy(viewer, buy_cmd("q3")), buying.buy("u1", "s-buy", "q4", {}, None)):  # type: ignore[arg-type]
        with pytest.raises(LivehubError) as exc:
            await call
        assert exc.value.code == errors.RATE_LIMITED and exc.value.retry_after_ms is not None
        assert exc.value.retry_after_ms > 0
        assert errors.error_body(exc.value, "q3")["retry_after_ms"] == exc.value.retry_after_ms
    assert (await buying.buy("u2", "s-buy", "q1", {}, None))["status"] == "ok"  # another user has their own bucket


async def test_a_rate_limited_buy_takes_no_stock_and_asks_redis_nothing(buying: Buying, stores: Stores) -> None:
    buying.quotas = strict_quotas(buys=1.0)
    await buying.buy("u1", "s-buy", "q1", {}, None)
    ran = counting_buy_scripts(stores)
    with pytest.raises(LivehubError):
        await buying.buy("u1", "s-buy", "q2", {}, None)
    assert ran == []


async def test_grabs_are_limited_per_user(buying: Buying) -> None:
    buying.quotas = strict_quotas(grabs=2.0)
    for _ in range(2):
        with pytest.raises(LivehubError) as exc:
            await buying.grab("u1", "c-none")
        assert exc.value.code == errors.NOT_FOUND
    with pytest.raises(LivehubError) as exc:
        await buying.grab("u1", "c-none")
    assert exc.value.code == errors.RATE_LIMITED and exc.value.retry_after_ms
    with pytest.raises(LivehubError) as exc:
        await buying.grab("u2", "c-none")
    assert exc.value.code == errors.NOT_FOUND


async def test_every_buy_and_grab_answer_is_counted_once_in_the_tally_where_it_is_made(
    buying: Buying, stores: Stores
) -> None:
    buying.quotas = strict_quotas(buys=2.0, grabs=1.0)
    buying.admission = Admission(probe_interval_s=3600.0)  # once sold out, the gate sheds
    tally = buying.tally
    first = await buying.buy("u1", "s-buy", "q1", {}, None)
    assert first["status"] == "ok"
    assert (await buying.buy("u1", "s-buy", "q1", {}, None))["status"] == "duplicate"
    assert (await buying.buy("u2", "s-buy", "q1", {}, None))["status"] == "ok"  # the last unit: sold out now
    assert (await buying.buy("u3", "s-buy", "q1", {}, None))["status"] == "sold_out"  # shed by the gate
    for call in (buying.buy("u1", "s-buy", "q2", {}, None), buying.buy("u4", "s-nope", "q1", {}, None),
                 buying.grab("u4", "no-coupon"), buying.grab("u4", "no-coupon")):  # fmt: skip
        with pytest.raises(LivehubError):
            await call

    assert {answer: n for answer, n in tally.buys.items() if n} == {
        "ok": 2, "duplicate": 1, "sold_out": 1, "rate_limited": 1, "not_found": 1}  # fmt: skip
    assert tally.admission_shed == {"busy": 0, "sold_out": 1}
    assert {answer: n for answer, n in tally.coupon_grabs.items() if n} == {"not_found": 1, "rate_limited": 1}
    assert (await buying.pay(first["reservation"], "ref-1"))["status"] == "paid"
    assert (await buying.pay(first["reservation"], "ref-1"))["status"] == "duplicate"  # not counted again
    assert (tally.orders, tally.gmv_cents) == (1, (await stores.sales.get_spec("s-buy")).price_cents)  # type: ignore[union-attr]
