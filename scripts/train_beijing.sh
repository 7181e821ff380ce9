#!/usr/bin/env bash
# Reproduce the shipped default Beijing heads (models/heads/{department,topic,appeal_type})
# from ../shared/data and models/examples, then score them on the held-out transcripts.
#   scripts/train_beijing.sh [extra train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/target}"
data="${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/beijing-data"
cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
"$triage" model fetch >/dev/null
# The heard copies of the transcripts need pypinyin (PyPI).
python3 -c "import pypinyin" 2>/dev/null || python3 -m pip install -q pypinyin
python3 scripts/build_beijing_data.py --out "$data"
# The flags the shipped heads were trained with. Urgent calls are rare (66 of 1,520), so that
# head balances its classes fully.
for head in department topic appeal_type urgency; do
  balance=0.5; [ "$head" = urgency ] && balance=1
  "$triage" train --data "$data/$head.jsonl" --text-fields text --label-field label --split-field split \
    --out "models/heads/$head" --name "beijing-$head" --epochs 30 --patience 8 --review-target-accuracy 0.9 \
    --class-balance "$balance" "$@"
done
python3 scripts/eval_beijing.py
