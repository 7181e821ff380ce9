#!/usr/bin/env python3
"""Draw candidate case pairs from the tipdm hot-issue set for people to label as the same
matter or not (tests/data/duplicate_pairs.jsonl keeps the ids and the labels, never the texts).

Pairs are drawn across similarity bands of a character-bigram TF-IDF, so the sample holds
clear duplicates, near misses (same estate, another problem; same problem, another estate)
and easy negatives. TF-IDF, not our encoder, picks the candidates, so the sample does not
favour the model it is used to judge.

    python3 scripts/mine_duplicate_pairs.py --data ../shared/data --out /tmp/pairs.jsonl
"""
import argparse, json, math, random, collections
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="../shared/data")
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=12345)
args = ap.parse_args()

rows = [json.loads(l) for l in open(f"{args.data}/tipdm2020_hotspot_messages.jsonl", encoding="utf-8")]
docs = [(r["title"] or "") + " " + (r["text"] or "") for r in rows]
grams = [collections.Counter(d[i:i + 2] for i in range(len(d) - 1) if not d[i:i + 2].isspace()) for d in docs]
df = collections.Counter(g for c in grams for g in c)
vocab = {g: i for i, (g, n) in enumerate(df.most_common(30000)) if n >= 2}
n = len(docs)
m = np.zeros((n, len(vocab)), dtype=np.float32)
for i, c in enumerate(grams):
    for g, tf in c.items():
        j = vocab.get(g)
        if j is not None:
            m[i, j] = (1 + math.log(tf)) * math.log(n / df[g])
m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-9
sim = m @ m.T
np.fill_diagonal(sim, -1)
iu = np.triu_indices(n, 1)
vals = sim[iu]
rng = random.Random(args.seed)
bands = [(0.6, 1.01, 90), (0.4, 0.6, 80), (0.25, 0.4, 50), (0.12, 0.25, 30)]
out = []
for lo, hi, k in bands:
    idx = np.nonzero((vals >= lo) & (vals < hi))[0].tolist()
    for t in rng.sample(idx, min(k, len(idx))):
        a, b = int(iu[0][t]), int(iu[1][t])
        out.append({"a": rows[a]["id"], "b": rows[b]["id"], "tfidf": round(float(vals[t]), 3)})
rng.shuffle(out)
with open(args.out, "w", encoding="utf-8") as f:
    for p in out:
        f.write(json.dumps(p, ensure_ascii=False) + "\n")
print(len(out), "pairs ->", args.out)
