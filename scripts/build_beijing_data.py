#!/usr/bin/env python3
"""Build the training files of the default Beijing dispatch heads.

Reads ../shared/data (never copied into the repo) and the team-written transcripts in
models/examples/, and writes three JSONL files, one per head, to OUT (default
~/.cache/hotline-triage/beijing-data, outside the repo):

  department.jsonl  transcripts + Jiamusi/Dalian letters whose raw unit maps through
                    models/aliases.toml (unmappable units, e.g. district governments, left out)
  topic.jsonl       transcripts + tipdm topics that map cleanly + mapped letters under their
                    department's primary topic (a weak label, documented in the model card)
  appeal_type.jsonl transcripts + Dalian letter_type
  urgency.jsonl     transcripts: urgent or routine (backs up the urgency rules)
  handoff.jsonl     urgent transcripts that say which line takes them: 110, 119, 120 or none
                    (the line for an emergency no rule names)

Transcripts are the target domain (spoken calls) but few, so their training rows are repeated
TRANSCRIPT_WEIGHT times; 15% of them (by a hash of the id) are the dev split. Calls reach us
through speech-to-text, so NOISY_COPIES of those repeats are heard versions instead: characters
swapped for same-sound ones (pypinyin) and punctuation dropped, as an engine writes them. The letters keep
their own train/dev/test splits. models/examples/holdout.jsonl is never read here.

Usage: python3 scripts/build_beijing_data.py [--out DIR]
"""
import argparse
import hashlib
import json
import re
import os
import random
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TRANSCRIPT_WEIGHT = 9
# (swap rate, seed) of each heard copy of a training transcript, in place of a plain repeat.
NOISY_COPIES = ((0.0, 1), (0.05, 2), (0.1, 3))
TIPDM_TOPICS = {"劳动和社会保障": "labor", "卫生计生": "health", "交通运输": "transport", "环境保护": "environment"}
LETTER_TYPES = {"咨询": "consultation", "投诉": "complaint", "举报": "report", "求助": "help", "建议": "suggestion", "表扬": "praise"}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# Operator lines such as "给您转燃气集团" name the answer; real calls are dispatched after the
# transcript is taken, so such phrases would teach the heads a shortcut that is never there.
HANDOFF = re.compile(r"转(给|到)?(燃气集团|热力集团|自来水集团|电力公司|公交集团|市[^，。；！？\s]{1,8}?(局|委|总队|集团))")


def scrub_handoff(text):
    return HANDOFF.sub("转相关部门", text)


class Heard:
    """Same-sound swaps as a speech-to-text engine makes them: a character becomes another common
    one with the same toneless pinyin. The pool is the 3,500 commonest characters of the tipdm
    letters (train split), so swaps land on characters people write."""

    def __init__(self):
        from pypinyin import Style, lazy_pinyin
        self.sound = lambda c: lazy_pinyin(c, style=Style.NORMAL)[0]
        freq = Counter()
        for row in read_jsonl(DATA / "tipdm2020_messages.jsonl"):
            if row["split"] == "train":
                freq.update(c for c in letter_text(row) if "\u4e00" <= c <= "\u9fff")
        self.by_sound = {}
        for c, _ in freq.most_common(3500):
            self.by_sound.setdefault(self.sound(c), []).append(c)

    def __call__(self, text, rate, seed):
        rng = random.Random(f"{seed}:{text}")
        out = []
        for c in text:
            if "\u4e00" <= c <= "\u9fff" and rate and rng.random() < rate:
                alts = [a for a in self.by_sound.get(self.sound(c), []) if a != c][:12]
                c = rng.choice(alts) if alts else c
            out.append(c)
        return re.sub(r"[，。！？、；：,.!?;:“”\"'（）()…]", "", "".join(out))


def transcript_split(row_id):
    return "dev" if hashlib.sha256(row_id.encode()).digest()[0] < 256 * 0.15 else "train"


# Medical insurance moved from the human-resources bureaus to new 医疗保障局 in the 2018 reform;
# Jiamusi's letters still went to 人社局, but in Beijing 市医保局 answers them. A letter about
# medical insurance alone is relabelled; one that also raises pensions, wages or jobs is ambiguous
# and left out of the department and topic heads.
MEDICAL_INSURANCE = ("医保", "医疗保险", "新农合", "医疗保障", "居民医疗")
OTHER_SOCIAL_SECURITY = ("养老", "工资", "失业", "工伤", "就业", "劳动", "退休金", "社保")


