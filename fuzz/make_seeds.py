#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into fuzz/corpus/<target>/seed-*.

Run from anywhere: `python3 fuzz/make_seeds.py`. Seeds are small valid (and a few nearly
valid) inputs; libFuzzer mutates from there. The E5S1 images follow src/model/tiny.rs's
`e5s1_image` byte for byte, with smaller shapes so that mutations stay cheap.
"""
import json
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    (d / f"seed-{name}").write_bytes(data)


# -- text_pipeline -------------------------------------------------------------------------
TRANSCRIPTS = {
    "turns": "坐席：您好，12345市民热线，请讲。\n市民：嗯，我家楼下那个，餐馆油烟太大了，晚上噪音也很大。\n坐席：好的，请问您的地址？\n市民：长沙市雨花区东塘街道幸福小区3栋。",
    "phone": "市民:我的电话是138-1234-5678，身份证430102199001011234，车牌湘A·12345。",
    "fullwidth": "坐席：请讲。市民：ＡＢＣ小区１２３号，电话０７３１－８８８８８８８８，额，就是说暖气不热！！",
    "sites": "A市A5区人民路和解放西路交叉口，某某学校旁边的工地，晚上施工。还有城南村、幸福家园小区。",
    "mixed": "呃…　市民：那个，，噪音\t扰民\r\n坐席:嗯。\u200b市民：【电话】 010 12345678x 还有 bad\ufffd",
}
for name, text in TRANSCRIPTS.items():
    write("text_pipeline", name, text)

# -- request_json ----------------------------------------------------------------------------
REQUESTS = {
    "classify": {"text": "小区楼下餐馆油烟扰民，晚上噪音很大", "id": "C-20240501-001", "top_k": 3, "similar": 2,
                 "submitted": "2019/2/28 11:25:05"},
    "classify-min": {"text": "暖气不热"},
    "batch": {"items": [{"text": "路灯坏了", "id": "a"}, {"text": "噪音", "top_k": 1}, {"id": 7}, "x"], "top_k": 2},
    "embed": {"texts": ["孩子入学手续怎么办理", ""]},
    "segment": {"text": "坐席：您好。市民：电话13812345678"},
    "feedback": {"case_id": "C-1", "text": "油烟扰民", "suggested": ["env", "city"], "chosen": "city",
                 "operator_id": "op-7", "accepted_rank": 2, "decided_at": "2024-05-01T08:30:00+08:00"},
    "feedback-min": {"case_id": "C-2", "text": "噪音", "suggested": [], "chosen": "env", "operator_id": "op"},
    "merge": {"case_id": "C-2", "into": "C-1"},
}
for name, body in REQUESTS.items():
    write("request_json", name, json.dumps(body, ensure_ascii=False))

# -- batch_reader ----------------------------------------------------------------------------
JSONL = [
    {"id": "1", "title": "油烟", "text": "小区楼下餐馆油烟扰民", "department": "城管", "submitted": "2024-05-01T08:00:00+08:00"},
    {"id": 2, "text": "\u6696\u6c14不热", "department": "热力", "submitted": "2019/2/28 11:25:05"},
    {"id": "3", "title": "", "text": "  "},
]
write("batch_reader", "jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in JSONL) + "\n{broken\n\n[1]\n")
write("batch_reader", "csv",
      "\ufeffid,title,text,department,submitted\n"
      "1,油烟,\"第一行\n第二行，还有\"\"引号\"\"\",城管,2024-05-01 08:00\n"
      "2,,暖气不热,热力,2019/2/28 11:25:05\n"
      "3,only,three\n"
      "4,,,,\n")
write("batch_reader", "csv-crlf", "id,title,text,department,submitted\r\n5,施工,\"夜里\r\n施工\",住建,\r\n")


# -- model_container -------------------------------------------------------------------------
def e5s1(hidden, layers, heads, ffn, pieces, max_pos, type_vocab):
    vocab = len(pieces)
    b = bytearray(b"E5S1")
    b += struct.pack("<I", 1)
    b += struct.pack("<7i", hidden, layers, heads, ffn, vocab, max_pos, type_vocab)
    b += struct.pack("<f", 1e-12)
    b += struct.pack("<i", 32)
    b += struct.pack("<5i", len(pieces), 0, 2, 1, 3)
    blob = b"".join(p.encode() for p in pieces)
    b += struct.pack("<Q", len(blob))
    off = 0
    b += struct.pack("<I", 0)
    for p in pieces:
        off += len(p.encode())
        b += struct.pack("<I", off)
    b += struct.pack("<f", -1.0) * len(pieces)
    b += blob
    b += struct.pack("<i", 0) + struct.pack("<I", 0)

    h, f = hidden, ffn
    shapes = [("emb.word", [vocab, h]), ("emb.pos", [max_pos, h]), ("emb.type", [type_vocab, h]),
              ("emb.ln.w", [h]), ("emb.ln.b", [h])]
    for l in range(layers):
        for part, shape in [("q.w", [h, h]), ("q.b", [h]), ("k.w", [h, h]), ("k.b", [h]), ("v.w", [h, h]),
                            ("v.b", [h]), ("ao.w", [h, h]), ("ao.b", [h]), ("aln.w", [h]), ("aln.b", [h]),
                            ("fi.w", [f, h]), ("fi.b", [f]), ("fo.w", [h, f]), ("fo.b", [h]),
                            ("oln.w", [h]), ("oln.b", [h])]:
            shapes.append((f"l{l}.{part}", shape))
    b += struct.pack("<i", len(shapes))
    entries = []
    for i, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        q4 = len(shape) == 2 and name not in ("emb.pos", "emb.type")
        size = n // 32 * 18 if q4 else n * 4
        data = bytes((i * 31 + k * 7) & 0xFF for k in range(size))
        entries.append((name.encode(), 1 if q4 else 0, n, data))
    data_off = len(b) + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    for name, dtype, n, data in entries:
        b += struct.pack("<H", len(name)) + name + bytes([dtype]) + struct.pack("<IQQ", n, data_off, len(data))
        data_off += len(data)
    for *_, data in entries:
        b += data
    return bytes(b)


PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁query", ":"] + list("小区油烟噪音")
write("model_container", "one-layer", e5s1(32, 1, 1, 32, PIECES[:8], 2, 1))
write("model_container", "two-layers", e5s1(32, 2, 4, 64, PIECES, 4, 2))

if __name__ == "__main__":
    total = sum(p.stat().st_size for p in CORPUS.rglob("seed-*"))
    print(f"wrote seeds under {CORPUS} ({total} bytes)")
