"""Encoding throughput: adaptlab's encoder against sentence-transformers' own `encode`, same texts.

    python bench/encode.py [--texts 4000] [--batch 64]

Goal: at least equal on the CPU; on an H100 at least 40,000 short sentences per second.
"""

from __future__ import annotations

import argparse

from common import save, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from core.backbone.embeddings import encode_texts
    from core.backbone.models import BaseModel
    from core.task.scenarios import build_scenario

    # short real sentences: kaomoji names would be too short, fortunes too long; take fortunes' first lines
    task = build_scenario("fortunes", per_class=100_000)
    texts = [t.strip().splitlines()[0][:200] for t in task.train.text][: args.texts]
    texts = (texts * (args.texts // len(texts) + 1))[: args.texts]
    base = BaseModel.load("default", device="auto", max_length=128)
    peer = SentenceTransformer(str(base.path), device=str(base.device))
    peer.max_seq_length = 128
    encode_texts(base, texts[:256], args.batch)  # warm-up: first calls pay one-off set-up
    peer.encode(texts[:256], batch_size=args.batch)

    ours, theirs = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        with timed() as t:
            mine = encode_texts(base, texts, args.batch)
        ours.append(t())
        with timed() as t:
            reference = peer.encode(texts, batch_size=args.batch, normalize_embeddings=True)
        theirs.append(t())
    agreement = float(np.min((mine * reference).sum(axis=1)))
    best_ours, best_theirs = min(ours), min(theirs)
    save("encode", f"python bench/encode.py --texts {args.texts} --batch {args.batch}",
         "at least equal to sentence-transformers on the CPU; >= 40,000 sentences/s on an H100",
         {"texts": len(texts), "adaptlab_sentences_per_s": len(texts) / best_ours,
          "sentence_transformers_sentences_per_s": len(texts) / best_theirs,
          "speedup_vs_sentence_transformers": best_theirs / best_ours,
          "min_cosine_between_the_two": agreement, "mean_chars": float(np.mean([len(t) for t in texts]))},
         notes=f"best of {args.repeats} interleaved repeats each; batch {args.batch}; max_length 128")


if __name__ == "__main__":
    main()
