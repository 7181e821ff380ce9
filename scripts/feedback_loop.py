#!/usr/bin/env python3
"""The operators' feedback loop, end to end: correct -> export -> retrain -> better.

1. Starts `triage serve` on a fresh feedback database.
2. Plays operators over the letters' *test* split (Jiamusi and Dalian, never trained on): each
   letter is classified through POST /v1/classify, and the operator's decision, the letter's
   real department, goes to POST /v1/feedback: accepted with its rank when it was among the
   three suggestions, picked from the list otherwise.
3. `triage feedback stats` and `triage feedback export --only-corrections`.
4. Splits the corrections in two by a hash of the case id: one half is added to the department
   head's training data (`triage train`, same flags as scripts/train_beijing.sh); the other half
   is never trained on.
5. Scores old and new heads on both halves, on the whole letters test split minus the learned
   half, and on the held-out Beijing transcripts.

Usage: python3 scripts/feedback_loop.py [--work DIR] [--limit N]
Needs the Beijing training data: python3 scripts/build_beijing_data.py (train_beijing.sh runs it).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_server import serving

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotline-triage"
TRIAGE = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "release/triage"


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body, ensure_ascii=False).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def classify_file(rows, heads_dir):
    """Primary department per row, through `triage classify --jsonl` with the given heads."""
    env = dict(os.environ, TRIAGE_HEADS_DIR=str(heads_dir), RUST_LOG="warn")
    lines = "\n".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) for r in rows)
    out = subprocess.run([str(TRIAGE), "classify", "--jsonl", "--top-k", "3"], input=lines, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return [json.loads(l)["result"]["dispatch"]["department"] for l in out.stdout.splitlines()]


def accuracy(rows, heads_dir, field="label"):
    if not rows:
        return float("nan")
    preds = classify_file(rows, heads_dir)
    return sum(p == r[field] for p, r in zip(preds, rows)) / len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=CACHE / "feedback-loop")
    ap.add_argument("--data", type=Path, default=CACHE / "beijing-data")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test letters (0: all)")
    args = ap.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    dept_rows = [json.loads(l) for l in (args.data / "department.jsonl").open(encoding="utf-8")]
    letters = [r for r in dept_rows if r["split"] == "test" and r["source"] != "transcript"]
    for i, r in enumerate(letters):
        r["id"] = f"{r['source'].split('_')[0]}-test-{i:05d}"
    if args.limit:
        letters = letters[: args.limit]

    # 1-2. Operators decide, through the real HTTP API.
    db = args.work / "feedback.sqlite3"
    with serving(TRIAGE, ["--feedback-db", db]) as port:
        started = time.time()
        for i, r in enumerate(letters, 1):
            status, res = post(port, "/v1/classify", {"text": r["text"], "id": r["id"], "top_k": 3})
            if status != 200:
                sys.exit(f"classify failed for {r['id']}: {status} {res}")
            suggested = [d["id"] for d in res["departments"]]
            decision = {"case_id": r["id"], "text": r["text"], "suggested": suggested, "chosen": r["label"], "operator_id": "replay"}
            if r["label"] in suggested:
                decision["accepted_rank"] = suggested.index(r["label"]) + 1
            status, res = post(port, "/v1/feedback", decision)
            if status != 201:
                sys.exit(f"feedback failed for {r['id']}: {status} {res}")
            if i % 200 == 0:
                print(f"  {i}/{len(letters)} decisions ({i / (time.time() - started):.1f}/s)", file=sys.stderr)

    # 3. What the supervisors see, and the export.
    stats = json.loads(subprocess.run([str(TRIAGE), "feedback", "stats", "--db", str(db)], capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    corrections_file = args.work / "corrections.jsonl"
    subprocess.run([str(TRIAGE), "feedback", "export", "--only-corrections", "--db", str(db), "--out", str(corrections_file)], check=True, cwd=ROOT)
    corrections = [json.loads(l) for l in corrections_file.open(encoding="utf-8")]

    # 4. Half the corrections are learned from, half only checked.
    def half(cid):
        return "learn" if hashlib.sha256(cid.encode()).digest()[0] < 128 else "check"

    learn = [c for c in corrections if half(c["id"]) == "learn"]
    check = [c for c in corrections if half(c["id"]) == "check"]
    learned_ids = {c["id"] for c in learn}
    train_file = args.work / "department.jsonl"
    with train_file.open("w", encoding="utf-8") as f:
        for r in dept_rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for c in learn:
            # The same weight as a written transcript: two copies (see build_beijing_data.py).
            for _ in range(2):
                f.write(json.dumps({"text": c["text"], "label": c["label"], "split": "train", "source": "feedback"}, ensure_ascii=False) + "\n")
    heads = args.work / "heads"
    shutil.copytree(ROOT / "models/heads", heads)
    shutil.rmtree(heads / "department")
    subprocess.run([str(TRIAGE), "train", "--data", str(train_file), "--text-fields", "text", "--label-field", "label", "--split-field", "split",
                    "--out", str(heads / "department"), "--name", "beijing-department+feedback", "--epochs", "30", "--patience", "8",
                    "--review-target-accuracy", "0.9", "--class-balance", "0.5", "--fusion", "joint", "--l2", "0"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    # 5. Before and after.
    holdout = [json.loads(l) for l in (ROOT / "models/examples/holdout.jsonl").open(encoding="utf-8")]
    unseen = [r for r in letters if r["id"] not in learned_ids]
    old, new = ROOT / "models/heads", heads
    table = [
        ("corrected cases learned from", len(learn), accuracy(learn, old), accuracy(learn, new)),
        ("corrected cases never trained on", len(check), accuracy(check, old), accuracy(check, new)),
        ("letters test split minus the learned half", len(unseen), accuracy(unseen, old), accuracy(unseen, new)),
        ("held-out Beijing transcripts", len(holdout), accuracy(holdout, old, "department"), accuracy(holdout, new, "department")),
    ]
    print(f"\ndecisions: {stats['cases']}; acceptance {stats['acceptance_rate']:.3f}, top-1 agreement {stats['top1_agreement']:.3f}, "
          f"top-3 agreement {stats['top3_agreement']:.3f}; corrections exported: {len(corrections)}")
    print("most corrected: " + ", ".join(f"{c['department']} ({c['corrections']})" for c in stats["most_corrected"][:5]))
    print("\n| primary department accuracy on | cases | shipped heads | retrained with feedback |\n|---|---|---|---|")
    for name, n, a, b in table:
        print(f"| {name} | {n} | {a:.3f} | {b:.3f} |")


if __name__ == "__main__":
    main()
