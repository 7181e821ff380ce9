#!/usr/bin/env python3
"""Same-day learning, measured by replay: operators' decisions as evidence for the next calls.

Streams the letters of one split (Jiamusi and Dalian, mapped to Beijing departments by
scripts/build_beijing_data.py) through a fresh `triage serve`, in file order, as a day's calls:
each is classified through POST /v1/classify, then the operator's decision (the letter's real
department) goes to POST /v1/feedback. Twice: with the precedents off, then on.

Reports department-first accuracy on all letters, and on the letters that **follow a correction
of the same matter**: those whose nearest earlier decided letter (cosine >= --same, the
precedents' own threshold by default) was one the model had got wrong (its decision differed from
the model's first suggestion, in the run without precedents).

    python3 scripts/same_day.py --split dev  [--min-similarity 0.89 --weight 0.5 --min-support 3]
    python3 scripts/same_day.py --split test

Choose settings on dev; report test.
"""
import argparse
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from local_server import serving

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotline-triage"
TRIAGE = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "release/triage"


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def run(letters, config, work):
    """One day's stream: (first department, nearest earlier decision's similarity and case) per letter."""
    cfg = work / "triage.toml"
    cfg.write_text(config, encoding="utf-8")
    db = work / f"feedback-{time.time_ns()}.sqlite3"
    out = []
    with serving(TRIAGE, ["--feedback-db", db], before=["--config", cfg]) as port:
        for r in letters:
            res = post(port, "/v1/classify", {"text": r["text"], "id": r["id"], "top_k": 3, "similar": 1})
            suggested = [d["id"] for d in res["departments"]]
            near = (res.get("similar_cases") or [None])[0]
            out.append({"first": suggested[0], "near": near and (near["case_id"], near["similarity"]),
                        "precedent": any("同类来电" in reason for d in res["departments"] for reason in d["reasons"])})
            decision = {"case_id": r["id"], "text": r["text"], "suggested": suggested, "chosen": r["label"], "operator_id": "replay"}
            if r["label"] in suggested:
                decision["accepted_rank"] = suggested.index(r["label"]) + 1
            post(port, "/v1/feedback", decision)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["dev", "test"], required=True)
    ap.add_argument("--data", type=Path, default=CACHE / "beijing-data")
    ap.add_argument("--min-similarity", type=float, default=0.89)
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument("--min-support", type=int, default=3)
    ap.add_argument("--same", type=float, default=0.93, help="similarity from which two letters are the same matter (the case store's duplicate threshold, 0.939, rounded)")
    args = ap.parse_args()
    same = args.same
    rows = [json.loads(l) for l in (args.data / "department.jsonl").open(encoding="utf-8")]
    letters = [r for r in rows if r["split"] == args.split and r["source"] != "transcript"]
    for i, r in enumerate(letters):
        r["id"] = f"{args.split}-{i:05d}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.time()
        before = run(letters, "[precedents]\nenabled = false\n", work)
        after = run(letters, f"[precedents]\nenabled = true\nmin_similarity = {args.min_similarity}\nweight = {args.weight}\nmin_support = {args.min_support}\n", work)
    corrected = {r["id"] for r, b in zip(letters, before) if b["first"] != r["label"]}
    follows = [i for i, b in enumerate(before) if b["near"] and b["near"][1] >= same and b["near"][0] in corrected]
    acc = lambda run_, ids: sum(run_[i]["first"] == letters[i]["label"] for i in ids) / max(1, len(ids))
    all_ids = range(len(letters))
    result = {
        "split": args.split, "letters": len(letters), "settings": {"min_similarity": args.min_similarity, "weight": args.weight, "min_support": args.min_support},
        "accuracy_before": round(acc(before, all_ids), 4), "accuracy_after": round(acc(after, all_ids), 4),
        "follow_a_correction": len(follows),
        "follow_accuracy_before": round(acc(before, follows), 4), "follow_accuracy_after": round(acc(after, follows), 4),
        "answers_with_a_precedent_reason": sum(a["precedent"] for a in after),
        "changed_right_to_wrong": sum(before[i]["first"] == letters[i]["label"] != after[i]["first"] for i in all_ids),
        "changed_wrong_to_right": sum(before[i]["first"] != letters[i]["label"] == after[i]["first"] for i in all_ids),
        "seconds": round(time.time() - started),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
