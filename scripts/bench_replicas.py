#!/usr/bin/env python3
"""Load run: one replica on SQLite against two replicas on one PostgreSQL, in one invocation.

Each configuration serves `/v1/classify` calls that carry an id (so every call is stored, grouped
and turned into an event), at a fixed concurrency, and publishes its events to a webhook receiver
run here. Reports requests/s, p50 and p99 latency, and events/s delivered (counted at the
receiver, until the outbox is drained).

    python3 scripts/bench_replicas.py [--seconds 60] [--concurrency 8] [--write]

The two replicas run one compute thread each and the single replica two, so both
configurations use the machine's two cores. Needs PostgreSQL (scripts/test_services.sh starts
it) and a built binary (cargo build --release).
"""
import argparse
import http.client
import http.server
import json
import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import local_server

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/hotline-triage/target"))
TEXTS = [json.loads(l)["text"] for l in open(ROOT / "models/examples/holdout.jsonl")]
SECRET = "bench-webhook-key-0123456789"


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.ids, self.times, self.lock, self.tag = set(), [], threading.Lock(), "\0"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.server.lock:
            # Only the measured phase's cases count, not the warm-up's stragglers.
            if body["case"]["id"].startswith(self.server.tag):
                self.server.ids.add(self.headers["idempotency-key"])
                self.server.times.append(time.time())
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def drive(ports, seconds, concurrency, tag):
    latencies, errors, stop = [], [0], time.time() + seconds
    lock = threading.Lock()

    def worker(w):
        rnd = random.Random(w)
        conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in ports}
        n = 0
        while time.time() < stop:
            port = ports[(w + n) % len(ports)]
            body = json.dumps({"text": rnd.choice(TEXTS), "id": f"{tag}-{w}-{n}"})
            t = time.perf_counter()
            try:
                conns[port].request("POST", "/v1/classify", body, {"content-type": "application/json"})
                r = conns[port].getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors[0] += 1
            n += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    began = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - began
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1000
    return {"requests": len(latencies), "errors": errors[0], "rps": len(latencies) / elapsed, "p50_ms": q(0.5), "p99_ms": q(0.99), "began": began}


def run(name, envs, threads, args):
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    started = [local_server.start(TARGET / "release/triage", env=dict(env, TRIAGE_THREADS=str(threads), TRIAGE_WEBHOOK_SECRET=SECRET, TRIAGE_WEBHOOK_URL=hook)) for env in envs]
    procs, ports = [p for p, _ in started], [port for _, port in started]
    try:
        drive(ports, 5, args.concurrency, f"warm-{name}")  # warm-up, not counted
        with receiver.lock:
            receiver.tag = f"{name}-"
        load = drive(ports, args.seconds, args.concurrency, name)
        deadline = time.time() + 120
        while time.time() < deadline:
            with receiver.lock:
                if len(receiver.ids) >= load["requests"]:
                    break
            time.sleep(0.2)
        with receiver.lock:
            delivered = len(receiver.ids)
            last = max(receiver.times) if receiver.times else load["began"]
        load.update(events=delivered, events_per_s=delivered / max(1e-9, last - load["began"]))
        return load
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        receiver.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--write", action="store_true", help="put the table in docs/benchmarks.md")
    args = ap.parse_args()
    pg_admin = subprocess.run([str(ROOT / "scripts/test_services.sh"), "postgres"], check=True, capture_output=True, text=True).stdout.strip()
    db = f"bench_replicas_{os.getpid()}"
    subprocess.run(["psql", pg_admin, "-qc", f"CREATE DATABASE {db}"], check=True)
    pg = pg_admin.rsplit("/", 1)[0] + "/" + db
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["one replica, SQLite"] = run("sqlite", [{"TRIAGE_FEEDBACK_DB": f"{tmp}/f.sqlite3"}], 2, args)
        results["two replicas, one PostgreSQL"] = run("pg", [{"TRIAGE_DATABASE_URL": pg}] * 2, 1, args)
    subprocess.run(["psql", pg_admin, "-qc", f"DROP DATABASE {db} WITH (FORCE)"], check=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    lines = [
        "## Replicas on PostgreSQL",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python3 scripts/bench_replicas.py --seconds {args.seconds}` on {cpu}, "
        f"{os.cpu_count()} cores, PostgreSQL and the webhook receiver on the same machine. `/v1/classify` with an `id` "
        f"(stored, grouped, one event each), {args.concurrency} connections, holdout calls; both rows from one invocation. "
        "The single replica runs two compute threads, the two replicas one each.",
        "",
        "| configuration | requests | errors | requests/s | p50 ms | p99 ms | events delivered | events/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in results.items():
        lines.append(f"| {k} | {r['requests']} | {r['errors']} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['events']} | {r['events_per_s']:.1f} |")
    print("\n".join(lines))
    if args.write:
        md = ROOT / "docs/benchmarks.md"
        text = md.read_text(encoding="utf-8")
        block = "<!-- replicas:start -->\n" + "\n".join(lines) + "\n<!-- replicas:end -->"
        start, end = text.find("<!-- replicas:start -->"), text.find("<!-- replicas:end -->")
        text = text[:start] + block + text[end + len("<!-- replicas:end -->"):] if 0 <= start < end else text.rstrip("\n") + "\n\n" + block + "\n"
        md.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
