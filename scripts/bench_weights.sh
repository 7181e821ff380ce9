#!/usr/bin/env bash
# Compare the two ways of holding the encoder's matrices, in one invocation so the ratio
# holds on a noisy machine: 4-bit Q4_0 through candle's quantized matmul, and f32 gemm.
#   scripts/bench_weights.sh [N_TEXTS=50] [MAX_TOKENS=256]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50}"; max_tokens="${2:-256}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/target}"
cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
"$triage" model fetch >/dev/null
input="$(mktemp)"; trap 'rm -f "$input"' EXIT
python3 - "$n" > "$input" <<'PY'
import json, sys
n = int(sys.argv[1]); out = 0
for line in open("../shared/data/tipdm2020_messages.jsonl", encoding="utf-8"):
    row = json.loads(line)
    if row["split"] != "test":
        continue
    print(json.dumps({"id": row["id"], "text": row["title"] + "\n" + row["text"]}, ensure_ascii=False))
    out += 1
    if out == n:
        break
PY
echo "| weights | texts | seconds | texts/s | peak RSS (MB) |"
echo "|---|---|---|---|---|"
for weights in f32 quantized; do
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o /tmp/bench_weights_rss "$triage" --weights "$weights" --max-tokens "$max_tokens" --threads 2 embed --chunk 1000 < "$input" > /dev/null 2>/dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f'| {sys.argv[4]} | {n} | {s:.1f} | {n/s:.2f} | {int(open(\"/tmp/bench_weights_rss\").read().split()[-1])//1024} |')" "$start" "$end" "$n" "$weights"
done
