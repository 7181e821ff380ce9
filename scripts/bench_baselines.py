#!/usr/bin/env python3
"""Encoder throughput of the baselines, measured the way `triage model bench` measures ours.

Same texts, same weights (`triage model export-hf`: our Q4_0 blocks expanded to f32), same
tokenizer.json, same "query: " prefix, same truncation, same thread count, mean pooling.

- PyTorch: Hugging Face transformers' BertModel on CPU, f32, and with dynamic int8 on every
  Linear (`torch.ao.quantization.quantize_dynamic`, qint8).
- ONNX Runtime: the same model exported with torch.onnx (opset 17), CPU execution provider,
  f32, and with dynamic int8 (`onnxruntime.quantization.quantize_dynamic`, QInt8 weights per
  channel).

Batch size 1 runs one text per call. Batch size N runs the texts N at a time, in input order
(padding to the longest of each batch, as a plain loop over a file does), and, as a second row,
sorted by length first (what our encoder does), so the comparison can be read both ways.

Prints one JSON object per measurement. Run by scripts/bench.sh inside its venv.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def load_texts(path):
    return [json.loads(l)["text"] for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]


def tokenize(tokenizer_path, texts, max_tokens):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    # add_special_tokens: <s> ... </s>, as our encoder adds them.
    return [e.ids for e in tok.encode_batch(["query: " + t for t in texts], add_special_tokens=True)]


def batches(encoded, batch_size, sort):
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i])) if sort else list(range(len(encoded)))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in idx)
        ids = np.full((len(idx), width), 1, dtype=np.int64)  # <pad> = 1
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            ids[row, :len(encoded[i])] = encoded[i]
            mask[row, :len(encoded[i])] = 1
        yield ids, mask


def mean_pool(hidden, mask):
    m = mask[..., None].astype(hidden.dtype)
    return (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)


def measure(name, run, encoded, batch_size, sort, threads, max_tokens):
    warm = list(batches(encoded[:8], min(batch_size, 8), sort))
    for ids, mask in warm:
        run(ids, mask)
    started = time.perf_counter()
    for ids, mask in batches(encoded, batch_size, sort):
        run(ids, mask)
    seconds = time.perf_counter() - started
    tokens = sum(len(e) for e in encoded)
    order = "sorted by length" if sort else "input order"
    return {
        "runtime": name + ("" if batch_size == 1 else f", {order}"),
        "batch_size": batch_size,
        "max_tokens": max_tokens,
        "threads": threads,
        "texts": len(encoded),
        "tokens": tokens,
        "seconds": seconds,
        "texts_per_second": len(encoded) / seconds,
        "tokens_per_second": tokens / seconds,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True, help="folder from `triage model export-hf`")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,32")
    ap.add_argument("--runtimes", default="torch,torch-int8,onnxruntime,onnxruntime-int8")
    ap.add_argument("--latency-text", type=Path, help="a transcript whose single-text latency is measured (median of 30 runs)")
    ap.add_argument("--parity", type=Path, help="JSON lines of our embeddings ({\"vector\"}) for the first texts; prints the cosine")
    args = ap.parse_args()

    import torch
    from transformers import BertModel

    torch.set_num_threads(args.threads)
    texts = load_texts(args.data)
    encoded = tokenize(args.model / "tokenizer.json", texts, args.max_tokens)
    from safetensors.torch import load_file
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(args.model))
    config._attn_implementation = "eager"
    model = BertModel(config, add_pooling_layer=False).eval()
    # strict: every weight of ours has its place in transformers' BERT, and none is left random.
    model.load_state_dict(load_file(str(args.model / "model.safetensors")), strict=True)

    def torch_run(ids, mask):
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        return mean_pool(out.numpy(), mask)

    if args.parity:
        ours = [json.loads(l)["vector"] for l in args.parity.read_text().splitlines() if l.strip()]
        cos = []
        for i, v in enumerate(ours):
            ids, mask = next(batches([encoded[i]], 1, False))
            t = torch_run(ids, mask)[0]
            v = np.asarray(v)
            cos.append(float(t @ v / (np.linalg.norm(t) * np.linalg.norm(v))))
        print(json.dumps({"parity_texts": len(cos), "min_cosine": min(cos), "mean_cosine": sum(cos) / len(cos)}), flush=True)

    def latency(name, run):
        text = args.latency_text.read_text(encoding="utf-8").strip()
        ids, mask = next(batches(tokenize(args.model / "tokenizer.json", [text], args.max_tokens), 1, False))
        for _ in range(3):
            run(ids, mask)
        times = []
        for _ in range(30):
            t = time.perf_counter()
            run(ids, mask)
            times.append(time.perf_counter() - t)
        times.sort()
        print(json.dumps({"latency_runtime": name, "chars": len(text), "tokens": int(ids.shape[1]), "median_ms": 1000 * times[len(times) // 2],
                          "threads": args.threads}), flush=True)

    runtimes = args.runtimes.split(",")
    sizes = [int(b) for b in args.batch_sizes.split(",")]

    def all_measurements(name, run, isa):
        print(json.dumps({"runtime_info": name, "isa": isa}), flush=True)
        if args.latency_text:
            latency(name, run)
        for b in sizes:
            for sort in ([False] if b == 1 else [False, True]):
                print(json.dumps(measure(name, run, encoded, b, sort, args.threads, args.max_tokens)), flush=True)

    # The kernels' instruction set as PyTorch reports it (ATen's dispatch; oneDNN and FBGEMM
    # choose theirs by CPUID too).
    torch_isa = f"ATen {torch.backends.cpu.get_cpu_capability()}"
    if "torch" in runtimes:
        all_measurements(f"PyTorch {torch.__version__} (transformers)", torch_run, torch_isa)

    if "torch-int8" in runtimes:
        fp32_model = model
        quantized = torch.ao.quantization.quantize_dynamic(fp32_model, {torch.nn.Linear}, dtype=torch.qint8)

        def torch_int8_run(ids, mask):
            with torch.inference_mode():
                out = quantized(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
            return mean_pool(out.numpy(), mask)

        all_measurements(f"PyTorch {torch.__version__} dynamic int8", torch_int8_run, f"{torch_isa}, {torch.backends.quantized.engine}")

    if "onnxruntime" in runtimes or "onnxruntime-int8" in runtimes:
        import onnxruntime as ort

        onnx_path = args.model / "model.onnx"
        if not onnx_path.exists():
            class Hidden(torch.nn.Module):
                """Keyword arguments only: transformers 5's forward takes others positionally."""

                def __init__(self, bert):
                    super().__init__()
                    self.bert = bert

                def forward(self, input_ids, attention_mask):
                    return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

            ids = torch.ones((2, 16), dtype=torch.long)
            torch.onnx.export(Hidden(model).eval(), (ids, torch.ones_like(ids)), str(onnx_path), input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                            "last_hidden_state": {0: "batch", 1: "seq"}})

        def session_run(path):
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

            def ort_run(ids, mask):
                out = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
                return mean_pool(out, mask)
            return ort_run

        # MLAS picks its kernels by CPUID and does not say which.
        isa = "MLAS, chosen by CPUID (not reported)"
        if "onnxruntime" in runtimes:
            all_measurements(f"ONNX Runtime {ort.__version__}", session_run(onnx_path), isa)
        if "onnxruntime-int8" in runtimes:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8_path = args.model / "model.int8.onnx"
            if not int8_path.exists():
                quantize_dynamic(str(onnx_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
            all_measurements(f"ONNX Runtime {ort.__version__} dynamic int8", session_run(int8_path), isa)


if __name__ == "__main__":
    sys.exit(main())
