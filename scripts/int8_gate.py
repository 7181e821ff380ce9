#!/usr/bin/env python3
"""The accuracy gate (issue 21): int8 (or, with --weights bf16, bf16) weights against f32, same
folder, same heads.

Passes when
- the worst cosine between the two embeddings of 1,000 tipdm test texts is at least 0.995;
- `triage --weights int8 model check` (or bf16) passes;
- no head figure falls more than 0.005 below f32 on: the Beijing holdout and the independent calls
  (the shipped heads), the real letters (test only), and the test splits of tipdm (topic),
  Jiamusi and Dalian (department), with heads trained on f32 embeddings of their train splits
  as scripts/eval_shared.sh trains them.

A figure that rises by more than 0.005 is reported ("above") but does not fail: on a set of 150
calls one call is 0.0067, so a two-sided 0.005 would demand identical answers, and a gain is no
loss of accuracy. Prints one Markdown table and exits 1 if any check fails. About 20 minutes on 2 cores the first
time (the shared heads are trained once into OUT and reused).

Usage: python3 scripts/int8_gate.py [--out DIR] [--texts N] [--skip-shared] [--both-formats] [--weights int8|bf16]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/hotline-triage/target"))
TRIAGE = TARGET / "release/triage"
COSINE_FLOOR = 0.995
TOLERANCE = 0.005
SHARED = [
    ("tipdm topic", "tipdm2020_messages.jsonl", "label", 1),
    ("Jiamusi department (units >= 10)", "jiamusi_letters.jsonl", "department", 10),
    ("Dalian department (units >= 10)", "dalian_letters.jsonl", "department", 10),
]


def env(weights):
    return dict(os.environ, TRIAGE_WEIGHTS=weights, RUST_LOG="warn")


def run(cmd, weights, **kw):
    return subprocess.run([str(c) for c in cmd], env=env(weights), cwd=ROOT, check=True, capture_output=True, text=True, **kw)


def cosine_check(texts_n, other):
    texts = []
    for line in open(DATA / "tipdm2020_messages.jsonl", encoding="utf-8"):
        r = json.loads(line)
        if r["split"] == "test":
            texts.append({"id": str(len(texts)), "text": (r.get("title", "") + "\n" + r.get("text", "")).strip()})
            if len(texts) == texts_n:
                break
    stdin = "\n".join(json.dumps(t, ensure_ascii=False) for t in texts)
    vectors = {}
    for w in ("f32", other):
        started = time.time()
        lines = run([TRIAGE, "embed"], w, input=stdin).stdout.splitlines()
        vectors[w] = {j["id"]: j["vector"] for j in map(json.loads, lines)}
        print(f"embedded {len(lines)} texts in {w} in {time.time() - started:.0f} s", file=sys.stderr)
    cos = sorted(sum(a * b for a, b in zip(vectors["f32"][i], vectors[other][i])) for i in vectors["f32"])
    return cos[0], sum(cos) / len(cos), len(cos)


def figures_beijing(data, weights):
    out = run([sys.executable, "scripts/eval_beijing.py", "--data", data, "--json", "--triage", TRIAGE], weights).stdout
    f = json.loads(out)["figures"]
    keys = ["topic_accuracy", "topic_top3", "topic_macro_f1", "department_top1", "department_top3", "department_macro_f1",
            "district_accuracy", "urgent_recall", "urgent_precision", "appeal_type_accuracy"]
    return {k: f[k] for k in keys if f.get(k) is not None}


def figures_realworld(weights):
    out = run([sys.executable, "scripts/eval_realworld.py", "--json", "--triage", TRIAGE], weights).stdout
    report = json.loads(out)
    rows = {}
    for name, part in report.items():
        f = part.get("figures", {}) if isinstance(part, dict) else {}
        for k in ("department_top1", "department_top3", "topic_accuracy"):
            if isinstance(f.get(k), float):
                rows[f"{name}: {k}"] = f[k]
    return rows


def figures_shared(out_dir, name, file, field, min_count, weights, also):
    """`also`: the other weights the head also learns from (--both-formats), or None."""
    heads = out_dir / (name.split()[0].lower() + ("-both" if also == "int8" else f"-both-{also}" if also else ""))
    if not (heads / "head.json").exists():
        print(f"training the {name} head on f32 embeddings{f' and {also} ones' if also else ''} (once)", file=sys.stderr)
        run([TRIAGE, "train", "--data", DATA / file, "--label-field", field, "--split-field", "split",
             "--min-class-count", min_count, "--out", heads] + (["--also-weights", also] if also else []), "f32")
    out = run([TRIAGE, "eval", "--heads", heads, "--data", DATA / file, "--label-field", field,
               "--split-field", "split", "--split", "test", "--json"], weights).stdout
    r = json.loads(out)
    return {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "top3": r["top3_accuracy"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/hotline-triage-int8-gate"))
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--skip-shared", action="store_true", help="leave out the tipdm, Jiamusi and Dalian heads (the slow part)")
    ap.add_argument("--weights", choices=["int8", "bf16"], default="int8", help="the weights to gate against f32")
    ap.add_argument("--both-formats", action="store_true",
                    help="train the shared heads on f32 embeddings and those of --weights (`triage train --also-weights`), to "
                         "gate Beijing heads trained that way (TRIAGE_HEADS_DIR); the shipped heads learn from f32 alone")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "triage"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET)))
    failures = []
    other = args.weights
    lines = [f"| set | figure | f32 | {other} | {other} - f32 | holds |", "|---|---|---|---|---|---|"]

    worst, mean, n = cosine_check(args.texts, other)
    ok = worst >= COSINE_FLOOR
    lines.append(f"| tipdm test, {n} texts | worst cosine (mean {mean:.5f}) | 1 | {worst:.5f} | | {'yes' if ok else 'NO'} (>= {COSINE_FLOOR}) |")
    failures += [] if ok else ["cosine"]

    check = subprocess.run([str(TRIAGE), "model", "check"], env=env(other), cwd=ROOT, capture_output=True, text=True)
    ok = check.returncode == 0
    lines.append(f"| known answers | `triage --weights {other} model check` | | {'passes' if ok else 'fails'} | | {'yes' if ok else 'NO'} |")
    failures += [] if ok else ["model check: " + check.stderr.strip()[-300:]]

    sets = [
        ("Beijing holdout (150)", lambda w: figures_beijing("models/examples/holdout.jsonl", w)),
        ("independent calls (335)", lambda w: figures_beijing("models/examples/independent.jsonl", w)),
        ("real letters", figures_realworld),
    ]
    if not args.skip_shared:
        for name, file, field, min_count in SHARED:
            sets.append((f"{name}, test split", lambda w, a=(name, file, field, min_count): figures_shared(args.out, *a, w, other if args.both_formats else None)))
    for set_name, figures in sets:
        before, after = figures("f32"), figures(other)
        for k, v in before.items():
            d = after[k] - v
            ok = d >= -TOLERANCE - 1e-12
            verdict = "NO" if not ok else ("yes (above)" if d > TOLERANCE + 1e-12 else "yes")
            lines.append(f"| {set_name} | {k} | {v:.3f} | {after[k]:.3f} | {d:+.3f} | {verdict} |")
            failures += [] if ok else [f"{set_name} {k}"]
        print(f"done: {set_name}", file=sys.stderr)

    print("\n".join(lines))
    print(f"\n{'PASS' if not failures else 'FAIL: ' + '; '.join(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
