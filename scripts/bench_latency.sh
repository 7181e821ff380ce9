#!/usr/bin/env bash
# `/v1/classify` latency of two or more builds, alternated in one invocation so that a noisy
# machine treats them alike: each binary serves in turn, and wrk sends the benchmark call
# (scripts/bench_call.txt) at 1 and 8 connections (-c "1 8 32" for others). One JSON line per
# run, with the server's resident memory then (rss_kb) and its peak so far (peak_rss_kb).
#   scripts/bench_latency.sh [-s SECONDS] [-r ROUNDS] [-c CONNECTIONS] BIN [BIN...]
# e.g. an old commit's build against this one:
#   git worktree add /tmp/old OLD && (cd /tmp/old && cargo build --release) &&
#   scripts/bench_latency.sh /tmp/old/target/release/triage "$CARGO_TARGET_DIR/release/triage"
# Weights are each binary's default for this CPU unless TRIAGE_WEIGHTS is set.
# Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=8 rounds=3 connections="1 8"
while getopts s:r:c: opt; do
  case $opt in s) seconds=$OPTARG ;; r) rounds=$OPTARG ;; c) connections=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n 2,11p "$0" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d); pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
body=$(python3 -c "import json; print(json.dumps({'text': open('scripts/bench_call.txt', encoding='utf-8').read().strip()}, ensure_ascii=False))")
scripts/wrk_classify_lua.sh "$work/post.lua"
rss_kb() { awk "/^$1:/ {print \$2}" "/proc/$pid/status"; }
lscpu | sed -n 's/^Model name: *//p' | sed 's/^/cpu: /' >&2
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    TRIAGE_FEEDBACK_DB="$work/feedback.sqlite3" RUST_LOG=warn "$bin" serve --addr "127.0.0.1:$port" 2>"$work/serve.log" &
    pid=$!
    until curl -sf "127.0.0.1:$port/readyz" >/dev/null; do
      kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
      sleep 0.1
    done
    # One call first, so the server's first-call costs are not in the figures.
    curl -sf "127.0.0.1:$port/v1/classify" -H 'content-type: application/json' -d "$body" >/dev/null
    for c in $connections; do
      line=$(wrk -t1 -c"$c" -d"${seconds}s" --timeout 30s -s "$work/post.lua" "http://127.0.0.1:$port/v1/classify" | tail -n 1)
      echo "{\"round\": $round, \"binary\": \"$bin\", \"connections\": $c, \"result\": $line, \"rss_kb\": $(rss_kb VmRSS), \"peak_rss_kb\": $(rss_kb VmHWM)}"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    rm -f "$work"/feedback.sqlite3*
  done
done
