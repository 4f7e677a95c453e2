"""Lasting guide attribution on two real `livehub serve` processes sharing a real Redis: a viewer who
came through a guide's share code stays that guide's customer on reconnect, on the other node and on
another device, without ``?guide=``; a later code does not steal them.  (Cheap sales: the shared
servers' hourly leaderboard is another test's to top.)"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.client import Client
from livehub.config import load_festival
from livehub.domain.tokens import ANONYMOUS_VIEWER, HOST, VIEWER, Identity
from livehub.services.attribution import Attribution
from tests.conftest import SMALL_CONFIG, LivehubProcess, api, new_sale, viewer_token

pytestmark = pytest.mark.asyncio


async def buyer(server: LivehubProcess, user: str, guide: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user), venue="b1", guide=guide)
    await client.wait_for("snapshot")
    return client


async def bought_and_paid(server: LivehubProcess, client: Client, user: str, sale_id: str) -> dict[str, Any]:
    """Buy one unit over the websocket and pay it (demo payment): the order's answer."""
    answer = await client.request({"type": "buy", "id": uuid.uuid4().hex, "sale": sale_id, "qty": 1}, timeout=30)
    assert answer["status"] == "ok", answer
    status, paid = await api("POST", f"{server.http}/api/reservations/{answer['reservation']}/pay", {},
                             viewer_token(user))  # fmt: skip
    assert status == 200 and paid["status"] == "paid", paid
    return paid


async def test_attribution_survives_a_reconnect_without_the_code_on_either_node(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_server, stock=10, per_user_limit=5, price_cents=100)
    first = await buyer(livehub_server, user, guide="g-b1-2")  # came in through guide b1-g2's poster
    await first.close()
    for node in (livehub_server, livehub_peer):  # back later, no share code in the URL
        again = await buyer(node, user)
        try:
            assert (await bought_and_paid(node, again, user, sale["sale_id"]))["guide"] == "b1-g2"
        finally:
            await again.close()


async def test_attribution_holds_on_another_device_and_over_http_and_a_later_code_does_not_take_it(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_server, stock=10, per_user_limit=5, price_cents=100)
    phone = await buyer(livehub_server, user, guide="g-b1-3")
    tablet = await buyer(livehub_peer, user, guide="g-b1-4")  # another guide's code, later, elsewhere
    try:
        assert (await bought_and_paid(livehub_peer, tablet, user, sale["sale_id"]))["guide"] == "b1-g3"
        assert (await bought_and_paid(livehub_server, phone, user, sale["sale_id"]))["guide"] == "b1-g3"
    finally:
        await phone.close()
        await tablet.close()
    status, answer = await api("POST", f"{livehub_peer.http}/api/sales/{sale['sale_id']}/buy",
                               {"id": uuid.uuid4().hex, "qty": 1}, viewer_token(user))  # fmt: skip
    assert status == 200 and answer["status"] == "ok", answer
    status, paid = await api("POST", f"{livehub_peer.http}/api/reservations/{answer['reservation']}/pay", {},
                             viewer_token(user))  # fmt: skip
    assert status == 200 and paid["guide"] == "b1-g3"


async def test_a_viewer_who_never_presented_a_code_credits_nobody(livehub_peer: LivehubProcess) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_peer, stock=10, price_cents=100)
    client = await buyer(livehub_peer, user)
    try:
        assert (await bought_and_paid(livehub_peer, client, user, sale["sale_id"]))["guide"] is None
    finally:
        await client.close()


class RememberingStore:
    """A stand-in AttributionStore: first touch in a dict, or Redis down."""

    def __init__(self, down: bool = False) -> None:
        self.kept: dict[str, str] = {}
        self.down = down

    async def touch(self, user_id: str, guide_id: str) -> str:
        if self.down:
            raise RedisConnectionError("redis is down")
        return self.kept.setdefault(user_id, guide_id)

    async def lookup(self, user_id: str) -> str | None:
        if self.down:
            raise RedisConnectionError("redis is down")
        return self.kept.get(user_id)


def attribution(store: RememberingStore) -> Attribution:
    return Attribution(load_festival(SMALL_CONFIG), store)  # type: ignore[arg-type]


async def test_anonymous_viewers_and_hosts_are_attributed_for_the_session_only() -> None:
    store = RememberingStore()
    service = attribution(store)
    assert await service.guide_of(ANONYMOUS_VIEWER, "g-b1-1") == "b1-g1"
    assert await service.guide_of(Identity("host-b1", HOST, venue="b1"), "g-b1-1") == "b1-g1"
    assert store.kept == {}  # nothing remembered for them
    assert await service.guide_of(ANONYMOUS_VIEWER, None) is None


async def test_a_remembered_guide_the_festival_no_longer_has_gives_way_to_the_sessions_code() -> None:
    store = RememberingStore()
    store.kept["fan"] = "a-guide-who-left"
    service = attribution(store)
    fan = Identity("fan", VIEWER)
    assert await service.guide_of(fan, "g-b1-2") == "b1-g2"
    assert await service.guide_of(fan, None) is None


async def test_with_redis_down_the_sessions_own_code_still_counts() -> None:
    service = attribution(RememberingStore(down=True))
    assert await service.guide_of(Identity("fan", VIEWER), "g-b1-3") == "b1-g3"
    assert await service.guide_of(Identity("fan", VIEWER), None) is None
