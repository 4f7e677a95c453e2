"""The role table (livehub.domain.access) against a real ``livehub serve``: the mounted routes and
the parsed command types match it exactly, and every route and every websocket command, called
with every role, is allowed or refused as written here.

Refusals: no token or a wrong one is 401 ``unauthorized``, a valid token without the role 403
``forbidden``; on the websocket a wrong token closes with 4001, and a command the role may not
send gets an error frame (``unauthorized`` for an anonymous viewer, ``forbidden`` otherwise) and
the connection stays.  An allowed call gets whatever the handler answers (here mostly 400/404:
the bodies are chosen so nothing is really created), never 401 or 403.  Routes that read no
token (public, the payment callback) answer every caller the same, a wrong token included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.routing import Mount, Route, WebSocketRoute

from livehub import errors
from livehub.app import create_app
from livehub.client import Client, ClientError, Closed
from livehub.config import load_festival
from livehub.domain import access
from livehub.domain.tokens import ADMIN, GUIDE, HOST, MODERATOR, STAFF, mint
from livehub.protocol.commands import CLIENT_TYPES
from livehub.settings import Settings
from livehub.web.http import guard_routes
from tests.conftest import SECRET, LivehubProcess, http_json, running
from tests.runtime.test_jwks import JwksServer, jwk

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"

TOKENS: dict[str, str | None] = {
    "anonymous": None,
    "wrong_key": mint("not-the-festival-secret-at-all!!", "u-x"),
    "viewer": mint(SECRET, "u-viewer"),
    "main_host": mint(SECRET, "host-main", HOST, venue="main"),
    "b1_host": mint(SECRET, "host-b1", HOST, venue="b1"),
    "b1_moderator": mint(SECRET, "mod-1", MODERATOR, venues=frozenset({"b1"})),
    "b1_guide": mint(SECRET, "g-user", GUIDE, guide="b1-g1"),
    "b1_s1_staff": mint(SECRET, "clerk-1", STAFF, store="b1-s1"),
    "admin": mint(SECRET, "boss", ADMIN),
}
HOSTS = {"main_host", "b1_host"}
SIGNED_IN = {"viewer", "b1_moderator", "b1_guide", "b1_s1_staff", "admin"} | HOSTS
BUYERS = SIGNED_IN - HOSTS
B1_S1_STAFF = {"b1_s1_staff"}
B1_S1_READERS = B1_S1_STAFF | HOSTS | {"admin"}  # a store's staff, its brand's host, the main host, an admin
SAME = None  # a route that reads no token: every caller gets the same answer

# (method, path template, the request's path, body, the roles allowed): one line per table entry.
HTTP_CALLS: list[tuple[str, str, str, Any, set[str] | None]] = [
    ("GET", "/healthz", "/healthz", None, SAME),
    ("GET", "/readyz", "/readyz", None, SAME),
    ("GET", "/metrics", "/metrics", None, SAME),
    ("GET", "/api/festival", "/api/festival", None, SAME),
    ("GET", "/api/venues/{venue}", "/api/venues/b1", None, SAME),
    ("GET", "/api/sales/{sale}", "/api/sales/no-such-sale", None, SAME),
    ("GET", "/api/guides/leaderboard", "/api/guides/leaderboard", None, SAME),
    ("GET", "/", "/", None, SAME),
    ("GET", "/panel", "/panel", None, SAME),
    ("GET", "/watch", "/watch", None, SAME),
    ("GET", "/static", "/static/style.css", None, SAME),
    ("POST", "/api/auth/host", "/api/auth/host", {"host": "host-b1", "key": "wrong"}, SAME),
    ("POST", "/api/auth/guest", "/api/auth/guest", {}, SAME),
    ("POST", "/api/auth/staff", "/api/auth/staff", {"store": "nowhere"}, SAME),
    ("POST", "/api/payments/callback", "/api/payments/callback", {"reservation": "r"}, SAME),
    ("POST", "/api/auth/token", "/api/auth/token", {"user": "u-minted"}, {"admin"}),
    ("POST", "/api/venues/{venue}/events", "/api/venues/b1/events", {"kind": 7}, HOSTS),
    ("POST", "/api/venues/{venue}/cta", "/api/venues/main/cta", {}, {"main_host"}),
    ("POST", "/api/venues/{venue}/cohost", "/api/venues/main/cohost", {}, {"main_host"}),
    ("DELETE", "/api/venues/{venue}/cohost", "/api/venues/main/cohost", None, {"main_host"}),
    ("POST", "/api/venues/{venue}/cards", "/api/venues/b1/cards", {}, HOSTS),
    ("DELETE", "/api/venues/{venue}/cards", "/api/venues/b1/cards", None, HOSTS),
    ("POST", "/api/venues/{venue}/sales", "/api/venues/b1/sales", {"sku": "nope"}, HOSTS),
    ("POST", "/api/venues/{venue}/sales/{sale}/{action}", "/api/venues/b1/sales/no-sale/start", None, HOSTS),
    ("POST", "/api/venues/{venue}/coupons", "/api/venues/b1/coupons", {"total": "x"}, HOSTS),
    ("GET", "/api/stores/{store}/orders", "/api/stores/b1-s1/orders", None, B1_S1_STAFF | HOSTS | {"admin"}),
    ("GET", "/api/guides/me", "/api/guides/me", None, {"b1_guide"}),
    ("GET", "/api/stores/{store}/pickups", "/api/stores/b1-s1/pickups", None, B1_S1_READERS),
    ("POST", "/api/stores/{store}/pickups/{code}", "/api/stores/b1-s1/pickups/22AA", None, B1_S1_READERS),
    ("GET", "/api/stores/{store}/stock", "/api/stores/b1-s1/stock", None, B1_S1_READERS),
    ("POST", "/api/stores/{store}/stock", "/api/stores/b1-s1/stock", {"sku": "nope"}, B1_S1_STAFF | {"admin"}),
    ("GET", "/store", "/store", None, SAME),
    ("GET", "/api/me/orders", "/api/me/orders", None, BUYERS),
    ("POST", "/api/sales/{sale}/buy", "/api/sales/no-sale/buy", {"id": "r1", "qty": 1}, BUYERS),
    ("POST", "/api/coupons/{coupon}/grab", "/api/coupons/no-coupon/grab", None, BUYERS),
    ("POST", "/api/reservations/{reservation}/pay", "/api/reservations/no-reservation/pay", None, BUYERS),
]

# (command, its frame, the roles allowed) -- sent after joining b1
WS_CALLS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("ping", {}, set(TOKENS) - {"wrong_key"}),
    ("like", {"n": 1}, set(TOKENS) - {"wrong_key"}),
    ("comment", {"text": "hello"}, SIGNED_IN),
    ("signal", {"to": "host-b2", "data": {"sdp": "x"}}, HOSTS),
    ("buy", {"sale": "no-sale", "qty": 1}, BUYERS),
    ("coupon.grab", {"coupon": "no-coupon"}, BUYERS),
    ("orders", {}, BUYERS),
    ("leave", {}, set(TOKENS) - {"wrong_key"}),
    ("join", {"venue": "b2"}, set(TOKENS) - {"wrong_key"}),
]


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[LivehubProcess]:
    # demo mode: the walk covers the demo routes too; every role tries the host login (more than one
    # login limiter burst from 127.0.0.1)
    env = {"LIVEHUB_DEMO": "1", "LIVEHUB_HOST_LOGIN_BURST": "1000"}
    with running(redis_url, "acl" + uuid.uuid4().hex[:8], env) as process:
        yield process


def call(server: LivehubProcess, method: str, path: str, body: Any, token: str | None) -> tuple[int, str | None]:
    """The status and error code (None for a success or a non-JSON page)."""
    if path.startswith("/api/"):
        status, out = http_json(method, server.http + path, body, token)
        return status, out.get("code") if out.get("type") == "error" else None
    request = urllib.request.Request(server.http + path, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def mounted_routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings, load_festival(SMALL))
    mounted = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            mounted.add((access.WEBSOCKET, route.path))
        elif isinstance(route, Mount):
            mounted.add(("GET", route.path))
        elif isinstance(route, Route):
            mounted |= {(method, route.path) for method in (route.methods or {"GET"}) - {"HEAD"}}
    return mounted


def test_the_mounted_routes_and_the_table_match_exactly() -> None:
    demo = mounted_routes(Settings(config_path=str(SMALL), demo=True))
    secure = mounted_routes(Settings(config_path=str(SMALL), secret="a-proper-token-secret-0123",
                                     payment_secret="a-proper-payment-secret-0123"))  # fmt: skip
    always = {key for key, rule in access.HTTP.items() if not rule.demo_only}

    assert demo == set(access.HTTP), "in demo mode every table entry is mounted, and nothing else"
    assert secure == always, "outside demo mode exactly the entries that are not demo-only"


def test_an_app_with_a_route_the_table_does_not_name_is_refused_when_built() -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError("never served")

    with pytest.raises(LookupError, match="/api/unlisted"):
        guard_routes([Route("/api/unlisted", endpoint, methods=["POST"])])
    with pytest.raises(LookupError, match="/files"):
        guard_routes([Mount("/files", routes=[])])


def test_the_websocket_table_and_the_command_parser_name_the_same_types() -> None:
    assert set(access.WS) == set(CLIENT_TYPES)


def test_this_walk_covers_every_entry_of_the_table() -> None:
    walked = {(method, template) for method, template, *_ in HTTP_CALLS} | {(access.WEBSOCKET, "/ws")}

    assert walked == set(access.HTTP)
    assert {kind for kind, _, _ in WS_CALLS} == set(access.WS)


@pytest.mark.parametrize(("method", "template", "path", "body", "allowed"), HTTP_CALLS,
                         ids=[f"{m} {t}" for m, t, *_ in HTTP_CALLS])  # fmt: skip
def test_every_http_route_allows_and_refuses_every_role_as_the_table_says(
    server: LivehubProcess, method: str, template: str, path: str, body: Any, allowed: set[str] | None
) -> None:
    answers = {role: call(server, method, path, body, token) for role, token in TOKENS.items()}

    if allowed is SAME:
        assert len(set(answers.values())) == 1, answers
        return
    for role, (status, code) in answers.items():
        if role in allowed:
            assert status not in (401, 403) and status < 500, (role, status, code)
        elif role in ("anonymous", "wrong_key"):
            assert (status, code) == (401, errors.UNAUTHORIZED), role
        else:
            assert (status, code) == (403, errors.FORBIDDEN), role


async def test_a_wrong_token_closes_the_websocket_with_4001(server: LivehubProcess) -> None:
    with pytest.raises(Closed) as closed:
        client = await Client.connect(server.ws, TOKENS["wrong_key"] or "", venue="b1")
        await client.next()

    assert closed.value.code == errors.CLOSE_UNAUTHORIZED


async def test_an_anonymous_viewer_joins_and_receives_without_a_token(server: LivehubProcess) -> None:
    client = await Client.connect(server.ws, "", venue="b1")
    try:
        snapshot = await client.wait_for("snapshot")
        assert client.welcome["role"] == "anonymous" and client.welcome["user"] == ""
        assert snapshot["venue"] == "b1"
    finally:
        await client.close()


@pytest.mark.parametrize("role", sorted(set(TOKENS) - {"wrong_key"}))
async def test_every_websocket_command_allows_and_refuses_the_role_as_the_table_says(
    server: LivehubProcess, role: str
) -> None:
    client = await Client.connect(server.ws, TOKENS[role] or "", venue="b1")
    try:
        await client.wait_for("snapshot")
        for kind, frame, allowed in WS_CALLS:
            try:
                await client.request({"type": kind, **frame})
                code = None
            except ClientError as exc:
                code = exc.code
            if role in allowed:
                assert code not in (errors.UNAUTHORIZED, errors.FORBIDDEN), (kind, code)
            else:
                assert code == (errors.UNAUTHORIZED if role == "anonymous" else errors.FORBIDDEN), kind
        assert (await client.request({"type": "ping"}))["server_time"] > 0  # refusals leave the connection open
    finally:
        await client.close()


# ---- a platform's login: RS256 tokens verified with its JWKS (served on 127.0.0.1) --------------------------------

PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISSUER = "https://login.example"


def platform_token(key: Any = PLATFORM_KEY, kid: str = "p1", **claims: Any) -> str:
    body = {"sub": "wx-openid-1", "exp": int(time.time()) + 600, "iss": ISSUER, "aud": "livehub", **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def hs_over_public_key(claims: dict[str, Any]) -> str:
    """HS/RS confusion: an HMAC whose key is the platform's (public) PEM."""
    public_pem = PLATFORM_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(orjson.dumps({'alg': 'HS256', 'kid': 'p1'}))}.{b64(orjson.dumps(claims))}"
    return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def platform_server(redis_url: str) -> Iterator[LivehubProcess]:
    with JwksServer() as jwks:
        jwks.keys = [jwk(PLATFORM_KEY, "p1")]
        env = {"LIVEHUB_JWT_ALGORITHM": "RS256", "LIVEHUB_JWT_JWKS_URL": jwks.url, "LIVEHUB_JWT_ISSUER": ISSUER,
               "LIVEHUB_JWT_AUDIENCE": "livehub"}  # fmt: skip
        with running(redis_url, "plat" + uuid.uuid4().hex[:8], env) as process:
            yield process


