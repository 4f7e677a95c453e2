"""A festival crowd for locust: viewers who watch, like, comment and grab; hosts who drive.

Run against a livehub started with a known secret (127.0.0.1 only), bounded in users and time:

    LIVEHUB_SECRET=load-secret ./scripts/run --config config/small.toml --port 8000 &
    LIVEHUB_SECRET=load-secret .venv/bin/locust -f loadtests/locustfile.py --headless \
        -H http://127.0.0.1:8000 -u 200 -r 50 -t 60s

Websocket frames show in locust's table as ``WS <type>`` (round trips of requests with an id)
and ``WS recv <type>`` (frames received, with the publish-to-receive latency of events).
Tokens are minted locally with ``LIVEHUB_SECRET``; viewers spread over the festival's venues.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from typing import Any

import gevent
from locust import HttpUser, User, between, events, task
from websockets.sync.client import ClientConnection, connect

from livehub.domain.tokens import mint

SECRET = os.environ.get("LIVEHUB_SECRET", "livehub-dev-secret-change-me")
VENUES = os.environ.get("LIVEHUB_VENUES", "main,b1,b2,b3").split(",")


def _fire(name: str, kind: str, started: float, length: int = 0, exc: Exception | None = None) -> None:
    events.request.fire(request_type=kind, name=name, response_time=(time.perf_counter() - started) * 1000,
                        response_length=length, exception=exc, context={})  # fmt: skip


class Viewer(User):
    """Holds one websocket; reads every frame in a greenlet; sends likes, comments and pings."""

    wait_time = between(1, 5)
    weight = 20

    def on_start(self) -> None:
        self.user_id = "load-" + uuid.uuid4().hex[:10]
        self.venue = random.choice(VENUES)
        base = self.host.replace("http://", "ws://").replace("https://", "wss://")
        started = time.perf_counter()
        self.ws: ClientConnection = connect(
            f"{base}/ws?venue={self.venue}&token={mint(SECRET, self.user_id)}",
            subprotocols=["livehub.json.v1"],  # type: ignore[list-item]
            compression=None,
            legacy=True,  # websockets' spelling for "connect now, close in on_stop"
        )
        _fire("WS connect+welcome", "WS", started, len(self.ws.recv()))
        self.pending: dict[str, float] = {}
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            for raw in self.ws:
                frame: dict[str, Any] = json.loads(raw)
                kind = frame.get("type", "?")
                rid = frame.get("id")
                if rid in self.pending:
                    _fire(f"WS {kind} (request)", "WS", self.pending.pop(rid), len(raw))
                elif kind == "event" and "ts" in frame:
                    latency_ms = time.time() * 1000 - frame["ts"]
                    events.request.fire(request_type="WS recv", name=f"event {frame.get('kind')}",
                                        response_time=max(0.0, latency_ms), response_length=len(raw),
                                        exception=None, context={})  # fmt: skip
                else:
                    events.request.fire(request_type="WS recv", name=kind, response_time=0,
                                        response_length=len(raw), exception=None, context={})  # fmt: skip
        except Exception:  # connection closed: on_stop or server-side close
            pass

    def _request(self, message: dict[str, Any]) -> None:
        rid = uuid.uuid4().hex[:12]
        message["id"] = rid
        self.pending[rid] = time.perf_counter()
        self.ws.send(json.dumps(message))

    @task(10)
    def like(self) -> None:
        self.ws.send(json.dumps({"type": "like", "n": random.randint(1, 5)}))

    @task(2)
    def comment(self) -> None:
        self._request({"type": "comment", "text": random.choice(["wow", "how much?", "in stock?", "buy buy buy"])})

    @task(1)
    def ping(self) -> None:
        self._request({"type": "ping"})

    def on_stop(self) -> None:
        self.ws.close()
        self.reader.kill()


class Host(HttpUser):
    """The main host: announcements, visit calls to action, co-host link-ups."""

    wait_time = between(2, 4)
    weight = 1

    def on_start(self) -> None:
        self.auth = {"Authorization": "Bearer " + mint(SECRET, "host-main", "host", venue="main")}
        self.brands = [v for v in VENUES if v != "main"] or ["b1"]

    @task(5)
    def announce(self) -> None:
        self.client.post("/api/venues/main/events", json={"kind": "announcement", "data": {"text": "deal soon"}},
                         headers=self.auth, name="POST /api/venues/main/events")  # fmt: skip

    @task(1)
    def visit(self) -> None:
        self.client.post("/api/venues/main/cta", json={"target": random.choice(self.brands), "text": "go"},
                         headers=self.auth, name="POST /api/venues/main/cta")  # fmt: skip

    @task(1)
    def venue(self) -> None:
        self.client.get(f"/api/venues/{random.choice(VENUES)}", name="GET /api/venues/{venue}")
