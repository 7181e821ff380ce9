#!/usr/bin/env python3
"""Score the ticket fields `triage classify` fills in (智能填单) against hand-filled tickets.

Runs `triage classify --jsonl` over `models/examples/tickets.jsonl` (160 calls, written and
filled by hand by people who saw neither the extractor nor the other examples; test data only,
never used to choose a rule) and reports, per field:

- gold: calls whose ticket has the field; filled: calls where we filled it;
- exact: of the gold calls, those we filled with exactly the gold text;
- char-F1: character-level F1 (multiset of characters), averaged over the calls where either
  side has the field (a field filled but not in gold, or missed, scores 0);
- for the address, district / street / estate / road separately.

The summary is reported as character F1 against the writer's summary; whether an operator would
accept it unedited is a judgement, recorded separately (docs/tickets.md).

Usage: python3 scripts/eval_tickets.py [--data FILE] [--triage PATH] [--json] [--show N]
"""
import argparse
import collections
import json
import os
from pathlib import Path

import eval_beijing

ROOT = Path(__file__).resolve().parent.parent
# Where `cargo build --release` puts the binary, as scripts/eval_beijing.py finds it.
DEFAULT_TRIAGE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/triage"

SPAN_FIELDS = ["estate", "road", "building", "landmark", "when", "subject", "request"]
NAME_FIELDS = ["district", "street"]
LIST_FIELDS = ["amounts", "people"]


def char_f1(gold, pred):
    """Character-level F1 of two strings (multisets of characters); 1.0 when both are empty."""
    if not gold and not pred:
        return 1.0
    if not gold or not pred:
        return 0.0
    g, p = collections.Counter(gold), collections.Counter(pred)
    overlap = sum((g & p).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def predicted_fields(ticket):
    """Our ticket as flat strings and lists, named as the gold file names them."""
    out = {}
    address = ticket.get("address") or {}
    for f in NAME_FIELDS:
        if address.get(f):
            out[f] = address[f]
    for f in ["estate", "road", "building", "landmark"]:
        if address.get(f):
            out[f] = address[f]["text"]
    for f in ["when", "subject", "request"]:
        if ticket.get(f):
            out[f] = ticket[f]["text"]
    for f in LIST_FIELDS:
        out[f] = [s["text"] for s in ticket.get(f, [])]
    out["vulnerable"] = sorted(ticket.get("vulnerable", []))
    out["contact"] = bool(ticket.get("contact"))
    if ticket.get("summary"):
        out["summary"] = ticket["summary"]
    return out


def classify(triage, rows):
    """`triage classify --jsonl` over the rows, as scripts/eval_beijing.py runs it: {id: output}."""
    return {o["id"]: o for o in eval_beijing.classify(triage, rows).values()}


def score(rows, outputs):
    stats = {}
    by_style = collections.defaultdict(lambda: collections.defaultdict(list))
    examples = collections.defaultdict(list)
    for r in rows:
        gold = r["ticket"]
        out = outputs.get(r["id"], {})
        pred = predicted_fields(out.get("result", {}).get("ticket", {}))
        for f in NAME_FIELDS + SPAN_FIELDS + ["summary"]:
            s = stats.setdefault(f, {"gold": 0, "filled": 0, "exact": 0, "f1": []})
            g, p = gold.get(f), pred.get(f)
            s["gold"] += g is not None
            s["filled"] += p is not None
            if g is not None and p == g:
                s["exact"] += 1
            if g is not None or p is not None:
                f1 = char_f1(g or "", p or "")
                s["f1"].append(f1)
                by_style[r["style"]][f].append(f1)
                if f1 < 1.0:
                    examples[f].append((r["id"], g, p))
        for f in LIST_FIELDS:
            s = stats.setdefault(f, {"gold": 0, "filled": 0, "exact": 0, "f1": []})
            g, p = gold.get(f, []), pred.get(f, [])
            s["gold"] += bool(g)
            s["filled"] += bool(p)
            s["exact"] += bool(g) and sorted(g) == sorted(p)
            if g or p:
                s["f1"].append(char_f1("".join(g), "".join(p)))
                if sorted(g) != sorted(p):
                    examples[f].append((r["id"], g, p))
        s = stats.setdefault("vulnerable", {"tp": 0, "fp": 0, "fn": 0})
        g, p = set(gold.get("vulnerable", [])), set(pred.get("vulnerable", []))
        s["tp"] += len(g & p)
        s["fp"] += len(p - g)
        s["fn"] += len(g - p)
        s = stats.setdefault("contact", {"right": 0, "n": 0})
        s["n"] += 1
        s["right"] += bool(gold.get("contact", False)) == pred["contact"]
    return stats, by_style, examples


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "models/examples/tickets.jsonl"))
    ap.add_argument("--triage", default=str(DEFAULT_TRIAGE))
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--show", type=int, default=0, help="print up to N misses per field")
    args = ap.parse_args()
    rows = [json.loads(l) for l in Path(args.data).read_text(encoding="utf-8").splitlines() if l.strip()]
    stats, by_style, examples = score(rows, classify(args.triage, rows))

    figures = {}
    for f, s in stats.items():
        if "f1" in s:
            figures[f] = {"gold": s["gold"], "filled": s["filled"], "exact": round(s["exact"] / s["gold"], 3) if s["gold"] else None,
                          "char_f1": round(sum(s["f1"]) / len(s["f1"]), 3) if s["f1"] else None}
    v = stats["vulnerable"]
    figures["vulnerable"] = {"precision": round(v["tp"] / max(1, v["tp"] + v["fp"]), 3), "recall": round(v["tp"] / max(1, v["tp"] + v["fn"]), 3)}
    c = stats["contact"]
    figures["contact"] = {"accuracy": round(c["right"] / c["n"], 3)}
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return
    print(f"hand-filled tickets: {args.data} ({len(rows)} calls)\n")
    print("| field | gold | filled | exact | char-F1 |\n|---|---|---|---|---|")
    for f in NAME_FIELDS + SPAN_FIELDS + LIST_FIELDS + ["summary"]:
        x = figures[f]
        exact = "" if x["exact"] is None else f"{x['exact']:.3f}"
        print(f"| {f} | {x['gold']} | {x['filled']} | {exact} | {x['char_f1']:.3f} |")
    print(f"\nvulnerable: precision {figures['vulnerable']['precision']:.3f}, recall {figures['vulnerable']['recall']:.3f}; "
          f"contact given: accuracy {figures['contact']['accuracy']:.3f}\n")
    fields = ["district", "estate", "road", "subject", "request", "summary"]
    print("| style | calls | " + " | ".join(f"{f} F1" for f in fields) + " |\n|---|---|" + "---|" * len(fields))
    counts = collections.Counter(r["style"] for r in rows)
    for style in sorted(by_style):
        cells = [f"{sum(by_style[style][f]) / len(by_style[style][f]):.3f}" if by_style[style][f] else "" for f in fields]
        print(f"| {style} | {counts[style]} | " + " | ".join(cells) + " |")
    for f, misses in examples.items():
        for ident, g, p in misses[: args.show]:
            print(f"  {f} {ident}: gold {g!r} / ours {p!r}")


if __name__ == "__main__":
    main()
