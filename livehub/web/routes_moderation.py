"""HTTP routes of moderation (``Authorization: Bearer <moderator or host token>``; who may call
which: the role table, livehub.domain.access): ``POST /api/venues/{venue}/moderation/{action}``
for every action, and the audit log for admins.  Bodies are parsed here; livehub.services.moderation
acts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.ids import valid_request_id, valid_user_id
from livehub.domain.moderation import ACTIONS, BAN, DELETE, MAX_SLOW_INTERVAL_S, MUTE, SLOW
from livehub.protocol.commands import ident, integer
from livehub.web.http import JSONResponse, bearer, json_body, node_of, query_int, venue_param

DEFAULT_MUTE_S = 600


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    if not valid_user_id(user):
        raise errors.bad_request("'user' must be a user id (1-64 printable characters, no spaces)", field="user")
    assert isinstance(user, str)
    return user


def _request_id(body: dict[str, Any]) -> str | None:
    rid = body.get("id")
    if rid is not None and not valid_request_id(rid):
        raise errors.bad_request("'id' must be 1-64 printable ASCII characters without spaces", field="id")
    return rid


async def moderate(request: Request) -> Response:
    """One action: ``delete`` {comment}, ``mute`` {user, duration_s?}, ``unmute`` {user}, ``ban``
    {user, duration_s?} and ``unban`` {user} (main venue only), ``slow`` {interval_s} (0: off);
    each with an optional ``id`` (a retry with the same id is done once)."""
    venue = venue_param(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise errors.bad_request(f"unknown moderation action {errors.echo(action)}", field="action",
                                 known=list(ACTIONS))  # fmt: skip
    node = node_of(request)
    body = await json_body(request)
    longest = node.settings.moderation_max_duration_s
    amount = 0
    if action == DELETE:
        target = ident(body.get("comment"), "comment")
    elif action == SLOW:
        target = venue
        amount = integer(body.get("interval_s"), "interval_s", 0, MAX_SLOW_INTERVAL_S)
    else:
        target = _user(body)
        if action in (MUTE, BAN):
            default = DEFAULT_MUTE_S if action == MUTE else longest
            amount = integer(body.get("duration_s", default), "duration_s", 1, longest)
    answer = await node.moderation.act(bearer(request), venue, action, target, amount, _request_id(body))
    return JSONResponse(answer)


async def audit(request: Request) -> Response:
    """The latest moderation actions, newest first (``?count=``, at most 1000): who, what, when."""
    count = query_int(request, "count", 100, 1, 1000)
    return JSONResponse({"entries": await node_of(request).moderation.audit(count)})


routes = [
    Route("/api/venues/{venue}/moderation/{action}", moderate, methods=["POST"]),
    Route("/api/moderation/audit", audit),
]
