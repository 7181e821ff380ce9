#!/usr/bin/env python3
"""Score the shipped dispatch model on held-out Beijing call transcripts.

Runs `triage classify --jsonl` over a file of transcripts with gold labels (default
models/examples/holdout.jsonl, written like the training transcripts but never trained on) and
prints the figures the default model is judged by: topic accuracy, primary department top-1 and
top-3, district accuracy where the caller names one, urgent recall (and precision), appeal type;
then topic and department macro-F1 and topic top-3, and the topic confusion matrix.

Rows may also carry `topics_ok` / `departments_ok` (other answers a dispatcher accepts first),
`handoff` (110 / 119 / 120 for urgent calls) and `style`; the figures then add the lenient topic
and department scores, hand-off accuracy, and one line per style.

--noise RATE passes the calls through ../shared/tools/asr_noise.py first (same-sound swaps at
RATE, punctuation dropped, fixed seed), as a speech-to-text engine would hand them over.

Usage: python3 scripts/eval_beijing.py [--data FILE] [--noise RATE] [--triage PATH] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT / "models/examples/holdout.jsonl")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--triage", type=Path, default=target / "release/triage")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--noise", type=float, default=None, help="same-sound swap rate; drops punctuation (0 drops punctuation only)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    gold = [json.loads(l) for l in args.data.read_text(encoding="utf-8").splitlines() if l.strip()]
    if args.noise is not None:
        gold = add_noise(gold, args.noise, args.seed)
    results = classify(args.triage, gold)
    n = len(gold)
    topic = dept1 = dept3 = appeal = 0
    districts = district_ok = 0
    urgent_gold = urgent_hit = urgent_pred = urgent_true_pred = 0
    misses = []
    topic_pairs, dept_pairs = [], []
    topic3 = topic_ok = dept_ok = 0
    handoff_gold = handoff_hit = 0
    styles = defaultdict(lambda: defaultdict(int))
    for i, g in enumerate(gold, start=1):
        r = results[i].get("result")
        if r is None:
            misses.append((g["id"], "error", results[i].get("error")))
            continue
        topic += r["topics"][0]["id"] == g["topic"]
        topic_ok += r["topics"][0]["id"] in [g["topic"], *g.get("topics_ok", [])]
        dept_ok += r["dispatch"]["department"] in [g["department"], *g.get("departments_ok", [])]
        if g.get("handoff"):
            handoff_gold += 1
            handoff_hit += (r.get("handoff") or {}).get("line") == g["handoff"]
        s = styles[g.get("style", "all")]
        s["cases"] += 1
        s["topic"] += r["topics"][0]["id"] == g["topic"]
        s["department_top1"] += r["dispatch"]["department"] == g["department"]
        s["department_top3"] += g["department"] in [d["id"] for d in r["departments"]][:3]
        s["urgent"] += bool(g.get("urgent"))
        s["urgent_hit"] += bool(g.get("urgent")) and bool(r["urgent"])
        topic3 += g["topic"] in [t["id"] for t in r["topics"][:3]]
        topic_pairs.append((g["topic"], r["topics"][0]["id"]))
        dept_pairs.append((g["department"], r["dispatch"]["department"]))
        top = [d["id"] for d in r["departments"]]
        dept1 += r["dispatch"]["department"] == g["department"]
        dept3 += g["department"] in top[:3]
        if r["dispatch"]["department"] != g["department"]:
            misses.append((g["id"], g["department"], r["dispatch"]["department"]))
        if r.get("appeal_type"):
            appeal += r["appeal_type"]["id"] == g["appeal_type"]
        if g.get("district"):
            districts += 1
            district_ok += r["dispatch"]["district"] == g["district"]
        if g.get("urgent"):
            urgent_gold += 1
            urgent_hit += bool(r["urgent"])
        if r["urgent"]:
            urgent_pred += 1
            urgent_true_pred += bool(g.get("urgent"))
    figures = {
        "cases": n,
        "topic_accuracy": topic / n,
        "department_top1": dept1 / n,
        "department_top3": dept3 / n,
        "district_accuracy": district_ok / max(districts, 1),
        "district_cases": districts,
        "urgent_recall": urgent_hit / max(urgent_gold, 1),
        "urgent_precision": urgent_true_pred / max(urgent_pred, 1),
        "urgent_cases": urgent_gold,
        "appeal_type_accuracy": appeal / n,
        "topic_top3": topic3 / n,
        "topic_macro_f1": macro_f1(topic_pairs),
        "department_macro_f1": macro_f1(dept_pairs),
        "topic_acceptable": topic_ok / n,
        "department_acceptable_first": dept_ok / n,
        "handoff_accuracy": handoff_hit / max(handoff_gold, 1),
        "handoff_cases": handoff_gold,
    }
    by_style = {k: {"cases": v["cases"], "topic": v["topic"] / v["cases"], "department_top1": v["department_top1"] / v["cases"],
                    "department_top3": v["department_top3"] / v["cases"], "urgent_recall": v["urgent_hit"] / v["urgent"] if v["urgent"] else None}
                for k, v in sorted(styles.items())}
    if args.json:
        print(json.dumps({"figures": figures, "by_style": by_style, "department_misses": misses, "topic_confusion": confusion(topic_pairs)}, ensure_ascii=False, indent=2))
        return
    targets = {"topic_accuracy": 0.85, "department_top3": 0.90, "department_top1": 0.70, "district_accuracy": 0.95, "urgent_recall": 0.90}
    print(f"held-out transcripts: {args.data} ({n} cases)\n")
    print("| figure | value | target |\n|---|---|---|")
    for k, v in figures.items():
        if isinstance(v, float):
            t = targets.get(k)
            print(f"| {k} | {v:.3f} | {'>= %.2f' % t if t else ''} |")
    print(f"\n{figures['district_cases']} cases name a district; {figures['urgent_cases']} are urgent; {figures['handoff_cases']} carry a hand-off line.")
    if len(by_style) > 1:
        print("\n| style | cases | topic | department top-1 | department top-3 | urgent recall |\n|---|---|---|---|---|---|")
        for k, v in by_style.items():
            recall = "" if v["urgent_recall"] is None else f"{v['urgent_recall']:.3f}"
            print(f"| {k} | {v['cases']} | {v['topic']:.3f} | {v['department_top1']:.3f} | {v['department_top3']:.3f} | {recall} |")
    print("\nmisrouted (id, gold, predicted):")
    for m in misses[:40]:
        print("  ", *m)
    print("\ntopic confusion (rows gold, columns predicted; numbered as listed):")
    print(render_confusion(confusion(topic_pairs)))


def classify(triage, rows):
    """`triage classify --jsonl` over the rows: {line number: its output line}."""
    proc = subprocess.run([str(triage), "classify", "--jsonl", "--top-k", "3"], input="\n".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) for r in rows),
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    return {r["line"]: r for r in map(json.loads, proc.stdout.splitlines())}


def add_noise(gold, rate, seed):
    """The rows as a speech-to-text engine would give them: the shared tool's same-sound swaps."""
    tool = ROOT.parent / "shared/tools/asr_noise.py"
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.jsonl"), Path(tmp, "out.jsonl")
        src.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in gold), encoding="utf-8")
        subprocess.run([sys.executable, str(tool), str(src), str(dst), str(rate), "--strip-punct", "--seed", str(seed)], check=True)
        return [json.loads(l) for l in dst.read_text(encoding="utf-8").splitlines() if l.strip()]


def macro_f1(pairs):
    """Mean F1 over the gold classes (a class never in gold but predicted counts as F1 0)."""
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    f1s = []
    for c in labels:
        tp = sum(g == c and p == c for g, p in pairs)
        fp = sum(g != c and p == c for g, p in pairs)
        fn = sum(g == c and p != c for g, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s) if f1s else 0.0


def confusion(pairs):
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    index = {l: i for i, l in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for g, p in pairs:
        counts[index[g]][index[p]] += 1
    return {"labels": labels, "counts": counts}


def render_confusion(m):
    labels, counts = m["labels"], m["counts"]
    width = max(len(l) for l in labels)
    lines = ["".join([" " * (width + 5)] + [f"{j + 1:>4}" for j in range(len(labels))])]
    for i, (label, row) in enumerate(zip(labels, counts)):
        lines.append(f"{i + 1:>3}  {label:<{width}}" + "".join(f"{c:>4}" if c else "   ." for c in row))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
