#!/usr/bin/env python3
"""Generate models/dict/places.txt: Beijing districts and streets/towns as a jieba user dictionary.

Source: ../shared/data/divisions/ (NBS 2023 division codes via modood/Administrative-divisions-of-China,
WTFPL). Callers name places by their short form (朝阳, 望京) as often as by the full one (朝阳区,
望京街道), so both go in; a short form of one character would split ordinary words, so it is left out.

Usage: python3 scripts/build_place_dict.py [--divisions DIR] [--province 11] [--out models/dict/places.txt]
"""
import argparse
import csv
import sys
from pathlib import Path

# Full names beat the default dictionary comfortably; short forms get less so that an ordinary
# word that merely contains a place name (e.g. 学院路 inside a longer phrase) is not forced apart.
FULL_FREQ = 20000
SHORT_FREQ = 5000
TAG = "ns"

# Only administrative suffixes are stripped: development zones and the airport have no usable short form.
STREET_SUFFIXES = ("街道", "地区", "镇", "乡")
DISTRICT_SUFFIXES = ("区",)


def short_form(name, suffixes):
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def read_rows(path, province):
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("provinceCode") == province:
                yield row["name"].strip()


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--divisions", type=Path, default=root.parent / "shared" / "data" / "divisions")
    parser.add_argument("--province", default="11", help="province code (11 = Beijing)")
    parser.add_argument("--out", type=Path, default=root / "models" / "dict" / "places.txt")
    args = parser.parse_args()

    entries = {}  # word -> freq; a word seen as both full and short name keeps the higher freq

    def add(word, freq):
        if word and not any(c.isspace() for c in word):
            entries[word] = max(freq, entries.get(word, 0))

    districts = list(read_rows(args.divisions / "areas.csv", args.province))
    streets = list(read_rows(args.divisions / "streets.csv", args.province))
    if not districts or not streets:
        sys.exit(f"no rows for province {args.province} under {args.divisions}")

    for name in districts:
        add(name, FULL_FREQ)
        add(short_form(name, DISTRICT_SUFFIXES), SHORT_FREQ)
    for name in streets:
        add(name, FULL_FREQ)
        add(short_form(name, STREET_SUFFIXES), SHORT_FREQ)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for word in sorted(entries):
            f.write(f"{word} {entries[word]} {TAG}\n")
    print(f"{args.out}: {len(entries)} entries from {len(districts)} districts and {len(streets)} streets/towns")


if __name__ == "__main__":
    main()
