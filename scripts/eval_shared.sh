#!/usr/bin/env bash
# Train and evaluate a head for each task of ../shared/data/README.md (train on train, tune on
# dev, report on test) and print one Markdown table. Heads go to target-style scratch space
# (not models/): they are trained on data that must not ship in the repo.
#   scripts/eval_shared.sh [OUT_DIR=/tmp/hotline-triage-shared] [extra train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/hotline-triage-shared}"; shift || true
data=../shared/data
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/target}"
# The reported heads learn from, and are scored on, f32 embeddings (the service's default is
# bf16 on a CPU with AVX-512 BF16; docs/model.md), as the figures in the docs were.
export TRIAGE_WEIGHTS="${TRIAGE_WEIGHTS:-f32}"
cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
"$triage" model fetch >/dev/null

tasks=(
  "tipdm-topic|tipdm2020_messages.jsonl|label|1"
  "jiamusi-department|jiamusi_letters.jsonl|department|10"
  "dalian-department|dalian_letters.jsonl|department|10"
  "dalian-letter-type|dalian_letters.jsonl|letter_type|1"
)
echo "| task | classes | accuracy | macro-F1 | top-3 | ECE | auto-dispatched at review policy | train seconds |"
echo "|---|---|---|---|---|---|---|---|"
for t in "${tasks[@]}"; do
  IFS='|' read -r name file field min <<<"$t"
  start=$(date +%s)
  "$triage" train --data "$data/$file" --label-field "$field" --split-field split --min-class-count "$min" \
    --out "$out/$name" "$@" > "$out-$name.train.log" 2>&1
  secs=$(( $(date +%s) - start ))
  "$triage" eval --heads "$out/$name" --data "$data/$file" --label-field "$field" --split-field split \
    --split test --json --report "$out/$name/report-test" > "$out-$name.eval.json" 2>/dev/null
  python3 - "$name" "$out-$name.eval.json" "$secs" <<'PY'
import json, sys
name, path, secs = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))
a = r.get("abstain") or {}
auto = f"{a.get('coverage', 0)*100:.0f}% at {a.get('accuracy_covered', 0):.3f}" if a else ""
print(f"| {name} | {len(r['labels'])} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['top3_accuracy']:.3f} | {r['ece']:.3f} | {auto} | {secs} |")
PY
done
