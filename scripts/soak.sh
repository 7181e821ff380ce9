#!/usr/bin/env bash
# Soak test: drive `triage serve` at and above saturation on loopback with wrk, then write the
# figures into docs/reliability.md (between the soak markers).
#
#   scripts/soak.sh            # about 7 minutes; stops by itself (hard limit 10 minutes)
#   SLICE=5 scripts/soak.sh    # shorter slices, for a quick look
#
# Records, per 10-second slice: answers by status (only 200, 429 and 503 are allowed; any other
# 5xx fails the run), latency p50/p90/p99, and the server's RSS every second, whose trend
# over the overload phases must stay flat.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hotline-triage/target}"
SLICE="${SLICE:-10}"
OUT="${OUT:-$CARGO_TARGET_DIR/soak}"
# concurrency:slices. Saturation is about 8 connections on 2 cores (docs/benchmarks.md).
PHASES="${PHASES:-1:3 8:6 32:6 128:9 512:9 8:6}"

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/triage"
[ -f models/encoder/manifest.json ] || "$BIN" model fetch

rm -rf "$OUT" && mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TRIAGE_FEEDBACK_DB="$OUT/feedback.sqlite3" TRIAGE_LOG_FORMAT=json RUST_LOG=warn \
  timeout 600 "$BIN" serve --addr "127.0.0.1:$PORT" 2>"$OUT/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; kill $SAMPLER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null
# $SERVER is `timeout`; the RSS that matters is its child's, the server itself.
TRIAGE_PID=$(pgrep -P "$SERVER" -n || echo "$SERVER")

START=$(date +%s)
( while kill -0 $TRIAGE_PID 2>/dev/null; do
    echo "$(( $(date +%s) - START )) $(awk '/VmRSS/ {print $2}' /proc/$TRIAGE_PID/status 2>/dev/null || echo 0)"
    sleep 1
  done ) > "$OUT/rss.tsv" &
SAMPLER=$!

DEADLINE=$(( START + 560 ))
for phase in $PHASES; do
  conns=${phase%%:*}; slices=${phase##*:}
  for _ in $(seq 1 "$slices"); do
    [ "$(date +%s)" -lt "$DEADLINE" ] || break 2
    t=$(( $(date +%s) - START ))
    threads=$(( conns < 2 ? conns : 2 ))
    line=$(wrk -t"$threads" -c"$conns" -d"${SLICE}s" --timeout 35s -s scripts/soak/classify.lua "http://127.0.0.1:$PORT" | tail -1)
    echo "{\"t\": $t, \"connections\": $conns, \"result\": $line}" | tee -a "$OUT/slices.jsonl"
  done
done

alive=yes; kill -0 $TRIAGE_PID 2>/dev/null || alive=no
kill -TERM $SERVER; wait $SERVER && exit_code=0 || exit_code=$?
kill $SAMPLER 2>/dev/null || true

python3 - "$OUT" "$alive" "$exit_code" "$SLICE" <<'PY'
import json, sys, datetime, re, os, platform
out, alive, exit_code, slice_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
slices = [json.loads(l) for l in open(f"{out}/slices.jsonl")]
rss = [tuple(map(int, l.split())) for l in open(f"{out}/rss.tsv") if len(l.split()) == 2]
bad = {}
for s in slices:
    for status, n in s["result"]["status"].items():
        if status not in ("200", "429", "503"):
            bad[status] = bad.get(status, 0) + n
# RSS trend over the overload phases (from the first 128-connection slice on): MB per minute.
overload_t = next((s["t"] for s in slices if s["connections"] >= 128), 0)
pts = [(t, kb / 1024) for t, kb in rss if t >= overload_t and kb > 0]
slope = 0.0
if len(pts) > 2:
    n = len(pts); mx = sum(p[0] for p in pts) / n; my = sum(p[1] for p in pts) / n
    slope = sum((x - mx) * (y - my) for x, y in pts) / max(1e-9, sum((x - mx) ** 2 for x, _ in pts)) * 60
peak = max((kb for _, kb in rss), default=0) / 1024
lines = [
    f"Run {datetime.date.today()} on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), `scripts/soak.sh`, {slice_s}-second wrk slices, "
    f"server `triage serve` (release, default settings: queue 256, request timeout 30 s).",
    "",
    "| t (s) | connections | requests | 200 | 429 | 503 | other | socket errors | p50 ms | p90 ms | p99 ms |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
for s in slices:
    r = s["result"]; st = r["status"]
    other = sum(n for k, n in st.items() if k not in ("200", "429", "503"))
    lines.append(f"| {s['t']} | {s['connections']} | {r['requests']} | {st.get('200', 0)} | {st.get('429', 0)} | {st.get('503', 0)} | {other} | {r['socket_errors']} | {r['p50_ms']:.0f} | {r['p90_ms']:.0f} | {r['p99_ms']:.0f} |")
total = {k: sum(s["result"]["status"].get(k, 0) for s in slices) for k in ("200", "429", "503")}
lines += [
    "",
    f"- Answers: {total['200']} x 200, {total['429']} x 429 (queue full, with Retry-After), {total['503']} x 503; other statuses: {bad or 'none'}.",
    f"- RSS: peak {peak:.0f} MB; trend over the overload phases {slope:+.2f} MB/min (from t = {overload_t} s).",
    f"- Server alive at the end: {alive}; exit after SIGTERM: {exit_code}.",
]
md = "\n".join(lines)
doc = "docs/reliability.md"
text = open(doc).read() if os.path.exists(doc) else "# Reliability\n\n<!-- soak:begin -->\n<!-- soak:end -->\n"
text = re.sub(r"<!-- soak:begin -->.*<!-- soak:end -->", "<!-- soak:begin -->\n" + md + "\n<!-- soak:end -->", text, flags=re.S)
open(doc, "w").write(text)
print(md)
ok = not bad and alive == "yes" and exit_code == 0 and slope < 5.0
print("soak:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
