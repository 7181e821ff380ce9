#!/usr/bin/env bash
# The benchmark: our encoder against PyTorch and ONNX Runtime on the same texts, weights and
# threads, then the HTTP service under load, all in one invocation so the ratios hold on a
# noisy machine. Writes docs/benchmarks.md and docs/benchmarks.json.
#
#   scripts/bench.sh                 full run (about 25 minutes on 2 cores; the venv takes longer the first time)
#   BENCH_TEXTS=200 BENCH_SECONDS=5 scripts/bench.sh    a quick smoke run (figures not for the docs)
#
# Needs: the README set-up, python3 with venv/pip (PyPI), wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
texts_n="${BENCH_TEXTS:-1000}"
seconds="${BENCH_SECONDS:-20}"
threads="${BENCH_THREADS:-$(nproc)}"
max_tokens=256
work="$cache/bench"
out_md="${BENCH_OUT_MD:-docs/benchmarks.md}"
out_json="${BENCH_OUT_JSON:-docs/benchmarks.json}"
mkdir -p "$work"
results="$work/results.jsonl"
: > "$results"

cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
"$triage" model fetch >/dev/null
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

# The baselines' venv, made once: CPU inference only, pinned versions.
venv="$cache/bench-venv"
if ! "$venv/bin/python" -c "import torch, transformers, onnxruntime, onnx" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==2.5.1" "transformers==4.46.3" "onnxruntime==1.32.0" "onnx==1.23.2" "numpy==2.4.6"
fi

# The fixed texts: the first N of tipdm's test split, title and body as the heads read them.
python3 - "$texts_n" > "$work/texts.jsonl" <<'EOF'
import json, sys
n = int(sys.argv[1])
out = 0
for line in open("../shared/data/tipdm2020_messages.jsonl", encoding="utf-8"):
    r = json.loads(line)
    if r["split"] != "test":
        continue
    print(json.dumps({"text": (r.get("title", "") + "\n" + r.get("text", "")).strip()}, ensure_ascii=False))
    out += 1
    if out == n:
        break
EOF
# The same weights for every runtime: our Q4_0 blocks expanded to f32.
checksum=$(sha256sum models/encoder/manifest.json | cut -c1-16)
if [ ! -f "$work/hf/$checksum" ]; then
  rm -rf "$work/hf"
  "$triage" model export-hf --out "$work/hf"
  touch "$work/hf/$checksum"
fi

echo "== encoder: ours" >&2
for b in 1 32; do
  TRIAGE_THREADS="$threads" "$triage" model bench --data "$work/texts.jsonl" --max-tokens "$max_tokens" --batch-size "$b" >> "$results"
done
echo "== encoder: PyTorch and ONNX Runtime" >&2
head -n 40 "$work/texts.jsonl" > "$work/parity_texts.jsonl"
TRIAGE_THREADS="$threads" TRIAGE_MAX_TOKENS="$max_tokens" "$triage" embed < "$work/parity_texts.jsonl" > "$work/parity_ours.jsonl"
"$venv/bin/python" scripts/bench_baselines.py --model "$work/hf" --data "$work/texts.jsonl" --max-tokens "$max_tokens" \
  --threads "$threads" --parity "$work/parity_ours.jsonl" --latency-text "$root/scripts/bench_call.txt" >> "$results"

echo "== service" >&2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db="$work/feedback.sqlite3"; rm -f "$db"*
started=$(date +%s.%N)
TRIAGE_THREADS="$threads" TRIAGE_FEEDBACK_DB="$db" TRIAGE_LOG_FORMAT=json RUST_LOG=warn \
  "$triage" serve --addr "127.0.0.1:$port" 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf "127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
ready=$(python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')")
rss_kb() { awk "/^$1:/ {print \$2}" /proc/$pid/status; }
idle_rss=$(rss_kb VmRSS)
echo "{\"service\": \"startup\", \"seconds_to_ready\": $ready, \"idle_rss_kb\": $idle_rss}" >> "$results"
body=$(python3 -c "import json,sys; print(json.dumps({'text': open('scripts/bench_call.txt', encoding='utf-8').read().strip()}, ensure_ascii=False))")
cat > "$work/post.lua" <<EOF
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
# One request first, so the server's first-call costs are not in the figures.
curl -sf "127.0.0.1:$port/v1/classify" -H 'content-type: application/json' -d "$body" >/dev/null
for c in 1 8 32; do
  t=$(( c < 2 ? 1 : 2 ))
  line=$(wrk -t"$t" -c"$c" -d"${seconds}s" --timeout 30s -s "$work/post.lua" "http://127.0.0.1:$port/v1/classify" | tail -n 1)
  echo "{\"service\": \"classify\", \"concurrency\": $c, \"result\": $line, \"rss_kb\": $(rss_kb VmRSS)}" >> "$results"
done
echo "{\"service\": \"memory\", \"peak_rss_kb\": $(rss_kb VmHWM), \"idle_rss_kb\": $idle_rss}" >> "$results"
kill $pid; wait $pid 2>/dev/null || true
trap - EXIT

python3 scripts/bench_report.py --results "$results" --md "$out_md" --json "$out_json" --threads "$threads" --texts "$texts_n" --seconds "$seconds"
echo "wrote $out_md and $out_json" >&2
