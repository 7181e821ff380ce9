#!/usr/bin/env python3
"""Training file for the matter head (models/heads/matter): call text -> the matter a ticket
names (油烟扰民, 暖气不热), from the hand-filled ticket sets in models/examples.

The label of a call is the matter the summary its writer typed names, found with the same list
the summary's rules use (`MATTERS` in src/dispatch/ticket/matters.rs, read from the source so
that there is one list): the first entry whose words the hand-written summary says. Calls whose
summary names no listed matter, and matters with fewer than three calls, are left out.

  python3 scripts/build_matter_data.py --out DIR     # writes DIR/matter.jsonl

Split: `tickets_test11.jsonl` is dev (early stopping, calibration); the sets written after the
head was first trained are never read: `tickets_test12.jsonl`, `tickets_test14.jsonl` and
`tickets_test15.jsonl`, on which the summary is reported, and `tickets_test13.jsonl`, the head's
first clean test and the fourteenth round's dev set (docs/tickets.md); every other ticket set is
train.
"""
import argparse
import collections
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATTERS_RS = ROOT / "src/dispatch/ticket/matters.rs"
EXAMPLES = ROOT / "models/examples"
DEV = {"tickets_test11.jsonl"}
HELD_OUT = {"tickets_test12.jsonl", "tickets_test13.jsonl", "tickets_test14.jsonl", "tickets_test15.jsonl"}
MIN_CALLS = 3


WORDS = re.compile(r'"([^"]*)"')


def read_matters():
    """`MATTERS`, and `NOT_BITTEN`, the denials `named` reads past, from the Rust source."""
    src = MATTERS_RS.read_text(encoding="utf-8")
    body = src[src.index("const MATTERS"):]
    body = body[: body.index("\n];")]
    entry = re.compile(r'^\s*\(&\[(.*?)\],\s*&\[(.*?)\],\s*"([^"]+)"\),\s*$', re.M)
    matters = [(WORDS.findall(a), WORDS.findall(b), m) for a, b, m in entry.findall(body)]
    # The list has well over a hundred entries: far fewer means the source's layout changed.
    if len(matters) < 100:
        raise SystemExit(f"read only {len(matters)} entries of MATTERS from {MATTERS_RS}: has its layout changed?")
    denials = re.search(r"const NOT_BITTEN: &\[&str\] = &\[(.*?)\];", src)
    if not denials:
        raise SystemExit(f"no NOT_BITTEN in {MATTERS_RS}: has its layout changed?")
    return matters, WORDS.findall(denials.group(1))


def named(text, matters, denials):
    """`matters::named` without its same-sound matching, which typed summaries do not need."""
    for w in denials:
        text = text.replace(w, "没事")
    for any_words, all_words, matter in matters:
        if any(w in text for w in any_words) and all(w in text for w in all_words):
            return matter
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    matters, denials = read_matters()
    rows = []
    for path in sorted(EXAMPLES.glob("tickets*.jsonl")):
        if path.name in HELD_OUT:
            continue
        split = "dev" if path.name in DEV else "train"
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            call = json.loads(line)
            label = named(call["ticket"].get("summary") or "", matters, denials)
            if label:
                rows.append({"id": call["id"], "text": call["text"], "label": label, "split": split})
    counts = collections.Counter(r["label"] for r in rows if r["split"] == "train")
    rows = [r for r in rows if counts[r["label"]] >= MIN_CALLS]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "matter.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    by_split = collections.Counter(r["split"] for r in rows)
    print(f"matter.jsonl: {len(rows)} calls ({by_split['train']} train, {by_split['dev']} dev), {len({r['label'] for r in rows})} matters")


if __name__ == "__main__":
    main()