async def test_a_platform_token_from_the_jwks_signs_in_on_the_websocket_and_over_http(
    platform_server: LivehubProcess,
) -> None:
    client = await Client.connect(platform_server.ws, platform_token(), venue="b1")
    try:
        assert (client.welcome["user"], client.welcome["role"]) == ("wx-openid-1", "viewer")
        with pytest.raises(ClientError) as answer:
            await client.request({"type": "buy", "id": "b1", "sale": "no-sale", "qty": 1})
        assert answer.value.code == errors.NOT_FOUND  # allowed: the sale does not exist
    finally:
        await client.close()
    admin = platform_token(role="admin")
    status, _ = http_json("POST", platform_server.http + "/api/auth/token", {"user": "u2"}, admin)
    assert status == 200


def test_livehubs_own_host_tokens_still_drive_venues_next_to_a_platform_login(platform_server: LivehubProcess) -> None:
    status, _ = http_json("DELETE", platform_server.http + "/api/venues/b1/cards", None, TOKENS["b1_host"])

    assert status == 200


@pytest.mark.parametrize("token", [
    platform_token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),  # forged: another key, same kid
    platform_token(exp=int(time.time()) - 3600),  # expired, far beyond the leeway
    platform_token(kid="p-unknown"),  # a kid the JWKS does not have
    platform_token(aud="another-service"),
    jwt.encode({"sub": "wx-1", "exp": 4_000_000_000, "role": "admin"}, None, algorithm="none"),  # alg none
    hs_over_public_key({"sub": "wx-1", "exp": 4_000_000_000, "role": "admin", "iss": ISSUER, "aud": "livehub"}),
    mint("not-the-festival-secret-at-all!!", "u1"),  # wrong key for livehub's own kid
], ids=["forged", "expired", "unknown-kid", "wrong-audience", "alg-none", "hs-rs-confusion",
        "wrong-secret"])  # fmt: skip
