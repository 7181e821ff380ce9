#!/usr/bin/env python3
"""Score the dispatch model on every dev set, clean and with speech-to-text slips: the figures
settings are chosen by (docs/accuracy.md). Never the reported sets (independent*.jsonl,
holdout.jsonl, the real letters).

The dev sets: models/examples/dev_blind*.jsonl, and the old dev calls (the rows of
transcripts_a..h that scripts/build_beijing_data.py holds out as its dev split; the later
files' dev rows are left out, as they were when those figures were first taken).

Usage: python3 scripts/eval_dev.py [--noise RATE ...] [--triage PATH]
  TRIAGE_HEADS_DIR=DIR and TRIAGE_WEIGHTS=f32 work as for eval_beijing.py.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from build_beijing_data import transcript_split  # noqa: E402

FIGURES = [("topic", "topic_accuracy"), ("dept first", "department_top1"), ("dept top 3", "department_top3"),
           ("urgent recall", "urgent_recall"), ("precision", "urgent_precision"), ("hand-off", "handoff_accuracy")]


def old_dev_calls(out):
    with open(out, "w", encoding="utf-8") as f:
        for name in "abcdefgh":
            for line in open(ROOT / f"models/examples/transcripts_{name}.jsonl", encoding="utf-8"):
                if line.strip() and transcript_split(json.loads(line)["id"]) == "dev":
                    f.write(line if line.endswith("\n") else line + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--noise", type=float, nargs="*", default=[0.1], help="slip rates besides clean (default 0.1)")
    ap.add_argument("--triage", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp, "dev_old.jsonl")
        old_dev_calls(old)
        sets = sorted((ROOT / "models/examples").glob("dev_blind*.jsonl")) + [old]
        print("| dev set | slips | " + " | ".join(n for n, _ in FIGURES) + " |")
        print("|---|---|" + "---|" * len(FIGURES))
        for path in sets:
            rows = sum(1 for l in open(path, encoding="utf-8") if l.strip())
            name = f"{path.stem} ({rows})" if path != old else f"old dev calls ({rows})"
            for rate in [None, *args.noise]:
                cmd = [sys.executable, str(ROOT / "scripts/eval_beijing.py"), "--data", str(path), "--json"]
                cmd += ["--noise", str(rate)] if rate is not None else []
                cmd += ["--triage", str(args.triage)] if args.triage else []
                figures = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["figures"]
                print(f"| {name} | {'none' if rate is None else f'{rate:.0%}'} | "
                      + " | ".join(f"{figures.get(k, float('nan')):.3f}" for _, k in FIGURES) + " |")


if __name__ == "__main__":
    main()
