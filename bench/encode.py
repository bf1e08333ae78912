"""Encoding throughput: adaptlab's encoder against sentence-transformers' own `encode`, same texts.

    python bench/encode.py [--texts 4000] [--batch 64]

sentence-transformers twice, interleaved with adaptlab: at its default (fp32 weights) and loaded in bf16
(`model_kwargs={"dtype": torch.bfloat16}`, its documented way to a faster encode). Goal: at least equal to
the faster of the two on the CPU, every embedding within cosine 0.999 of the fp32 reference; on an H100 at
least 40,000 short sentences per second.
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
    import torch

    peer = SentenceTransformer(str(base.path), device=str(base.device))
    peer_bf16 = SentenceTransformer(str(base.path), device=str(base.device), model_kwargs={"dtype": torch.bfloat16})
    for model in (peer, peer_bf16):
        model.max_seq_length = 128
        model.encode(texts[:256], batch_size=args.batch)  # warm-up: first calls pay one-off set-up
    encode_texts(base, texts[:256], args.batch)

    times = {"adaptlab": [], "fp32": [], "bf16": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits every side alike
        with timed() as t:
            mine = encode_texts(base, texts, args.batch)
        times["adaptlab"].append(t())
        with timed() as t:
            reference = peer.encode(texts, batch_size=args.batch, normalize_embeddings=True)
        times["fp32"].append(t())
        with timed() as t:
            theirs_bf16 = peer_bf16.encode(texts, batch_size=args.batch, normalize_embeddings=True)
        times["bf16"].append(t())
    best = {side: min(seconds) for side, seconds in times.items()}
    save("encode", f"python bench/encode.py --texts {args.texts} --batch {args.batch}",
         "at least equal to sentence-transformers at its faster setting (fp32 or bf16) on the CPU, cosine >= 0.999; "
         ">= 40,000 sentences/s on an H100",
         {"texts": len(texts), "adaptlab_sentences_per_s": len(texts) / best["adaptlab"],
          "sentence_transformers_sentences_per_s": len(texts) / best["fp32"],
          "sentence_transformers_bf16_sentences_per_s": len(texts) / best["bf16"],
          "speedup_vs_sentence_transformers": best["fp32"] / best["adaptlab"],
          "speedup_vs_sentence_transformers_bf16": best["bf16"] / best["adaptlab"],
          "min_cosine_between_the_two": float(np.min((mine * reference).sum(axis=1))),
          "min_cosine_bf16_peer_to_fp32": float(np.min((theirs_bf16 * reference).sum(axis=1))),
          "mean_chars": float(np.mean([len(t) for t in texts]))},
         notes=f"best of {args.repeats} interleaved repeats each; batch {args.batch}; max_length 128; "
               "min_cosine_between_the_two: adaptlab against sentence-transformers in fp32")


if __name__ == "__main__":
    main()
