"""How inference batches are cut: texts sorted by token count, a token budget per call where that is faster."""

from __future__ import annotations

import numpy as np
import torch

from core.backbone.models import native_bf16
from core.cancel import check_cancelled

# Padded tokens per inference call, which also bounds a call's activations however long the texts (the attention
# scores grow with the square of their length). On the CPU the best budget depends on its arithmetic. Where bf16 is
# native (AVX512-BF16, AMX) smaller calls run faster per text (their activations stay in cache): on 2 cores, 500
# fortunes through the default model's classifier took about 1.4 s at 768-1024 tokens a call against 1.6-1.8 s in
# batches of 64, and their sentence embeddings 1.39 s against 2.0 s. In fp32 (AVX2 only) 1,024 is too small for
# chunks of documents: 384 chunks of 105 tokens on average embedded in 157 s at 1,024 against 80 s at 4,096 and
# 92 s at 8,192 (2 shared cores under load, 2026-12-07), as sentence-transformers' 32 texts a call would hold them.
BF16_CPU_TOKENS, FP32_CPU_TOKENS = 1024, 4096


def cpu_inference_tokens(bf16_native: bool) -> int:
    """The CPU's token budget per inference call, by whether it computes bf16 natively (measured on each kind)."""
    return BF16_CPU_TOKENS if bf16_native else FP32_CPU_TOKENS


# Other devices take their batch size a call.
INFERENCE_TOKENS = {"cpu": cpu_inference_tokens(native_bf16(torch.device("cpu")))}


def inference_batches(sorted_lengths: np.ndarray, most: int, tokens: int | None) -> list[slice]:
    """Consecutive runs of length-sorted texts: at most `most` texts, and at most `tokens` padded tokens a batch
    where a budget is given (a batch of one may exceed it)."""
    batches, start, n = [], 0, len(sorted_lengths)
    while start < n:
        end = min(n, start + most)
        if tokens is not None:  # padded size of [start, e) is (e - start) * sorted_lengths[e - 1]
            fits = np.arange(start + 1, end + 1)
            fits = fits[(fits - start) * sorted_lengths[fits - 1] <= tokens]
            end = int(fits[-1]) if len(fits) else start + 1
        batches.append(slice(start, end))
        start = end
    return batches


def sorted_batches(encoded: list[list[int]], most: int, device_type: str) -> list[np.ndarray]:
    """The positions of `encoded` (token ids per text) in inference batches of similar length, shortest first."""
    lengths = np.array([len(ids) for ids in encoded])
    order = np.argsort(lengths, kind="stable")
    return [order[part] for part in inference_batches(lengths[order], most, INFERENCE_TOKENS.get(device_type))]


def padded_batches(tokenizer, texts: list[str], max_length: int, most: int, device):
    """(positions in `texts`, the padded batch on `device`) for each inference batch: texts tokenized once, then
    padded in batches of similar token length (sorted_batches)."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    for idx in sorted_batches(encoded, most, device.type):
        check_cancelled()  # a cancelled job stops before its next batch (core/cancel.py)
        yield idx, tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(device)
