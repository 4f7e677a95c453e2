"""A one-minute locust smoke run with the invariant checker, for CI: ``python -m loadtests.smoke``.

Starts its own embedded Redis and one ``livehub serve`` on config/small.toml (demo mode, a free
port on 127.0.0.1), runs loadtests/locustfile.py headless (``--users`` users, buyers and a host
included, for ``--run-time`` seconds; guest logins and the demo payment, as a new user would),
then stops everything by PID. Fails (exit 1) when locust reports any failure or the checker a
breach (locust's exit code), when the run did no real work (no snapshot, no buy, no payment:
a crowd whose websockets are dead must not pass), or when the server logged a traceback.
Every step is bounded: ready within 30 s, locust killed 60 s after its run time.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from livehub.runtime.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
CONFIG = ROOT / "config" / "small.toml"
# Rows of locust's stats CSV that must have requests: proof that the crowd did real work.
REQUIRED = (("WS", "join "), ("WS", "event "), ("WS", "buy ok"), ("POST", "POST /api/reservations/{id}/pay"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"livehub exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"livehub not ready within {timeout_s:g}s")


def stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def work_done(stats_csv: Path) -> list[str]:
    """What the run should have done and did not (empty: it did everything)."""
    rows: list[dict[str, str]] = []
    if stats_csv.exists():
        with stats_csv.open() as f:
            rows = list(csv.DictReader(f))
    missing = []
    for kind, name in REQUIRED:
        count = sum(int(r["Request Count"]) for r in rows if r["Type"] == kind and r["Name"].startswith(name))
        if count == 0:
            missing.append(f"no {kind} {name!r} requests")
    return missing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.smoke", description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--spawn-rate", type=float, default=100)
    p.add_argument("--run-time", type=int, default=45, help="seconds")
    p.add_argument("--keep", action="store_true", help="keep the run's directory (CSV, logs)")
    args = p.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="livehub-smoke-"))
    prefix = "smoke" + uuid.uuid4().hex[:6]
    redis = EmbeddedRedis()
    server: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        redis_url = redis.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEHUB_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        server_env = {**env, "LIVEHUB_REDIS_URL": redis_url, "LIVEHUB_REDIS_PREFIX": prefix, "LIVEHUB_DEMO": "1",
                      "LIVEHUB_SECRET": "smoke-" + uuid.uuid4().hex, "LIVEHUB_SWEEP_INTERVAL_S": "0.5",
                      # every locust user connects from 127.0.0.1: lift the per-IP connection limit
                      "LIVEHUB_MAX_CONNECTIONS_PER_IP": "100000"}  # fmt: skip
        server_log = (workdir / "livehub.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "livehub", "serve", "--config", str(CONFIG), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            env=server_env, stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        wait_ready(base, server, 30)
        # locust gets no secret: it logs in as the demo's guests and pays through the demo payment
        locust_env = {**env, "LIVEHUB_LOCUST_CONFIG": str(CONFIG),
                      # config/small.toml keeps only hashes; its keys are public (see its comments)
                      "LIVEHUB_LOCUST_HOST_KEYS": "host-main=main-key,host-b1=b1-key,host-b2=b2-key,host-b3=b3-key",
                      "LIVEHUB_LOCUST_SALE_EVERY_S": "8",
                      "LIVEHUB_LOCUST_SALE_LEAD_S": "3", "LIVEHUB_LOCUST_SALE_STOCK": "40",
                      "LIVEHUB_LOCUST_SALE_DURATION_S": "20", "LIVEHUB_LOCUST_RESERVATION_TTL_S": "15",
                      "LIVEHUB_LOCUST_CHECK_SETTLE_S": "20"}  # fmt: skip
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", base,
               "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.run_time}s", "--stop-timeout", "5",
               "--csv", str(workdir / "smoke"), "--only-summary", "--exit-code-on-error", "1",
               "--livehub-redis-url", redis_url, "--livehub-prefix", prefix]  # fmt: skip
        print(f"smoke: livehub {base} (pid {server.pid}), redis {redis_url}; locust {args.users} users for "
              f"{args.run_time}s; output in {workdir}", flush=True)  # fmt: skip
        with (workdir / "locust.log").open("wb") as log:
            locust = subprocess.Popen(cmd, cwd=ROOT, env=locust_env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)  # fmt: skip
            try:
                code = locust.wait(timeout=args.run_time + 60)
            except subprocess.TimeoutExpired:
                stop(locust, 5)
                code = -1
        output = (workdir / "locust.log").read_text(errors="replace")
        print(output[-6000:])
        print("\n".join(line for line in output.splitlines() if line.startswith(("invariants", "  sale ", "  BREACH"))))
        problems = [] if code == 0 else [f"locust exited with {code} (failures or an invariant breach)"]
        problems += work_done(workdir / "smoke_stats.csv")
        if "invariants: OK" not in output:
            problems.append("the invariant checker did not report OK")
        stop(server)
        server_log.close()
        tracebacks = (workdir / "livehub.log").read_text(errors="replace").count("Traceback")
        if tracebacks:
            problems.append(f"{tracebacks} tracebacks in the server log {workdir / 'livehub.log'}")
        for problem in problems:
            print(f"smoke: FAIL: {problem}")
        print(f"smoke: {'ok' if not problems else 'FAILED'} in {time.monotonic() - started:.0f}s")
        if problems:
            args.keep = True
        return 1 if problems else 0
    except (RuntimeError, OSError) as exc:
        print(f"smoke: FAIL: {exc}")
        args.keep = True
        return 1
    finally:
        stop(server)
        redis.stop()
        if not args.keep:
            for f in workdir.iterdir():
                f.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
