#!/usr/bin/env python3
"""Writes a HellaSwag-shaped JSONL file (Zellers' hellaswag_val.jsonl fields) for timing
`gemma-rt eval --task hellaswag`: each item a ~60-word context and 4 endings of ~15 words,
cut from an English text, as real HellaSwag items are shaped (a long shared context, short
endings). Deterministic for a given text and seed; the labels are arbitrary (this is for
speed, not accuracy).

    python3 bench/hellaswag_like.py /usr/share/common-licenses/GPL-3 200 > /tmp/hs.jsonl
"""
import json
import random
import sys


def main():
    text_path, items = sys.argv[1], int(sys.argv[2])
    words = open(text_path, encoding="utf-8").read().split()
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    for i in range(items):
        start = rng.randrange(0, len(words) - 200)
        ctx = " ".join(words[start:start + 60])
        endings = []
        for _ in range(4):
            at = rng.randrange(0, len(words) - 20)
            endings.append(" ".join(words[at:at + 15]))
        print(json.dumps({"ind": i, "activity_label": "synthetic", "ctx_a": ctx, "ctx_b": "",
                          "ctx": ctx, "split": "val", "split_type": "indomain",
                          "label": rng.randrange(4), "endings": endings,
                          "source_id": f"synthetic-{i}"}))


if __name__ == "__main__":
    main()