async def test_bad_platform_tokens_are_refused_with_401_and_close_4001(
    platform_server: LivehubProcess, token: str
) -> None:
    status, out = http_json("POST", platform_server.http + "/api/sales/no-sale/buy", {"id": "r", "qty": 1}, token)
    assert (status, out["code"]) == (401, errors.UNAUTHORIZED)
    with pytest.raises(Closed) as closed:
        client = await Client.connect(platform_server.ws, token, venue="b1")
        await client.next()
    assert closed.value.code == errors.CLOSE_UNAUTHORIZED


def test_a_guide_gets_their_own_share_code_link_and_figures(server: LivehubProcess) -> None:
    status, me = http_json("GET", server.http + "/api/guides/me", None, TOKENS["b1_guide"])

    assert status == 200
    assert (me["guide"], me["share_code"], me["link"]) == ("b1-g1", "g-b1-1", "/watch?guide=g-b1-1")
    assert me["sales_cents"] == me["commission_cents"] == 0 and me["rank"] is None  # no orders in this prefix


def test_an_admin_mints_a_staff_token_that_reads_its_store_and_only_its_store(server: LivehubProcess) -> None:
    mint_url = server.http + "/api/auth/token"
    status, minted = http_json("POST", mint_url, {"user": "clerk-9", "role": "staff", "store": "b1-s2"},
                               TOKENS["admin"])  # fmt: skip
    assert (status, minted["role"]) == (200, "staff")

    assert http_json("GET", server.http + "/api/stores/b1-s2/orders", None, minted["token"])[0] == 200
    assert http_json("GET", server.http + "/api/stores/b1-s1/orders", None, minted["token"])[0] == 403
    refused = [
        ({"user": "c", "role": "staff", "store": "nowhere"}, errors.NOT_FOUND),
        ({"user": "c", "role": "staff"}, errors.BAD_REQUEST),
        ({"user": "c", "role": "root"}, errors.BAD_REQUEST),
        ({"user": "m", "role": "moderator", "venues": ["b1", "atlantis"]}, errors.NOT_FOUND),
    ]
    for body, code in refused:
        assert http_json("POST", mint_url, body, TOKENS["admin"])[1]["code"] == code, body
