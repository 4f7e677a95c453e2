"""HTTP routes of group buys (livehub.services.group_buying; who may call which: livehub.domain.access).

* ``POST /api/venues/{venue}/groupdeals`` - a host opens a deal (:func:`deal_draft`).
* ``GET /api/groups/{group}`` - a group and its deal (the join dialog; public).
* ``POST /api/groupdeals/{deal}/groups`` and ``POST /api/groups/{group}/join`` - a viewer starts
  or joins a group and pays with the demo's simulated payment (demo mode only, like the demo's
  reservation payment: ``DEMO_ROUTES``).
* ``POST /api/payments/groups`` - outside demo mode the payment provider, having charged the
  buyer, starts or joins for them (signed and timestamped like ``/api/payments/callback``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.attribution import attribute
from livehub.domain.group_rules import deal_of
from livehub.domain.ids import valid_request_id, valid_user_id
from livehub.protocol.commands import ident
from livehub.services.group_buying import DealDraft
from livehub.services.payments import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_payment
from livehub.web.http import (
    JSONResponse,
    body_int,
    body_opt_int,
    json_body,
    json_object,
    node_of,
    raw_body,
    venue_param,
    viewer_of,
)

MAX_PAYMENT_REF_CHARS = 128


def deal_draft(product: Any, body: dict[str, Any]) -> DealDraft:
    """{sku, group_size, group_price_cents?, groups, duration_s, group_ttl_s, deal_id?} (the sku resolved
    to ``product`` before)"""
    return DealDraft(
        product=product, deal_id=ident(body.get("deal_id"), "deal_id", required=False),
        group_size=body_int(body, "group_size", 2), group_price_cents=body_opt_int(body, "group_price_cents"),
        groups=body_int(body, "groups", 0), duration_s=body_int(body, "duration_s", 3600),
        group_ttl_s=body_int(body, "group_ttl_s", 600),
    )  # fmt: skip


async def open_deal(request: Request) -> Response:
    venue = venue_param(request)
    body = await json_body(request)
    node = node_of(request)
    draft = deal_draft(node.controls.product_of_venue(venue, body.get("sku")), body)
    return JSONResponse(await node.group_buying.open_deal(venue, draft), status_code=201)


def _request_id(body: dict[str, Any]) -> str:
    request_id = body.get("id")
    if not valid_request_id(request_id):
        raise errors.bad_request("'id' must be 1-64 printable ASCII characters", field="id")
    return str(request_id)


def _group_param(request: Request) -> str:
    group_id = request.path_params["group"]
    if deal_of(group_id) is None:
        raise errors.not_found(f"unknown group {errors.echo(group_id)}")
    return str(group_id)


async def get_group(request: Request) -> Response:
    return JSONResponse(await node_of(request).group_buying.group(_group_param(request)))


async def start_group(request: Request) -> Response:
    """Start a group of the deal, paid with the demo's simulated payment: {id} (``?guide=``)."""
    user = viewer_of(request)
    deal = ident(request.path_params["deal"], "deal")
    body = await json_body(request)
    node = node_of(request)
    guide = attribute(request.query_params.get("guide"), node.festival)
    out = await node.group_buying.start(user, deal, _request_id(body), None, guide.id if guide else None)
    return JSONResponse(out)


async def join_group(request: Request) -> Response:
    """Join a group, paid with the demo's simulated payment: {id} (``?guide=``)."""
    user = viewer_of(request)
    group_id = _group_param(request)
    body = await json_body(request)
    node = node_of(request)
    guide = attribute(request.query_params.get("guide"), node.festival)
    out = await node.group_buying.join(user, group_id, _request_id(body), None, guide.id if guide else None)
    return JSONResponse(out)


async def payment_groups(request: Request) -> Response:
    """The provider charged ``user`` the group price: ``{"action": "start", "deal": ...}`` or
    ``{"action": "join", "group": ...}``, with ``user``, ``id`` (the request id) and ``payment_ref``.
    A refused answer (``full``, ``expired``, ``already_member``, ``no_stock``, ``ended``): refund."""
    node = node_of(request)
    raw = await raw_body(request)
    s = node.settings
    verify_payment(s.payment_secret, raw, request.headers.get(SIGNATURE_HEADER),
                   request.headers.get(TIMESTAMP_HEADER), time.time(), s.payment_window_s)  # fmt: skip
    body = json_object(raw)
    user, ref, action = body.get("user"), body.get("payment_ref"), body.get("action")
    if not valid_user_id(user):
        raise errors.bad_request("'user' must be a user id", field="user")
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_PAYMENT_REF_CHARS:
        raise errors.bad_request(f"'payment_ref' must be 1-{MAX_PAYMENT_REF_CHARS} characters", field="payment_ref")
    request_id, groups = _request_id(body), node.group_buying
    if action == "start":
        return JSONResponse(await groups.start(str(user), ident(body.get("deal"), "deal"), request_id, ref, None))
    if action == "join":
        group_id = ident(body.get("group"), "group")
        if deal_of(group_id) is None:
            raise errors.not_found(f"unknown group {errors.echo(group_id)}")
        return JSONResponse(await groups.join(str(user), group_id, request_id, ref, None))
    raise errors.bad_request("'action' must be 'start' or 'join'", field="action")


ROUTES = [
    Route("/api/venues/{venue}/groupdeals", open_deal, methods=["POST"]),
    Route("/api/groups/{group}", get_group),
    Route("/api/payments/groups", payment_groups, methods=["POST"]),
]

DEMO_ROUTES = [
    Route("/api/groupdeals/{deal}/groups", start_group, methods=["POST"]),
    Route("/api/groups/{group}/join", join_group, methods=["POST"]),
]
