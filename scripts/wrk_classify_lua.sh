#!/usr/bin/env bash
# Writes the wrk script that POSTs the benchmark call (scripts/bench_call.txt) to /v1/classify
# and prints one JSON line of figures when done; scripts/bench.sh and scripts/bench_latency.sh
# both load under it.
#   scripts/wrk_classify_lua.sh OUT.lua
set -euo pipefail
cd "$(dirname "$0")/.."
body=$(python3 -c "import json; print(json.dumps({'text': open('scripts/bench_call.txt', encoding='utf-8').read().strip()}, ensure_ascii=False))")
cat > "$1" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$body]]
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %.3f, "non_2xx_or_socket_errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
EOF
