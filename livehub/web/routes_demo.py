"""Demo-mode routes: guest, moderator, guide and store staff logins and the simulated payments (mounted
only when ``demo`` is on).

They stand in for the platform's login and the payment provider so that ``./scripts/run``
works with no set-up.  Outside demo mode livehub.app does not mount them (they answer 404):
anyone could get unlimited fresh identities and any buyer could mark their own order paid.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.roles import store_or_404
from livehub.domain.tokens import GUIDE, MAX_VENUES, MODERATOR, STAFF, VIEWER, mint
from livehub.protocol.commands import ident
from livehub.web.http import JSONResponse, json_body, node_of, viewer_of
from livehub.web.openapi import Param, declare


@declare(answers={200: "{token, user}"})
async def auth_guest(request: Request) -> Response:
    """A viewer token for a fresh guest id (the demo's stand-in for the platform's login)."""
    node = node_of(request)
    user = "guest-" + secrets.token_hex(6)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s),
                         "user": user})  # fmt: skip


@declare(answers={200: "{token, user, role, venues}"})
async def auth_moderator(request: Request) -> Response:
    """A moderator token for a fresh demo moderator id (``/watch?moderate=1``): of the main venue
    and the first brand venues, as many as a token names (``MAX_VENUES``)."""
    node = node_of(request)
    user = "mod-guest-" + secrets.token_hex(6)
    main = node.festival.main_venue
    venues = frozenset([main, *[v for v in node.festival.venues if v != main][: MAX_VENUES - 1]])
    token = mint(node.settings.secret, user, MODERATOR, ttl_s=node.settings.token_ttl_s, venues=venues)
    return JSONResponse({"token": token, "user": user, "role": MODERATOR, "venues": sorted(venues)})


@declare(answers={200: "{token, guide}"})
async def auth_guide(request: Request) -> Response:
    """{guide}: a guide token for one of the festival's guides (the demo's stand-in for the guides' login)."""
    node = node_of(request)
    guide = (await json_body(request)).get("guide")
    if not isinstance(guide, str) or guide not in node.festival.guides:
        raise errors.bad_request("'guide' must be one of the festival's guides", field="guide")
    token = mint(node.settings.secret, "guide-" + guide, GUIDE, guide=guide, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "guide": guide})


@declare(answers={200: "{token, user, store}"})
async def auth_staff(request: Request) -> Response:
    """{store}: a staff token of that store for a fresh clerk id (the demo's stand-in for the shop's login)."""
    node = node_of(request)
    store = store_or_404(node.festival, ident((await json_body(request)).get("store"), "store"))
    user = "clerk-" + secrets.token_hex(4)
    token = mint(node.settings.secret, user, STAFF, store=store.id, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "user": user, "store": store.id})


@declare(
    path={"reservation": Param("string", "the buyer's own reservation")},
    answers={200: "{status: paid | duplicate | expired, reservation, order?}"},
)
async def pay_reservation(request: Request) -> Response:
    """The demo's simulated payment: the buyer pays their own reservation."""
    user = viewer_of(request)
    rid = request.path_params["reservation"]
    return JSONResponse(await node_of(request).buying.pay(rid, "demo-" + user, user=user))


@declare(path={"deposit": Param("string", "the buyer's own pre-sale deposit")},
         answers={200: "the deposit's state after the payment"})
async def pay_deposit(request: Request) -> Response:
    """The demo's simulated payment of a pre-sale deposit's stage now due (deposit, then balance)."""
    user = viewer_of(request)
    deposit = request.path_params["deposit"]
    return JSONResponse(await node_of(request).presales.pay(deposit, "demo-" + user, user=user))


routes = [
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/moderator", auth_moderator, methods=["POST"]),
    Route("/api/auth/guide", auth_guide, methods=["POST"]),
    Route("/api/auth/staff", auth_staff, methods=["POST"]),
    Route("/api/reservations/{reservation}/pay", pay_reservation, methods=["POST"]),
    Route("/api/deposits/{deposit}/pay", pay_deposit, methods=["POST"]),
]
