"""`triage serve` on a free loopback port, for the scripts that drive the real HTTP API
(feedback_loop.py, same_day.py, kpi_replay.py, bench_replicas.py): start it, wait until
/readyz answers 200, and stop it afterwards.

    from local_server import serving
    with serving(TRIAGE, ["--feedback-db", db]) as port:
        ...
"""
import contextlib
import http.client
import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(triage, args=(), env=None, before=()):
    """Run `triage BEFORE... serve --addr 127.0.0.1:PORT ARGS...` (RUST_LOG=warn, `env` over the
    environment) and return (process, port) once /readyz answers 200; exits if it never does."""
    port = free_port()
    proc = subprocess.Popen([str(triage), *map(str, before), "serve", "--addr", f"127.0.0.1:{port}", *map(str, args)], cwd=ROOT,
                            env=dict(os.environ, RUST_LOG="warn", **(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"{triage} serve was not ready after 120 s")


@contextlib.contextmanager
def serving(triage, args=(), env=None, before=()):
    """`start`, yielding the port; the server is stopped when the block ends."""
    proc, port = start(triage, args, env, before)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait()
