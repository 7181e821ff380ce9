#!/usr/bin/env python3
"""Score the shipped dispatch model on the real government letters (TEST ONLY).

../shared/data/realworld_letters.jsonl holds real Shanghai and Beijing letters labelled with the
department ids that may answer them (best first). It is a test set: nothing may be trained or
tuned on it, so this script only reports. Following its README:
  - a department counts as right when it is among the letter's acceptable ids (top-1 and top-3);
  - topic accuracy leaves out the letters whose topic is null;
  - Beijing is reported without the bus company's letters, which are scored on their own;
  - macro-F1 and the confusion matrix use the single-department letters;
  - a Beijing district found in a Shanghai letter is a false hit, counted.

Usage: python3 scripts/eval_realworld.py [--triage PATH] [--noise RATE] [--json] [--confusion]
"""
import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from eval_beijing import add_noise, classify, confusion, macro_f1, render_confusion  # noqa: E402

DATA = ROOT.parent / "shared/data/realworld_letters.jsonl"


def score(rows, results):
    n = len(rows)
    top1 = top3 = topic_n = topic_ok = errors = districts = 0
    single = []
    for g, r in zip(rows, results):
        if r is None:
            errors += 1
            continue
        ranked = [d["id"] for d in r["departments"]]
        top1 += ranked[0] in g["departments"]
        top3 += any(d in g["departments"] for d in ranked[:3])
        if g["topic"]:
            topic_n += 1
            topic_ok += r["topics"][0]["id"] == g["topic"]
        if len(g["departments"]) == 1:
            single.append((g["departments"][0], ranked[0]))
        districts += bool(r["dispatch"]["district"])
    return {
        "letters": n,
        "errors": errors,
        "department_top1": top1 / n,
        "department_top3": top3 / n,
        "topic_accuracy": topic_ok / max(topic_n, 1),
        "topic_letters": topic_n,
        "single_department_letters": len(single),
        "single_department_top1": sum(g == p for g, p in single) / max(len(single), 1),
        "single_department_macro_f1": macro_f1(single),
        "with_a_district": districts,
    }, single


def main():
    ap = argparse.ArgumentParser()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--triage", type=Path, default=target / "release/triage")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--noise", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--confusion", action="store_true", help="print the department confusion matrix of each set")
    args = ap.parse_args()

    rows = [json.loads(l) for l in args.data.read_text(encoding="utf-8").splitlines() if l.strip()]
    if args.noise is not None:
        rows = add_noise(rows, args.noise, 7)
    out = classify(args.triage, rows)
    results = [out.get(i + 1, {}).get("result") for i in range(len(rows))]
    sets = {
        "Beijing, not the bus company": lambda r: r["city"] == "北京" and "公交" not in r["unit"],
        "Beijing, bus company": lambda r: r["city"] == "北京" and "公交" in r["unit"],
        "Shanghai": lambda r: r["city"] == "上海",
    }
    report = {}
    for name, keep in sets.items():
        picked = [(g, r) for g, r in zip(rows, results) if keep(g)]
        figures, single = score([g for g, _ in picked], [r for _, r in picked])
        report[name] = {"figures": figures, "confusion": confusion(single)}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print(f"real letters: {args.data} (test only; nothing here is tuned on it)\n")
    print("| set | letters | dept top-1 | dept top-3 | topic (letters) | single-dept top-1 / macro-F1 (letters) | a district found |")
    print("|---|---|---|---|---|---|---|")
    for name, r in report.items():
        f = r["figures"]
        print(f"| {name} | {f['letters']} | {f['department_top1']:.3f} | {f['department_top3']:.3f} | {f['topic_accuracy']:.3f} ({f['topic_letters']}) "
              f"| {f['single_department_top1']:.3f} / {f['single_department_macro_f1']:.3f} ({f['single_department_letters']}) | {f['with_a_district']} |")
    if args.confusion:
        for name, r in report.items():
            print(f"\n{name}: department confusion, single-department letters (rows gold, columns predicted)")
            print(render_confusion(r["confusion"]))


if __name__ == "__main__":
    main()
