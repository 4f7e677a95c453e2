"""Demo-mode routes: a guest login, a store staff login and the simulated payment (mounted only when
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

from livehub.domain.roles import store_or_404
from livehub.domain.tokens import STAFF, VIEWER, mint
from livehub.protocol.commands import ident
from livehub.web.http import JSONResponse, json_body, node_of, viewer_of


async def auth_guest(request: Request) -> Response:
    """A viewer token for a fresh guest id (the demo's stand-in for the platform's login)."""
    node = node_of(request)
    user = "guest-" + secrets.token_hex(6)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s),
                         "user": user})  # fmt: skip


async def auth_staff(request: Request) -> Response:
    """{store}: a staff token of that store for a fresh clerk id (the demo's stand-in for the shop's login)."""
    node = node_of(request)
    store = store_or_404(node.festival, ident((await json_body(request)).get("store"), "store"))
    user = "clerk-" + secrets.token_hex(4)
    token = mint(node.settings.secret, user, STAFF, store=store.id, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "user": user, "store": store.id})


async def pay_reservation(request: Request) -> Response:
    """The demo's simulated payment: the buyer pays their own reservation."""
    user = viewer_of(request)
    rid = request.path_params["reservation"]
    return JSONResponse(await node_of(request).buying.pay(rid, "demo-" + user, user=user))


routes = [
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/staff", auth_staff, methods=["POST"]),
    Route("/api/reservations/{reservation}/pay", pay_reservation, methods=["POST"]),
]
