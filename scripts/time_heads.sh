#!/usr/bin/env bash
# What a set of heads costs a call, against another, in one invocation: `triage classify --jsonl`
# over 30 and 300 copies of the 205-character call (scripts/bench_call.txt), each heads folder in
# turn, twice; prints the marginal milliseconds a call (model loading cancels).
#   scripts/time_heads.sh HEADS_A HEADS_B
# e.g. the five shipped heads without the matter head against models/heads:
#   mkdir -p /tmp/five && for h in department topic appeal_type urgency handoff; do
#     ln -sfn "$PWD/models/heads/$h" /tmp/five/$h; done
#   scripts/time_heads.sh /tmp/five models/heads
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 HEADS_A HEADS_B" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/target}"
cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import json, sys
text = open("scripts/bench_call.txt", encoding="utf-8").read().strip()
for n in (30, 300):
    with open(f"{sys.argv[1]}/call{n}.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n" for i in range(n))
PY
lscpu | grep -m1 'Model name' || true
for round in 1 2; do
  for heads in "$1" "$2"; do
    declare -A took
    for n in 30 300; do
      start=$(date +%s.%N)
      TRIAGE_HEADS_DIR="$heads" "$triage" classify --jsonl < "$work/call$n.jsonl" > /dev/null 2>&1
      took[$n]=$(echo "$(date +%s.%N) - $start" | bc)
    done
    echo "round $round, $heads: $(echo "scale=2; (${took[300]} - ${took[30]}) * 1000 / 270" | bc) ms a call"
  done
done
