#!/usr/bin/env bash
# Time `triage classify` on one ~2,000-character text (issue 4): the first tipdm letter whose
# title and text run 1,900-2,300 characters, sent once and then 11 times through
# `triage classify --jsonl`; the difference over 10 is the time per text with loading left out.
#   bash scripts/time_long_call.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hotline-triage/target}"
cargo build --release --quiet
triage="$CARGO_TARGET_DIR/release/triage"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
for line in open("../shared/data/tipdm2020_messages.jsonl", encoding="utf-8"):
    r = json.loads(line)
    text = (r.get("title") or "") + "\n" + (r.get("text") or "")
    if 1900 <= len(text) <= 2300:
        row = json.dumps({"id": 1, "text": text}, ensure_ascii=False) + "\n"
        (work / "one.jsonl").write_text(row, encoding="utf-8")
        (work / "eleven.jsonl").write_text(row * 11, encoding="utf-8")
        print(f"text of {len(text)} characters")
        break
else:
    sys.exit("no tipdm letter of 1,900-2,300 characters")
PY
for _ in $(seq "${1:-3}"); do
  t0=$(date +%s.%N); "$triage" classify --jsonl < "$work/one.jsonl" >/dev/null 2>&1
  t1=$(date +%s.%N); "$triage" classify --jsonl < "$work/eleven.jsonl" >/dev/null 2>&1
  t2=$(date +%s.%N)
  python3 -c "print(f'one call with loading {$t1-$t0:.2f} s; per text {(($t2-$t1)-($t1-$t0))/10*1000:.0f} ms')"
done
