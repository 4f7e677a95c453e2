"""Demo-mode routes: a guest login, a guide login and the simulated payment (mounted only when
``demo`` is on).

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
from livehub.domain.tokens import GUIDE, VIEWER, mint
from livehub.web.http import JSONResponse, json_body, node_of, viewer_of


async def auth_guest(request: Request) -> Response:
    """A viewer token for a fresh guest id (the demo's stand-in for the platform's login)."""
    node = node_of(request)
    user = "guest-" + secrets.token_hex(6)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s),
                         "user": user})  # fmt: skip


async def auth_guide(request: Request) -> Response:
    """{guide}: a guide token for one of the festival's guides (the demo's stand-in for the guides' login)."""
    node = node_of(request)
    guide = (await json_body(request)).get("guide")
    if not isinstance(guide, str) or guide not in node.festival.guides:
        raise errors.bad_request("'guide' must be one of the festival's guides", field="guide")
    token = mint(node.settings.secret, "guide-" + guide, GUIDE, guide=guide, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "guide": guide})


async def pay_reservation(request: Request) -> Response:
    """The demo's simulated payment: the buyer pays their own reservation."""
    user = viewer_of(request)
    rid = request.path_params["reservation"]
    return JSONResponse(await node_of(request).buying.pay(rid, "demo-" + user, user=user))


routes = [
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/guide", auth_guide, methods=["POST"]),
    Route("/api/reservations/{reservation}/pay", pay_reservation, methods=["POST"]),
]
