#!/usr/bin/env python3
"""Check labelled call transcripts before they are trained on or frozen as a test set.

Every row must:
  - parse as JSON and carry id, text, topic, department, appeal_type, urgent, district, street;
  - use topic and department ids from models/taxonomy.toml (also in topics_ok / departments_ok),
    an appeal type the heads know, and a hand-off line of 110, 119, 120 or null;
  - name only places from models/places/beijing.csv, with the street inside the district, and
    say the place in the text (the full name, its short form, the same sounds for a speech-to-text
    slip, or a landmark the row names in `landmark` that settles the district);
  - not repeat an id or a text, nor be a near copy (character 4-gram Jaccard >= 0.6) of a row in
    the files given with --against (so a test set shares nothing with the training files).

Usage: python3 scripts/check_transcripts.py FILE [FILE...] [--against FILE...]
Exits 1 and lists every problem when any row fails.
"""
import argparse
import csv
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPEAL_TYPES = {"consultation", "complaint", "report", "help", "suggestion", "praise"}
HANDOFFS = {"110", "119", "120", None}
STYLES = {"first_person", "dialogue", "dialogue_late", "summary", "asr"}
REQUIRED = ("id", "text", "topic", "department", "appeal_type", "urgent", "district", "street")
# Suffixes a caller drops: 朝阳区 -> 朝阳, 望京街道 -> 望京, 马坡镇 -> 马坡.
SUFFIXES = ("街道", "地区", "区", "镇", "乡")


# Abbreviations callers use that no suffix rule gives.
ABBREVIATIONS = {"广安门内街道": "广内", "广安门外街道": "广外"}


def short_forms(name):
    forms = {name}
    if name in ABBREVIATIONS:
        forms.add(ABBREVIATIONS[name])
    # Ethnic townships go by their place name: 于家务回族乡 -> 于家务.
    ethnic = re.sub(r"((回|满|蒙古)族)+乡$", "", name)
    if ethnic != name and len(ethnic) >= 2:
        forms.add(ethnic)
    for s in SUFFIXES:
        if name.endswith(s) and len(name) - len(s) >= 2:
            forms.add(name[: -len(s)])
    return forms


def sounds(text):
    """Every reading of each character (朝 is zhao and chao), or None without pypinyin."""
    try:
        from pypinyin import Style, pinyin
    except ImportError:
        return None
    return [set(r) for r in pinyin(text, style=Style.NORMAL, heteronym=True)]


def heard_in(name, text):
    want, heard = sounds(name), sounds(text)
    if want is None or heard is None:
        return False
    return any(all(w & heard[i + k] for k, w in enumerate(want)) for i in range(len(heard) - len(want) + 1))


def grams(text, n=4):
    t = re.sub(r"\s+", "", text)
    return {t[i : i + n] for i in range(max(len(t) - n + 1, 1))}


def load_places():
    districts, streets = set(), {}
    with open(ROOT / "models/places/beijing.csv", encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if row["level"] == "district":
                districts.add(row["name"])
            elif row["level"] == "street":
                streets.setdefault(row["name"], set()).add(row["district"])
    return districts, streets


def said(name, text, landmark=None):
    if landmark and landmark in text:
        return True
    return any(f in text for f in short_forms(name)) or any(heard_in(f, text) for f in short_forms(name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--against", nargs="*", type=Path, default=[])
    args = ap.parse_args()

    taxonomy = tomllib.loads((ROOT / "models/taxonomy.toml").read_text(encoding="utf-8"))
    topics = {t["id"] for t in taxonomy["topics"]}
    departments = {d["id"] for d in taxonomy["departments"]}
    districts, streets = load_places()

    problems, seen_ids, seen_texts, rows = [], set(), {}, []
    for path in args.files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON ({e})")
                continue
            missing = [k for k in REQUIRED if k not in r]
            if missing:
                problems.append(f"{where}: missing {', '.join(missing)}")
                continue
            text = r["text"]
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where}: empty text")
                continue
            if r["id"] in seen_ids:
                problems.append(f"{where}: id {r['id']} repeated")
            seen_ids.add(r["id"])
            if text in seen_texts:
                problems.append(f"{where}: same text as {seen_texts[text]}")
            seen_texts[text] = where
            for t in [r["topic"], *r.get("topics_ok", [])]:
                if t not in topics:
                    problems.append(f"{where}: unknown topic {t!r}")
            for d in [r["department"], *r.get("departments_ok", [])]:
                if d not in departments:
                    problems.append(f"{where}: unknown department {d!r}")
            if r["appeal_type"] not in APPEAL_TYPES:
                problems.append(f"{where}: unknown appeal type {r['appeal_type']!r}")
            if not isinstance(r["urgent"], bool):
                problems.append(f"{where}: urgent must be true or false")
            if r.get("handoff") not in HANDOFFS:
                problems.append(f"{where}: hand-off {r.get('handoff')!r} is not 110, 119, 120 or null")
            if r.get("handoff") and not r["urgent"]:
                problems.append(f"{where}: a hand-off on a call that is not urgent")
            if "style" in r and r["style"] not in STYLES:
                problems.append(f"{where}: unknown style {r['style']!r}")
            if r["district"] is not None:
                if r["district"] not in districts:
                    problems.append(f"{where}: unknown district {r['district']!r}")
                elif not said(r["district"], text, r.get("landmark")) and not (r["street"] and said(r["street"], text)):
                    problems.append(f"{where}: district {r['district']} is not said in the text")
            if r["street"] is not None:
                if r["street"] not in streets:
                    problems.append(f"{where}: unknown street {r['street']!r}")
                elif r["district"] not in streets[r["street"]]:
                    problems.append(f"{where}: street {r['street']} is not in {r['district']}")
                elif not said(r["street"], text):
                    problems.append(f"{where}: street {r['street']} is not said in the text")
            rows.append((where, grams(text)))

    others = []
    for path in args.against:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                others.append((f"{path.name}:{n}", grams(json.loads(line)["text"])))
    for where, g in rows:
        for other, h in others:
            if len(g & h) / max(len(g | h), 1) >= 0.6:
                problems.append(f"{where}: near copy of {other}")
    # Near copies inside the checked files themselves.
    for i, (where, g) in enumerate(rows):
        for other, h in rows[i + 1 :]:
            if len(g & h) / max(len(g | h), 1) >= 0.6:
                problems.append(f"{other}: near copy of {where}")

    for p in problems:
        print(p)
    print(f"{len(rows)} rows checked, {len(problems)} problems", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