def medical_insurance_relabel(dept, text):
    """The department a mapped letter trains under, or None to leave it out."""
    if dept != "human_resources_social_security" or not any(w in text for w in MEDICAL_INSURANCE):
        return dept
    if any(w in text for w in OTHER_SOCIAL_SECURITY):
        return None
    return "healthcare_security"


def letter_text(row):
    return "\n".join(x for x in (row.get("title", ""), row.get("text", "")) if x)


def main():
    ap = argparse.ArgumentParser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    ap.add_argument("--out", type=Path, default=cache / "hotline-triage" / "beijing-data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    taxonomy = tomllib.loads((ROOT / "models/taxonomy.toml").read_text(encoding="utf-8"))
    aliases = tomllib.loads((ROOT / "models/aliases.toml").read_text(encoding="utf-8"))["aliases"]
    departments = {d["id"] for d in taxonomy["departments"]}
    # A department's primary topic: the first topic that lists it first, else the first that lists it.
    primary = {}
    for rank in range(10):
        for t in taxonomy["topics"]:
            if len(t["departments"]) > rank:
                primary.setdefault(t["departments"][rank], t["id"])

    transcripts = []
    # Every transcripts_*.jsonl file; holdout.jsonl does not match the pattern.
    for path in sorted((ROOT / "models/examples").glob("transcripts_*.jsonl")):
        transcripts.extend(read_jsonl(path))
    if not transcripts:
        sys.exit("no transcripts in models/examples/")

    heads = {"department": [], "topic": [], "appeal_type": [], "urgency": [], "handoff": []}

    def add(head, text, label, split, source, weight=1):
        for _ in range(weight if split == "train" else 1):
            heads[head].append({"text": text, "label": label, "split": split, "source": source})

    heard = Heard()
    scrubbed = 0
    for t in transcripts:
        split = transcript_split(t["id"])
        text = scrub_handoff(t["text"])
        scrubbed += text != t["text"]
        variants = [text]
        if split == "train":
            variants += [heard(text, rate, seed) for rate, seed in NOISY_COPIES]
        for head, field in (("department", "department"), ("topic", "topic"), ("appeal_type", "appeal_type")):
            add(head, text, t[field], split, "transcript", TRANSCRIPT_WEIGHT - len(variants) + 1)
            for v in variants[1:]:
                add(head, v, t[field], split, "transcript-heard")
        for v in variants:
            source = "transcript" if v is text else "transcript-heard"
            # Only the transcripts say whether a call is an emergency; the head backs up the rules.
            add("urgency", v, "urgent" if t["urgent"] else "routine", split, source)
            # Only the later files label the line (null: none applies); the first three leave it out.
            if t["urgent"] and "handoff" in t:
                add("handoff", v, t["handoff"] or "none", split, source)

    mapped = Counter()
    for name in ("jiamusi_letters.jsonl", "dalian_letters.jsonl"):
        for row in read_jsonl(DATA / name):
            dept = aliases.get(row.get("department", "").strip())
            text = letter_text(row)
            if not text:
                continue
            if dept in departments:
                dept = medical_insurance_relabel(dept, text)
            if dept in departments:
                mapped[name] += 1
                add("department", text, dept, row["split"], name)
                add("topic", text, primary[dept], row["split"], name)
            if name.startswith("dalian") and row.get("letter_type") in LETTER_TYPES:
                add("appeal_type", text, LETTER_TYPES[row["letter_type"]], row["split"], name)

    for row in read_jsonl(DATA / "tipdm2020_messages.jsonl"):
        topic = TIPDM_TOPICS.get(row["label"])
        # tipdm files medical insurance under 劳动和社会保障; our taxonomy puts it under health.
        if topic == "labor" and any(w in letter_text(row) for w in ("医保", "医疗保险", "新农合", "报销")):
            continue
        if topic:
            add("topic", letter_text(row), topic, row["split"], "tipdm2020")

    for head, rows in heads.items():
        with open(args.out / f"{head}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        by_split = Counter(r["split"] for r in rows)
        print(f"{head}: {len(rows)} rows {dict(by_split)}, {len(set(r['label'] for r in rows))} labels")
    print(f"letters mapped to departments: {dict(mapped)}; handoff phrases scrubbed from {scrubbed} transcripts")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
