#!/usr/bin/env python3
"""Turn scripts/bench.sh's results.jsonl into docs/benchmarks.md and docs/benchmarks.json."""

KEPT_START, KEPT_END = "<!-- replicas:start -->", "<!-- replicas:end -->"
import argparse
import datetime
import json
import platform
import subprocess
from pathlib import Path


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {cores} cores{mem}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--md", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--texts", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    args = ap.parse_args()
    rows = [json.loads(l) for l in args.results.read_text().splitlines() if l.strip()]
    encoder = [r for r in rows if "texts_per_second" in r]
    latency = [r for r in rows if "latency_runtime" in r]
    parity = next((r for r in rows if "parity_texts" in r), None)
    startup = next(r for r in rows if r.get("service") == "startup")
    service = [r for r in rows if r.get("service") == "classify"]
    memory = next(r for r in rows if r.get("service") == "memory")

    ours = {}
    for r in encoder:
        if r["runtime"].startswith("hotline-triage") and (r["batch_size"] not in ours or r["texts_per_second"] > ours[r["batch_size"]]["texts_per_second"]):
            ours[r["batch_size"]] = r
    for r in encoder:
        mine = ours.get(r["batch_size"])
        r["ours_over_this"] = mine["texts_per_second"] / r["texts_per_second"] if mine else None
    torch_rows = [r for r in encoder if r["runtime"].startswith("PyTorch")]
    ort_rows = [r for r in encoder if r["runtime"].startswith("ONNX")]
    torch_latency = next((r for r in latency if r["latency_runtime"].startswith("PyTorch")), None)
    c1 = next((s for s in service if s["concurrency"] == 1), None)

    def best(rs, b):
        c = [r for r in rs if r["batch_size"] == b]
        return max(c, key=lambda r: r["texts_per_second"]) if c else None

    targets = []
    if 32 in ours and best(torch_rows, 32):
        ratio = ours[32]["texts_per_second"] / best(torch_rows, 32)["texts_per_second"]
        targets.append(("encoder batch throughput >= 1.5x PyTorch (best ordering of each)", f"{ratio:.2f}x", ratio >= 1.5))
    if 32 in ours and best(ort_rows, 32):
        ratio = ours[32]["texts_per_second"] / best(ort_rows, 32)["texts_per_second"]
        targets.append(("encoder batch throughput >= ONNX Runtime (best ordering of each)", f"{ratio:.2f}x", ratio >= 1.0))
    if c1 and torch_latency:
        ok = c1["result"]["p50_ms"] <= torch_latency["median_ms"]
        targets.append((f"service p50 at concurrency 1 ({torch_latency['chars']}-char call) <= PyTorch single-text encoder time",
                        f"{c1['result']['p50_ms']:.0f} ms vs {torch_latency['median_ms']:.0f} ms", ok))
    peak_mb = memory["peak_rss_kb"] / 1024
    targets.append(("server peak RSS under load <= 500 MB", f"{peak_mb:.0f} MB", peak_mb <= 500))
    targets.append(("start-up to /readyz < 5 s", f"{startup['seconds_to_ready']:.2f} s", startup["seconds_to_ready"] < 5))

    today = datetime.date.today().isoformat()
    md = [f"# Benchmarks\n", f"Measured {today} by `scripts/bench.sh` on {machine()}; {args.threads} threads for every runtime.",
          f"Encoder: {args.texts} texts from tipdm's test split (title and body), max length 256 tokens, same f32 weights",
          "(`triage model export-hf`), same tokenizer, `query: ` prefix, mean pooling. All figures come from one invocation.\n",
          "## Targets\n", "| target | measured | met |", "|---|---|---|"]
    for name, value, ok in targets:
        md.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    md += ["\n## Encoder throughput\n",
           "Batch 32, input order: 32 texts per call as they come in the file. Sorted by length: the whole set sorted first, then",
           "batched (ours: one call with all texts; the encoder packs windows end to end, no padding, up to 1,024 tokens a pass).",
           "`ours / this` divides our best row at the same batch size by the row.\n",
           "| runtime | batch | texts/s | tokens/s | ours / this |", "|---|---|---|---|---|"]
    for r in encoder:
        ratio = f"{r['ours_over_this']:.2f}" if r["ours_over_this"] else ""
        md.append(f"| {r['runtime']} | {r['batch_size']} | {r['texts_per_second']:.2f} | {r['tokens_per_second']:.0f} | {ratio} |")
    if parity:
        md.append(f"\nSame weights, same answers: over the first {parity['parity_texts']} texts, the cosine between our embedding and "
                  f"PyTorch's is {parity['min_cosine']:.5f} at worst (mean {parity['mean_cosine']:.5f}).")
    if latency:
        md += ["\n## One 200-character call\n", "| runtime | tokens | median ms (encoder only) |", "|---|---|---|"]
        for r in latency:
            md.append(f"| {r['latency_runtime']} | {r['tokens']} | {r['median_ms']:.1f} |")
        if c1:
            md.append(f"| our service, `POST /v1/classify` end to end, p50 at concurrency 1 | | {c1['result']['p50_ms']:.1f} |")
    md += [f"\n## Service: `POST /v1/classify` with the same call, {args.seconds} s per level (wrk)\n",
           "| concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors | RSS after, MB |", "|---|---|---|---|---|---|---|"]
    for s in service:
        r = s["result"]
        md.append(f"| {s['concurrency']} | {r['requests'] / r['seconds']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{r['non_2xx_or_socket_errors']} | {s['rss_kb'] / 1024:.0f} |")
    md += [f"\nStart-up to `/readyz`: {startup['seconds_to_ready']:.2f} s (model already on disk). Memory: idle "
           f"{memory['idle_rss_kb'] / 1024:.0f} MB, peak {peak_mb:.0f} MB (VmHWM).\n"]
    args.md.parent.mkdir(parents=True, exist_ok=True)
    # Sections other scripts own (scripts/bench_replicas.py) survive a rerun of this one.
    kept = ""
    if args.md.exists():
        old = args.md.read_text(encoding="utf-8")
        start, end = old.find(KEPT_START), old.find(KEPT_END)
        if 0 <= start < end:
            kept = "\n" + old[start:end + len(KEPT_END)] + "\n"
    args.md.write_text("\n".join(md) + "\n" + kept, encoding="utf-8")
    args.json.write_text(json.dumps({"date": today, "machine": machine(), "threads": args.threads, "results": rows,
                                     "targets": [{"target": n, "measured": v, "met": ok} for n, v, ok in targets]},
                                    ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
