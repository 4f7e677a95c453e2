"""Reference fan-out server: the least a websocket server can do to fan a venue out.

Viewers connect to ``/ws`` and are kept in a set; one publisher connects to
``/publish`` and every message it sends is broadcast verbatim to every viewer
with :func:`websockets.broadcast` (one frame build and one ``transport.write``,
hence one kernel write, per viewer per message).  No protocol, no offsets, no
recovery, no codecs, permessage-deflate off: this is the yardstick livehub's
cost per delivered message is compared against (docs/performance.md).

    python -m loadtests.reference_server --port 8765

Prints ``reference-server pid <PID> listening on <host>:<port>`` once it
accepts connections; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys

import uvloop
from websockets import broadcast
from websockets.asyncio.server import ServerConnection, serve

VIEWER_PATH = "/ws"
PUBLISH_PATH = "/publish"


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


async def run(host: str, port: int, backlog: int) -> None:
    viewers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else VIEWER_PATH
        if path.split("?", 1)[0] == PUBLISH_PATH:
            # No keepalive on the publisher link: when the server falls behind, the publisher's messages
            # queue up unread and a pong would wait behind them, so the link would be closed for a
            # missed ping. Viewers keep the default keepalive (as livehub's viewers do).
            if ws.keepalive_task is not None:
                ws.keepalive_task.cancel()
            async for message in ws:
                broadcast(viewers, message)
            return
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(handler, host, port, compression=None, backlog=backlog, max_size=1 << 20):
        print(f"reference-server pid {os.getpid()} listening on {host}:{port}", flush=True)
        await stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args(argv)
    raise_nofile_limit()
    uvloop.run(run(args.host, args.port, args.backlog))
    return 0


if __name__ == "__main__":
    sys.exit(main())
