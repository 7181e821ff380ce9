#!/usr/bin/env python3
"""Which lexical terms a linear model should keep: the head's own term families rebuilt in Python
(jieba words and word pairs, characters 1-3 within runs, pairs of the characters' toneless
sounds, as src/model/lexical.rs makes them) and fitted with scikit-learn on tipdm's train split,
scored on dev and test. Reproduces the table in docs/accuracy.md, "Lexical terms".

Needs scikit-learn, jieba and pypinyin (pip install scikit-learn jieba pypinyin). About ten
minutes on two cores. Usage: python3 scripts/lexical_terms_check.py
"""
import collections
import json
import re
import warnings
from pathlib import Path

import jieba
from pypinyin import lazy_pinyin
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

warnings.filterwarnings("ignore")
jieba.setLogLevel(60)
DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/tipdm2020_messages.jsonl"
rows = [json.loads(line) for line in open(DATA, encoding="utf-8")]
splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "dev", "test")}
sounds = {}


def terms(text):
    """Words with word pairs, characters, sounds: the three families."""
    words = [w for w in jieba.lcut(text) if any(c.isalnum() for c in w)]
    w = ["w:" + x for x in words] + [f"b:{a}|{b}" for a, b in zip(words, words[1:])]
    c, p = [], []
    for run in filter(None, re.split(r"[^\w]+", text)):
        for n in (1, 2, 3):
            c += ["c:" + run[i:i + n] for i in range(len(run) - n + 1)]
        py = [sounds.setdefault(ch, lazy_pinyin(ch)[0] if "\u4e00" <= ch <= "\u9fff" else None) for ch in run]
        p += [f"p:{a}|{b}" for a, b in zip(py, py[1:]) if a and b]
    return w + c + p


docs = {s: [terms(r["title"] + "\n" + r["text"]) for r in rs] for s, rs in splits.items()}
df, occurrences = collections.Counter(), collections.Counter()
for d in docs["train"]:
    df.update(set(d))
    occurrences.update(d)
family = {"w": 0, "b": 0, "c": 1, "p": 2}


def vocabulary(rank, per_family, total=None):
    kept = sorted((t for t, n in df.items() if n >= 2), key=lambda t: (-rank[t], t))
    if total is not None:
        return set(kept[:total])
    out = set()
    for f in range(3):
        out |= set([t for t in kept if family[t[0]] == f][:per_family])
    return out


def run(label, vocab, model):
    # Each family is TF-IDF weighted and L2-normalised on its own, as the head does.
    vecs = [TfidfVectorizer(analyzer=(lambda f: lambda d: [t for t in d if t in vocab and family[t[0]] == f])(f), sublinear_tf=True) for f in range(3)]
    X = {s: hstack([(v.fit_transform if s == "train" else v.transform)(docs[s]) for v in vecs]).tocsr() for s in ("train", "dev", "test")}
    model.fit(X["train"], [r["label"] for r in splits["train"]])
    cells = []
    for s in ("dev", "test"):
        gold, pred = [r["label"] for r in splits[s]], model.predict(X[s])
        cells.append(f"{accuracy_score(gold, pred):.3f} / {f1_score(gold, pred, average='macro'):.3f}")
    print(f"| {label} | {len(vocab):,} | {cells[0]} | {cells[1]} |", flush=True)


print("| tipdm, our own terms, scikit-learn | terms | dev acc / macro-F1 | test acc / macro-F1 |")
print("|---|---|---|---|")
lr = lambda: LogisticRegression(C=30, max_iter=3000)
run("logistic regression (C=30), one ranking by document frequency, 50,000", vocabulary(df, 0, total=50000), lr())
run("the same, a third from each family, by document frequency", vocabulary(df, 17000), lr())
run("the same, a third from each family, by occurrences", vocabulary(occurrences, 17000), lr())
every = vocabulary(df, 10**9)
run("logistic regression, every term", every, lr())
run("linear SVM (C=0.5), every term", every, LinearSVC(C=0.5))
