"""A websocket client for gevent: websockets' sans-I/O ``ClientProtocol`` on one (patched) socket.

Why not ``websockets.sync``: it reads in a background thread per connection, and under gevent
stopping a thousand users at once closed sockets that its reader still watched (libev aborted
the whole locust process: "I/O watcher with invalid fd found in epoll_ctl"). Here one greenlet
at a time reads (the opener, then the session's reader), writes are serialised by a lock, and
the descriptor is closed only once no greenlet reads it (:meth:`WebSocket.release`).
Plain ``ws://`` only (load stays on 127.0.0.1 or a private network).
"""

from __future__ import annotations

import collections
import socket
import time

from gevent.lock import Semaphore
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

READ_SIZE = 65_536


class Closed(Exception):
    """The connection is closed; ``code`` is the close code the node sent (None: no close frame)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed {code if code is not None else 'without a close frame'}")
        self.code = code


class WebSocket:
    """Connect and handshake (within ``timeout_s``); then :meth:`recv`, :meth:`send`, :meth:`close`."""

    def __init__(self, url: str, subprotocols: list[str], timeout_s: float, max_size: int = 2**20) -> None:
        uri = parse_uri(url)
        if uri.secure:
            raise ValueError("wss:// is not supported by the crowd's client")
        self._proto = ClientProtocol(uri, subprotocols=[Subprotocol(s) for s in subprotocols], max_size=max_size)
        self._lock = Semaphore()
        self._messages: collections.deque[bytes] = collections.deque()
        self._parts: list[bytes] = []
        self._eof = False
        self._sock = socket.create_connection((uri.host, uri.port), timeout=timeout_s)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._proto.send_request(self._proto.connect())
            self._flush()
            deadline = time.monotonic() + timeout_s
            response: Response | None = None
            while response is None:
                if self._eof:
                    raise ConnectionError("the node closed the connection during the handshake")
                response = self._read(max(0.001, deadline - time.monotonic()))
            if self._proto.handshake_exc is not None:
                raise self._proto.handshake_exc
            self.response = response
        except BaseException:
            self._sock.close()
            raise

    # ---- reading (one greenlet at a time) ------------------------------------------------
    def _read(self, timeout: float | None) -> Response | None:
        """One socket read into the protocol; the handshake response if it came in it."""
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(READ_SIZE)
        except TimeoutError:
            raise
        except OSError:
            data = b""
        if data:
            self._proto.receive_data(data)
        else:
            self._proto.receive_eof()
            self._eof = True
        response = None
        for event in self._proto.events_received():
            if isinstance(event, Response):
                response = event
            elif isinstance(event, Frame):
                self._frame(event)
        try:
            self._flush()  # pongs and the reply to a close
        except OSError:
            self._eof = True
        return response

    def _frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._parts.append(bytes(frame.data))
            if frame.fin:
                self._messages.append(b"".join(self._parts))
                self._parts.clear()

    def recv(self, timeout: float | None = None) -> str:
        """The next message as text; TimeoutError after ``timeout`` s; :class:`Closed` once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._messages:
            if self._eof:
                rcvd = self._proto.close_rcvd
                raise Closed(rcvd.code if rcvd is not None else None)
            self._read(None if deadline is None else max(0.001, deadline - time.monotonic()))
        return self._messages.popleft().decode("utf-8", errors="replace")

    # ---- writing (any greenlet) ----------------------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            for chunk in self._proto.data_to_send():
                if chunk:
                    self._sock.sendall(chunk)
                else:
                    self._sock.shutdown(socket.SHUT_WR)

    def send(self, text: str) -> None:
        try:
            self._proto.send_text(text.encode())
            self._flush()
        except (InvalidState, OSError) as exc:
            rcvd = self._proto.close_rcvd
            raise Closed(rcvd.code if rcvd is not None else None) from exc

    def close(self) -> None:
        """Send a close frame (the reader then reads the node's reply and the end of the stream)."""
        try:
            if self._proto.state.name == "OPEN":
                self._proto.send_close(1000)
            self._flush()
        except (InvalidState, OSError):
            pass

    def shutdown(self) -> None:
        """End the stream both ways: a reader blocked in recv sees the end (the descriptor stays open)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def release(self) -> None:
        """Close the descriptor: only once no greenlet reads it."""
        self._sock.close()
