"""The kernel's floor under one-write-per-delivery fan-out: CPU per small loopback TCP write.

A server that writes every event to every viewer separately cannot spend less per delivery
than one ``send()`` of a small frame.  This measures that floor on this machine, with the
same pinning as the fan-out benchmark: the writer (plain ``socket.send`` in a loop over
``--sockets`` connections, no event loop, no websocket code) on the server core, a reader
process on the other core that drains the sockets in batches (as the counting viewers do).

    python -m loadtests.write_floor [--sockets 5000] [--seconds 5] [--size 209]

Prints CPU µs per write (user and system).  Loopback TCP is processed in the sender's
context, so the figure includes the receive side's kernel work.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import select
import socket
import sys
import time
from multiprocessing.connection import Connection
from typing import Any


def _reader(port: int, count: int, core: int | None, seconds: float, conn: Connection) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    ep = select.epoll()
    for s in socks:
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)  # registered like an event loop's sockets, but not waited on
    conn.send("connected")
    received = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        for s in socks:
            try:
                while chunk := s.recv(262_144):
                    received += len(chunk)
            except BlockingIOError:
                pass
    conn.send(received)
    for s in socks:
        s.close()


def measure(sockets: int = 5000, seconds: float = 5.0, size: int = 209, server_core: int | None = 0,
            client_core: int | None = 1) -> dict[str, Any]:  # fmt: skip
    """Write ``size``-byte messages round-robin to ``sockets`` connections for ``seconds``; CPU per write."""
    if server_core is not None:
        os.sched_setaffinity(0, {server_core})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    reader = ctx.Process(target=_reader, args=(port, sockets, client_core, seconds + 30.0, child), daemon=True)
    reader.start()
    conns: list[socket.socket] = []
    try:
        for _ in range(sockets):
            c, _addr = listener.accept()
            c.setblocking(False)
            conns.append(c)
        parent.recv()
        message = b"\x81\x7e" + (size - 4).to_bytes(2, "big") + b"x" * (size - 4)
        # One message per socket per round, rounds spaced so that the reader keeps up.
        t0, w0, writes = os.times(), time.monotonic(), 0
        while time.monotonic() - w0 < seconds:
            for c in conns:
                c.send(message)
            writes += len(conns)
            time.sleep(0.02)
        t1 = os.times()
    finally:
        for c in conns:
            c.close()
        listener.close()
        reader.join(timeout=5.0)
        if reader.is_alive() and reader.pid is not None:
            os.kill(reader.pid, 9)
            reader.join(timeout=5.0)
    user, system = t1.user - t0.user, t1.system - t0.system
    return {
        "writes": writes,
        "size": size,
        "sockets": sockets,
        "us_per_write": round((user + system) * 1e6 / writes, 2),
        "user_us_per_write": round(user * 1e6 / writes, 2),
        "system_us_per_write": round(system * 1e6 / writes, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=209, help="bytes per write (a bench event frame: 209)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    args = parser.parse_args(argv)
    r = measure(args.sockets, args.seconds, args.size, args.server_core, args.client_core)
    print(
        f"{r['writes']} writes of {r['size']} bytes to {r['sockets']} loopback sockets: "
        f"{r['us_per_write']} µs CPU per write (user {r['user_us_per_write']}, system {r['system_us_per_write']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
