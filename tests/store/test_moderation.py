"""The moderation state in Redis (livehub.store.moderation, moderate.lua): each action changes its
state, appends its audit entry and publishes its backplane message in one step; mutes and bans end
on time and are bounded; a retried request and a second delete of a comment change nothing."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis

from livehub.protocol.events import Volatile, decode_envelope
from livehub.store.keys import Keys
from livehub.store.moderation import Action, ModerationStore
from livehub.store.scripts import Scripts

CHANNEL = "mod:festival"


def store(redis: aioredis.Redis, keys: Keys, *, audit_max: int = 100, max_entries: int = 100) -> ModerationStore:
    return ModerationStore(redis, keys, Scripts(redis), channel=CHANNEL, audit_max=audit_max, max_entries=max_entries)


async def server_ms(redis: aioredis.Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def mute(user: str, ms: int = 60_000, venue: str = "b1", request_id: str | None = None) -> Action:
    return Action("mute", venue, user, "mod-1", "moderator", ms, request_id)


async def test_a_mute_is_in_the_state_until_it_ends_and_in_the_audit_log(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys)
    outcome = await mod.act(mute("u1", 60_000))

    assert outcome.status == "ok" and outcome.until_ms == outcome.at_ms + 60_000
    assert (await mod.load(outcome.at_ms)).mutes == {("b1", "u1"): outcome.until_ms}
    assert (await mod.load(outcome.until_ms)).mutes == {}  # over: not loaded
    [entry] = await mod.audit(10)
    assert entry == {"id": outcome.audit_id, "at": outcome.at_ms, "by": "mod-1", "role": "moderator",
                     "action": "mute", "venue": "b1", "target": "u1", "until": outcome.until_ms}  # fmt: skip


async def test_every_action_publishes_its_message_on_the_moderation_channel(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.pubsub(CHANNEL))
    try:
        ban = await mod.act(Action("ban", "", "u9", "host-main", "host", 5000))
        await mod.act(Action("slow", "b2", "b2", "mod-1", "moderator", 10))
        got: list[Volatile] = []
        async with asyncio.timeout(10):
            while len(got) < 2:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    item = decode_envelope(CHANNEL, msg["data"])
                    assert isinstance(item, Volatile)
                    got.append(item)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert got[0].message == {"action": "ban", "venue": "", "user": "u9", "until": ban.until_ms}
    assert got[1].message == {"action": "slow", "venue": "b2", "interval": 10}
    loaded = await mod.load(ban.at_ms)
    assert loaded.bans == {"u9": ban.until_ms} and loaded.slow == {"b2": 10}


async def test_lifting_a_mute_ban_and_slow_mode_removes_them(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys)
    await mod.act(mute("u1"))
    await mod.act(Action("ban", "", "u2", "m", "moderator", 60_000))
    await mod.act(Action("slow", "b1", "b1", "m", "moderator", 30))
    await mod.act(Action("unmute", "b1", "u1", "m", "moderator"))
    await mod.act(Action("unban", "", "u2", "m", "moderator"))
    last = await mod.act(Action("slow", "b1", "b1", "m", "moderator", 0))

    loaded = await mod.load(last.at_ms)
    assert (dict(loaded.mutes), dict(loaded.bans), dict(loaded.slow)) == ({}, {}, {})
    assert [e["action"] for e in await mod.audit(10)] == ["slow", "unban", "unmute", "slow", "ban", "mute"]


async def test_a_retried_request_is_done_once_and_answers_as_the_first(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys)
    first = await mod.act(mute("u1", 60_000, request_id="req-1"))
    again = await mod.act(mute("u1", 120_000, request_id="req-1"))

    assert again.status == "duplicate"
    assert (again.at_ms, again.until_ms, again.audit_id) == (first.at_ms, first.until_ms, first.audit_id)
    assert len(await mod.audit(10)) == 1
    assert (await mod.load(first.at_ms)).mutes[("b1", "u1")] == first.until_ms


async def test_a_comment_is_deleted_once_and_its_frame_goes_to_the_room(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys)
    frame = {"type": "comment.deleted", "venue": "b1", "id": "c1"}
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.pubsub("room:b1"))
    try:
        delete = Action("delete", "b1", "c1", "mod-1", "moderator")
        first = await mod.act(delete, room_channel="room:b1", frame=frame, frame_key="!dc1")
        second = await mod.act(delete, room_channel="room:b1", frame=frame, frame_key="!dc1")
        async with asyncio.timeout(10):
            msg = None
            while msg is None:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert (first.status, second.status) == ("ok", "duplicate")
    assert msg["data"] == b"V!dc1 " + orjson.dumps(frame)
    assert [e["target"] for e in await mod.audit(10)] == ["c1"]


async def test_mutes_beyond_the_limit_are_refused_until_one_ends(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys, max_entries=2)
    await mod.act(mute("u1", 60_000))
    await mod.act(mute("u2"))
    assert (await mod.act(mute("u1", 90_000))).status == "ok"  # a change of one in force: no new entry

    await redis.zadd(keys.moderation_mutes(), {"b1|u2": await server_ms(redis) - 1})  # u2's mute ends (now)
    assert (await mod.act(mute("u3"))).status == "ok"  # u2's mute ended: room for one
    full = await mod.act(mute("u4"))
    assert full.status == "full"
    assert set((await mod.load(full.at_ms)).mutes) == {("b1", "u1"), ("b1", "u3")}
    assert [e["target"] for e in await mod.audit(10)] == ["u3", "u1", "u2", "u1"]  # the refusal is not audited


async def test_the_audit_log_is_bounded(redis: aioredis.Redis, keys: Keys) -> None:
    mod = store(redis, keys, audit_max=10)
    for n in range(300):
        await mod.act(Action("slow", "b1", "b1", "m", "moderator", n % 5))
    length = await redis.xlen(keys.moderation_audit())
    assert length < 300  # trimmed (MAXLEN ~: about audit_max, in whole stream nodes)
    assert len(await mod.audit(1000)) == length
    assert (await mod.audit(1))[0]["interval"] == 299 % 5
