#!/usr/bin/env python3
"""Replay the tipdm hot-issue set through the service with synthetic dispatch events, and
report the rates and drift alarms (docs/kpis.md).

    python3 scripts/kpi_replay.py [--out docs/kpis-tipdm]

1. Serve on a throw-away SQLite file and classify each of the 4,326 messages with its id and
   its own `submitted` time, as a call centre would as they arrive.
2. Write the steps a call centre would report, seeded: dispatched to the first suggestion;
   one time in ten it was wrong, so the department returns it (退单) and it is redispatched to
   the second suggestion; responded within 2 to 48 hours; resolved 85% of the time within
   1 to 10 days; a satisfaction rating. **The injected shift**: in the last 7 days before
   2020-01-01, six in ten of the cases first sent to the most common department are wrong.
3. Load the steps with `triage cases import` (the path another ticket system's export takes),
   and write the report with `triage kpis --report`.

The dispatch events are synthetic: the rates show what the report and the alarms do, not how
a real centre performs.
"""
import argparse
import collections
import concurrent.futures
import datetime
import http.client
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from local_server import serving

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/hotline-triage/target"))
DATA = ROOT.parent / "shared/data/tipdm2020_hotspot_messages.jsonl"
CITY = datetime.timezone(datetime.timedelta(hours=8))
END = datetime.datetime(2020, 1, 1, tzinfo=CITY)


def parse(t):
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(t, fmt).replace(tzinfo=CITY)
        except ValueError:
            pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs/kpis-tipdm")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    triage = TARGET / "release/triage"
    rows = [json.loads(l) for l in open(DATA)]
    rows = [(parse(r["submitted"]), r) for r in rows]
    rows = sorted([(t, r) for t, r in rows if t and datetime.datetime(2019, 1, 1, tzinfo=CITY) <= t < END], key=lambda x: x[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/replay.sqlite3"
        with serving(triage, env={"TRIAGE_FEEDBACK_DB": db, "TRIAGE_CASE_RETENTION_DAYS": "3650"}) as port:

            def classify(item):
                t, r = item
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                body = {"text": f"{r['title']}\n{r['text']}"[:5000], "id": r["id"], "submitted": t.strftime("%Y-%m-%d %H:%M:%S")}
                c.request("POST", "/v1/classify", json.dumps(body), {"content-type": "application/json"})
                a = json.loads(c.getresponse().read())
                return t, r["id"], [d["id"] for d in a["departments"]]

            # In arrival order, a few at a time (grouping is causal, as in production).
            started = time.time()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                classified = list(pool.map(classify, rows))
            print(f"classified {len(classified)} messages in {time.time() - started:.0f} s")

        rng = random.Random(args.seed)
        first_counts = collections.Counter(s[0] for _, _, s in classified)
        target = first_counts.most_common(1)[0][0]
        shift_from = END - datetime.timedelta(days=7)
        steps = []
        fmt = lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
        for t, cid, suggested in classified:
            first = suggested[0]
            second = suggested[1] if len(suggested) > 1 else None
            wrong_p = 0.6 if (first == target and t >= shift_from) else 0.1
            at = t + datetime.timedelta(minutes=10)
            steps.append({"case_id": cid, "event_id": f"{cid}-d", "type": "dispatched", "department": first, "operator_id": f"op-{rng.randint(1, 40)}", "at": fmt(at)})
            if second and rng.random() < wrong_p:
                steps.append({"case_id": cid, "event_id": f"{cid}-r", "type": "returned", "department": first, "reason": "不属于本单位职责", "at": fmt(at + datetime.timedelta(hours=4))})
                at = at + datetime.timedelta(hours=5)
                steps.append({"case_id": cid, "event_id": f"{cid}-x", "type": "redispatched", "department": second, "at": fmt(at)})
            responded = at + datetime.timedelta(hours=rng.uniform(2, 48))
            steps.append({"case_id": cid, "event_id": f"{cid}-p", "type": "responded", "at": fmt(responded)})
            resolved = rng.random() < 0.85
            closed = responded + datetime.timedelta(days=rng.uniform(1, 10))
            steps.append({"case_id": cid, "event_id": f"{cid}-c", "type": "resolved" if resolved else "unresolved", "at": fmt(closed)})
            u = rng.random()
            rating = ("满意" if u < 0.7 else "基本满意" if u < 0.9 else "不满意") if resolved else ("不满意" if u < 0.7 else "基本满意")
            steps.append({"case_id": cid, "event_id": f"{cid}-s", "type": "satisfaction", "rating": rating, "at": fmt(closed + datetime.timedelta(hours=6))})
        # A few malformed rows, as real exports have: they go to the errors file.
        steps.append({"case_id": "nobody", "event_id": "x-1", "type": "dispatched", "department": target})
        steps.append({"case_id": classified[0][1], "event_id": "x-2", "type": "satisfaction", "rating": "很好"})
        events = Path(tmp) / "steps.jsonl"
        events.write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in steps) + "\n", encoding="utf-8")
        errors = Path(tmp) / "errors.jsonl"
        imp = subprocess.run([str(triage), "cases", "import", "--input", str(events), "--errors", str(errors), "--db", db], cwd=ROOT, capture_output=True, text=True, check=True)
        print("import:", imp.stdout.strip(), "| errors:", [json.loads(l)["code"] for l in open(errors)])
        again = subprocess.run([str(triage), "cases", "import", "--input", str(events), "--errors", str(errors), "--db", db], cwd=ROOT, capture_output=True, text=True, check=True)
        print("import again:", again.stdout.strip())
        rep = subprocess.run([str(triage), "kpis", "--report", str(args.out), "--from", "2019-01-01 00:00:00", "--to", "2020-01-01 00:00:00", "--db", db], cwd=ROOT, capture_output=True, text=True, check=True)
        subprocess.run([str(triage), "kpis", "--report", str(Path(tmp) / "before"), "--from", "2019-01-01 00:00:00", "--to", "2019-12-25 00:00:00", "--db", db], cwd=ROOT, capture_output=True, text=True, check=True)
        drift_before = (Path(tmp) / "before/kpis.md").read_text(encoding="utf-8").split("## Drift")[1].split("\n## ")[0]
        alarms_before = [l for l in drift_before.splitlines() if l.startswith("| ") and not l.startswith("| department")]
        print("drift alarms in the week to 2019-12-25, before the shift:", len(alarms_before), alarms_before)
        print("most common first department (the injected shift):", target)
        print("overall:", rep.stdout.strip())
        print("report:", args.out / "kpis.md")


if __name__ == "__main__":
    main()
