"""Every token and every payment of the crowd, in one place.

Viewer tokens: minted locally with ``livehub.domain.tokens.mint`` when ``LIVEHUB_SECRET`` is
given to locust (the same secret as the target's), otherwise the demo's guest login
(``POST /api/auth/guest``, demo mode only). Host tokens: ``POST /api/auth/host`` with a key
(``LIVEHUB_LOCUST_HOST_KEYS`` or the local festival config), or minted locally.
Payments: the demo's simulated payment (``POST /api/reservations/{id}/pay``) while the target
offers it; once it answers 401/403/404 (not in demo mode) the signed provider callback
(``POST /api/payments/callback``, key ``LIVEHUB_PAYMENT_SECRET`` or ``LIVEHUB_SECRET``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from livehub.domain.tokens import mint
from loadtests.crowd.options import Options
from loadtests.crowd.target import HostLogin

DEMO_REFUSED = (401, 403, 404, 405)


class NoToken(Exception):
    """No way to get a token (the failure is already reported to locust)."""


@dataclass(frozen=True)
class Token:
    sub: str
    token: str
    venue: str | None = None


def viewer(client: Any, opts: Options) -> Token:
    if opts.secret:
        user = "load-" + uuid.uuid4().hex[:12]
        return Token(user, mint(opts.secret, user))
    with client.post("/api/auth/guest", name="POST /api/auth/guest", catch_response=True) as r:
        if r.status_code != 200:
            r.failure(f"guest login refused (HTTP {r.status_code}): run the target with LIVEHUB_DEMO=1 "
                      "or give locust LIVEHUB_SECRET")  # fmt: skip
            raise NoToken("guest login")
        body = r.json()
        return Token(body["user"], body["token"])


def host(client: Any, opts: Options, login: HostLogin) -> Token:
    if login.key is None:
        if not opts.secret or login.venue is None:
            raise NoToken(f"host {login.host}: no key and no LIVEHUB_SECRET")
        return Token(login.host, mint(opts.secret, login.host, "host", venue=login.venue), login.venue)
    with client.post("/api/auth/host", json={"host": login.host, "key": login.key}, name="POST /api/auth/host",
                     catch_response=True) as r:  # fmt: skip
        if r.status_code != 200:
            r.failure(f"host {login.host}: login refused (HTTP {r.status_code})")
            raise NoToken(f"host {login.host}")
        body = r.json()
        return Token(body["host"], body["token"], body.get("venue"))


class Payer:
    """Pays reservations; one per locust process (the demo/callback choice is learned once)."""

    def __init__(self) -> None:
        self.demo = True

    def pay(self, client: Any, opts: Options, buyer: Token, reservation: str) -> str | None:
        """The payment's answer (``paid``, ``duplicate``, ``expired``), or None when it failed."""
        if self.demo:
            with client.post(f"/api/reservations/{reservation}/pay", name="POST /api/reservations/{id}/pay",
                             headers={"Authorization": f"Bearer {buyer.token}"}, catch_response=True) as r:  # fmt: skip
                if r.status_code in DEMO_REFUSED and opts.payment_secret:
                    r.success()  # the target is not in demo mode: pay as the provider from now on
                    self.demo = False
                else:
                    return self._answer(r)
        from livehub.services.payments import SIGNATURE_HEADER, payment_signature

        body = json.dumps({"reservation": reservation, "payment_ref": "load-" + uuid.uuid4().hex[:12]}).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: payment_signature(opts.payment_secret, body)}
        with client.post("/api/payments/callback", data=body, headers=headers, name="POST /api/payments/callback",
                         catch_response=True) as r:  # fmt: skip
            return self._answer(r)

    @staticmethod
    def _answer(r: Any) -> str | None:
        if r.status_code != 200:
            r.failure(f"payment: HTTP {r.status_code} {getattr(r, 'error', None) or (r.text or '')[:120]}")
            return None
        status = str(r.json().get("status"))
        if status not in ("paid", "duplicate"):
            r.failure(f"payment answered {status} before the deadline")
            return None
        return status


payer = Payer()
