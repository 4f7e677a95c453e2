"""Moderation across nodes (livehub.services.moderation), end to end: two real ``livehub serve``
processes on one Redis, viewers on websockets, moderators and admins over HTTP.  An action taken
on one node takes effect on the other (the backplane), a node started later loads it from Redis,
and every action is in the audit log.

These servers are this module's own (same Redis, their own key prefix): bans, mutes and slow modes
are festival-wide state that must not reach the session's shared servers.  Their comment rate per
identity is lifted, so the only refusals a test meets are moderation's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from livehub import errors
from livehub.backplane.memory import MemoryBroker
from livehub.client import Client, ClientError, Closed
from livehub.domain.tokens import ADMIN, HOST, MODERATOR, VIEWER, Identity, mint
from livehub.domain.topology import Festival
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON
from livehub.services.moderation import CHANNEL, Moderation
from livehub.settings import Settings
from livehub.store.keys import Keys
from livehub.store.moderation import Action, ModerationStore
from livehub.store.scripts import Scripts
from tests.conftest import HUB_ENV, SECRET, LivehubProcess, api, host_token, running, viewer_token
from tests.fakes import FakeRaw, messages

ENV = {**HUB_ENV, "LIVEHUB_MODERATION_BLOCKED_WORDS": "spam, free money", "LIVEHUB_COMMENT_RATE": "1000",
       "LIVEHUB_COMMENT_BURST": "1000"}  # fmt: skip
B1_MODERATOR = mint(SECRET, "mod-b1", MODERATOR, venues=frozenset({"b1", "b2", "b3"}))
MAIN_MODERATOR = mint(SECRET, "mod-main", MODERATOR, venues=frozenset({"main"}))
ADMIN_TOKEN = mint(SECRET, "boss", ADMIN)
WAIT_S = 15.0


@pytest.fixture(scope="module")
def prefix_mod() -> str:
    return "mod" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def node_a(redis_url: str, prefix_mod: str) -> Iterator[LivehubProcess]:
    with running(redis_url, prefix_mod, ENV) as server:
        yield server


@pytest.fixture(scope="module")
def node_b(redis_url: str, prefix_mod: str, node_a: LivehubProcess) -> Iterator[LivehubProcess]:
    with running(redis_url, prefix_mod, ENV) as server:
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


def new_user() -> str:
    return "u-" + uuid.uuid4().hex[:8]


async def viewer(server: LivehubProcess, venue: str, opened: list[Client], user: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user or new_user()), venue=venue)
    opened.append(client)
    await client.wait_for("snapshot")
    return client


async def moderate(server: LivehubProcess, venue: str, action: str, body: dict[str, Any],
                   token: str = B1_MODERATOR) -> tuple[int, dict[str, Any]]:  # fmt: skip
    return await api("POST", f"{server.http}/api/venues/{venue}/moderation/{action}", body, token)


async def comment_error(client: Client, text: str = "hello") -> ClientError | None:
    try:
        await client.request({"type": "comment", "text": text})
    except ClientError as exc:
        return exc
    return None


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (generously) for ``check`` to hold: an action taken on one node reaches the other soon after."""
    for _ in range(int(WAIT_S / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {WAIT_S} s")


async def test_a_deleted_comment_is_removed_for_viewers_on_both_nodes(
    node_a: LivehubProcess, node_b: LivehubProcess, clients: list[Client]
) -> None:
    author = await viewer(node_a, "b1", clients)
    other = await viewer(node_b, "b1", clients)
    await author.request({"type": "comment", "text": "first!"})
    seen = await other.wait_for("comment", text="first!")
    assert isinstance(seen["id"], str) and seen["id"]

    status, answer = await moderate(node_b, "b1", "delete", {"comment": seen["id"]})
    assert status == 200 and answer["status"] == "ok", answer

    for client in (author, other):
        deleted = await client.wait_for("comment.deleted", timeout=WAIT_S)
        assert deleted == {"type": "comment.deleted", "venue": "b1", "id": seen["id"]}
    status, again = await moderate(node_a, "b1", "delete", {"comment": seen["id"]})
    assert status == 200 and again["status"] == "duplicate"  # deleted once: no second frame, no second entry


async def test_a_muted_viewer_cannot_comment_in_that_room_on_any_node_until_unmuted(
    node_a: LivehubProcess, node_b: LivehubProcess, clients: list[Client]
) -> None:
    user = new_user()
    in_b1 = await viewer(node_b, "b1", clients, user)
    in_b2 = await viewer(node_b, "b2", clients, user)

    status, answer = await moderate(node_a, "b1", "mute", {"user": user, "duration_s": 600, "id": "m-1"})
    assert status == 200 and answer["until"] == answer["at"] + 600_000, answer
    await until(lambda: _refused(in_b1, errors.FORBIDDEN))
    refused = await comment_error(in_b1)
    assert refused is not None and refused.frame["details"]["until"] == answer["until"]
    assert await comment_error(in_b2) is None  # a mute is per room

    status, _ = await moderate(node_a, "b1", "unmute", {"user": user})
    assert status == 200
    await until(lambda: _accepted(in_b1))


async def _refused(client: Client, code: str) -> bool:
    exc = await comment_error(client)
    return exc is not None and exc.code == code


async def _accepted(client: Client) -> bool:
    return await comment_error(client) is None


async def test_a_ban_closes_the_users_connections_on_every_node_and_refuses_them_until_lifted(
    redis_url: str, prefix_mod: str, node_a: LivehubProcess, node_b: LivehubProcess, clients: list[Client]
) -> None:
    user = new_user()
    on_a = await viewer(node_a, "b1", clients, user)
    on_b = await viewer(node_b, "main", clients, user)

    status, answer = await moderate(node_b, "main", "ban", {"user": user, "duration_s": 3600}, MAIN_MODERATOR)
    assert status == 200 and answer["venue"] is None and answer["until"] == answer["at"] + 3_600_000, answer

    for client in (on_a, on_b):
        with pytest.raises(Closed) as closed:
            while True:
                await client.next(timeout=WAIT_S)
        assert closed.value.code == errors.CLOSE_BANNED
    for server in (node_a, node_b):
        with pytest.raises(Closed) as refused:
            await Client.connect(server.ws, viewer_token(user), venue="b1")
        assert refused.value.code == errors.CLOSE_BANNED
    status, body = await api("POST", f"{node_a.http}/api/sales/no-sale/buy", {"id": "r1"}, viewer_token(user))
    assert (status, body["code"]) == (403, errors.FORBIDDEN)

    with running(redis_url, prefix_mod, ENV) as later:  # a node started after the ban has it from Redis
        with pytest.raises(Closed) as refused:
            await Client.connect(later.ws, viewer_token(user), venue="b1")
        assert refused.value.code == errors.CLOSE_BANNED

    status, _ = await moderate(node_a, "main", "unban", {"user": user}, host_token())
    assert status == 200

    async def may_connect() -> bool:
        try:
            clients.append(await Client.connect(node_b.ws, viewer_token(user), venue="b1"))
        except Closed:
            return False
        return True

    await until(may_connect)


async def test_bans_are_festival_wide_from_the_main_venue_by_its_moderators_and_host(
    node_a: LivehubProcess,
) -> None:
    status, body = await moderate(node_a, "b1", "ban", {"user": new_user()}, host_token("host-b1", "b1"))
    assert (status, body["code"]) == (400, errors.BAD_REQUEST)
    status, body = await moderate(node_a, "main", "ban", {"user": new_user()}, B1_MODERATOR)
    assert (status, body["code"]) == (403, errors.FORBIDDEN)


async def test_slow_mode_lets_each_viewer_comment_once_per_interval_on_every_node(
    node_a: LivehubProcess, node_b: LivehubProcess, clients: list[Client]
) -> None:
    chatty = await viewer(node_b, "b3", clients)
    other = await viewer(node_b, "b3", clients)
    status, answer = await moderate(node_a, "b3", "slow", {"interval_s": 300})
    assert status == 200 and answer["interval_s"] == 300
    try:
        await until(lambda: _refused(chatty, errors.RATE_LIMITED))  # its first comment passed, then slowed
        refused = await comment_error(chatty)
        assert refused is not None and refused.frame["retry_after_ms"] > 1000
        assert await comment_error(other) is None  # everyone has their own interval
    finally:
        status, _ = await moderate(node_a, "b3", "slow", {"interval_s": 0})
        assert status == 200
    await until(lambda: _accepted(chatty))


async def test_a_comment_with_a_blocked_word_is_refused_and_never_shown(
    node_a: LivehubProcess, node_b: LivehubProcess, clients: list[Client]
) -> None:
    author = await viewer(node_a, "b2", clients)
    watcher = await viewer(node_b, "b2", clients)

    refused = await comment_error(author, "get FREE MONEY here")
    assert refused is not None and refused.code == errors.BAD_REQUEST
    assert refused.frame["details"]["field"] == "text"
    await author.request({"type": "comment", "text": "a clean one"})
    first = await watcher.wait_for("comment")
    assert first["text"] == "a clean one"


async def test_every_action_is_in_the_audit_log_for_admins(node_a: LivehubProcess, node_b: LivehubProcess) -> None:
    user = new_user()
    await moderate(node_a, "b2", "mute", {"user": user, "duration_s": 60})
    await moderate(node_b, "b2", "unmute", {"user": user})

    status, body = await api("GET", f"{node_b.http}/api/moderation/audit?count=1000", token=ADMIN_TOKEN)
    assert status == 200
    mine = [e for e in body["entries"] if e["target"] == user]
    assert [(e["action"], e["by"], e["role"], e["venue"]) for e in mine] == [
        ("unmute", "mod-b1", MODERATOR, "b2"), ("mute", "mod-b1", MODERATOR, "b2")]  # fmt: skip
    assert mine[0]["at"] >= mine[1]["at"] and mine[1]["until"] == mine[1]["at"] + 60_000
    status, body = await api("GET", f"{node_b.http}/api/moderation/audit", token=B1_MODERATOR)
    assert status == 403


@pytest.mark.parametrize(("action", "body", "field"), [
    ("mute", {"user": "u1", "duration_s": 0}, None), ("mute", {"user": "has space"}, "user"),
    ("slow", {"interval_s": "5"}, None), ("delete", {}, None), ("explode", {}, "action"),
    ("mute", {"user": "u1", "id": "has space"}, "id"),
])  # fmt: skip
async def test_bad_moderation_requests_are_400_naming_the_field(
    node_a: LivehubProcess, action: str, body: dict[str, Any], field: str | None
) -> None:
    status, answer = await moderate(node_a, "b1", action, body)
    assert (status, answer["code"]) == (400, errors.BAD_REQUEST), answer
    if field is not None:
        assert answer["details"]["field"] == field


# ---- one node's view, without processes: the reload catches what the backplane did not bring ----
async def test_a_node_that_missed_a_ban_message_closes_the_users_connections_at_its_next_reload(
    redis: aioredis.Redis, keys: Keys, festival: Festival
) -> None:
    hub = Hub(Stats())
    broker = MemoryBroker()  # sees nothing moderate.lua publishes on Redis: as if this node missed it
    store = ModerationStore(redis, keys, Scripts(redis), channel=CHANNEL, audit_max=100, max_entries=100)
    moderation = Moderation(Settings(), festival, hub, broker, store)
    raws = {name: FakeRaw() for name in ("banned", "other", "host")}
    identities = {"banned": Identity("u-bad", VIEWER), "other": Identity("u-ok", VIEWER),
                  "host": Identity("u-bad", HOST, "b1")}  # a host whose id is the banned one's: exempt  # fmt: skip
    for name, raw in raws.items():
        hub.add(Connection(name, JSON, CODECS.index(JSON), identities[name], raw, 1 << 20, hub.stats))
    await broker.start(lambda channel, item: None)
    await moderation.refresh()

    await store.act(Action("ban", "", "u-bad", "mod-main", MODERATOR, 60_000))
    assert raws["banned"].closes == []  # no message reached this node
    await moderation.refresh()

    assert raws["banned"].close_codes == [errors.CLOSE_BANNED]
    assert messages(raws["banned"].data)[-1]["code"] == errors.FORBIDDEN
    assert raws["other"].closes == [] and raws["host"].closes == []
    assert moderation.banned(identities["banned"]) and not moderation.banned(identities["host"])
    await moderation.refresh()
    assert raws["banned"].close_codes == [errors.CLOSE_BANNED]  # closed once, not at every reload
