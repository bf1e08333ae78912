"""One optimiser step's forward and backward, however the batch has to be cut to fit: the stepper both loops use.

A batch is sorted by length and cut into micro-batches where padding saved outweighs another call
(length_split); a batch is packed into a few rows instead where the model allows (a classifier:
core/training/packed.py; a decoder: core/training/sft.py); on out-of-memory the micro-batches halve. The
gradients always add up to the whole batch's, so the optimisation is the same whichever way a step ran; the run
record says how.
"""

from __future__ import annotations

import numpy as np
import torch
from accelerate.utils.memory import should_reduce_batch_size

# What one more forward/backward call costs beyond its tokens (Python, dispatch, kernel launches), in padded
# tokens of the default model. CPU: measured on 2 cores, a step of 16 random fortunes went from 0.47 s unsplit to
# 0.35 / 0.33 / 0.31 / 0.33 s at 16 / 32 / 64 / 128 (the same gradient). CUDA: small models are launch-bound, so
# a split must save thousands of padded tokens to pay; 2048 is a cautious setting, not yet measured on a GPU.
SPLIT_OVERHEAD_TOKENS = {"cpu": 64, "cuda": 2048}
DEFAULT_SPLIT_OVERHEAD_TOKENS = 2048


def length_split(sorted_lengths: np.ndarray, most: int, overhead_tokens: float) -> list[tuple[int, int]]:
    """Cut one batch, sorted by length, into micro-batches [start, end) of at most `most` examples.

    Each micro-batch pads only to its own longest example, so a batch of mostly short texts with a
    few long ones stops paying the long length for every row. The cut minimises padded tokens plus
    `overhead_tokens` per micro-batch (dynamic programming over the sorted lengths). The optimiser
    still sees the whole batch: the micro-batches' gradients add up to the batch's gradient.
    """
    n = len(sorted_lengths)
    if n <= most and n * sorted_lengths[-1] - sorted_lengths.sum() <= overhead_tokens:
        return [(0, n)]  # any cut costs another call and saves at most this much padding: the usual case on a GPU
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        starts = np.arange(max(0, end - most), end)
        costs = best[starts] + overhead_tokens + (end - starts) * float(sorted_lengths[end - 1])
        pick = int(np.argmin(costs))  # ties take the earliest start: fewer, larger micro-batches
        best[end], cut[end] = costs[pick], starts[pick]
    bounds, end = [], n
    while end > 0:
        bounds.append((int(cut[end]), end))
        end = cut[end]
    return bounds[::-1]


# oneDNN, which runs some CPU kernels, reports a failed allocation (among rarer failures) only as this
ONEDNN_FAILED = "could not create a primitive"


def out_of_memory(error: RuntimeError) -> bool:
    """Whether a step failed for want of memory: CUDA or MPS (torch.OutOfMemoryError), or the CPU, whose
    allocator raises a plain RuntimeError (accelerate's check knows the messages)."""
    return isinstance(error, torch.OutOfMemoryError) or should_reduce_batch_size(error) or ONEDNN_FAILED in str(error)


class MicroBatchStepper:
    """Forward and backward over one batch, as micro-batches cut by length; on out-of-memory, halve them.

    The batch is sorted by length and cut where padding saved outweighs the cost of another call
    (length_split); out of memory halves the largest micro-batch allowed. Either way the gradients
    accumulate to the whole batch's, so the optimisation stays the same; the run record says what
    happened (micro-batches per step, out-of-memory retries).
    """

    def __init__(self, model, base, encoded: list[list[int]], labels: torch.Tensor | None, batch_size: int,
                 forward=None, collate=None, packer=None):
        self.model, self.base, self.encoded, self.labels = model, base, encoded, labels
        # collate(indices) -> tensors for one micro-batch; the default pads a classifier's inputs and adds its labels
        self.collate = collate or self._classifier_batch
        self.forward = model if forward is None else forward  # a torch.compile'd view of the same weights, if asked
        self.micro_batch = batch_size
        self.oom_retries = 0
        self.tokens = self.padded_tokens = self.sequences = 0  # what was trained on, for throughput
        self.lengths = np.array([len(ids) for ids in encoded])
        self.overhead_tokens = SPLIT_OVERHEAD_TOKENS.get(base.device.type, DEFAULT_SPLIT_OVERHEAD_TOKENS)
        self.steps = self.calls = 0
        self.pin = base.device.type == "cuda"  # pinned host memory makes the non-blocking copy truly async
        self.packer, self.batching = None, "micro-batches"  # see pack()
        self.make_packer = packer  # the decoder's: () -> (its packer or None, how its batches run)

    def pack(self) -> None:
        """Train on packed rows (core.training.packed) where the model's packed logits equal its padded ones.

        The loop asks this of every stepper, whichever backbone: today a classifier trained eagerly packs, and a
        compiled forward keeps the micro-batches, `batching` saying so. A decoder packs with the packer its caller
        gives (core/training/sft.py: the loss on answer tokens is its own); the loop does not change."""
        from core.training.packed import packed_classifier

        if self.forward is not self.model:
            return
        if self.make_packer is not None:
            self.packer, self.batching = self.make_packer()
        elif self.collate == self._classifier_batch:
            self.packer, self.batching = packed_classifier(self.model, self.base.tokenizer.pad_token_id, self.encoded,
                                                          self.base.device)

    def step(self, batch_idx: np.ndarray) -> torch.Tensor:
        while True:
            try:
                return self._packed(batch_idx) if self.packer is not None else self._accumulate(batch_idx)
            except RuntimeError as error:  # torch.OutOfMemoryError is one
                if not out_of_memory(error):
                    raise
                self.model.zero_grad(set_to_none=True)
                if self.base.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.packer is not None:  # a packed batch is one call: fall back to micro-batches, which can halve
                    self.packer, self.batching = None, "micro-batches: packing ran out of memory"
                    self.oom_retries += 1
                    continue
                if self.micro_batch == 1:
                    raise MemoryError("the model does not fit in device memory even one example at a time; "
                                      "lower model.max_length or use a smaller model") from None
                self.micro_batch = max(1, self.micro_batch // 2)
                self.oom_retries += 1

    def _accumulate(self, batch_idx: np.ndarray) -> torch.Tensor:
        total = torch.zeros((), device=self.base.device)
        dtype = self.base.autocast_dtype
        ordered = batch_idx[np.argsort(self.lengths[batch_idx], kind="stable")]
        bounds = length_split(self.lengths[ordered], self.micro_batch, self.overhead_tokens)
        for start, end in bounds:
            chunk = ordered[start:end]
            batch = self.collate(chunk)
            if self.pin:
                batch = {k: v.pin_memory() for k, v in batch.items()}
            batch = {k: v.to(self.base.device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(self.base.device.type, dtype=dtype, enabled=dtype is not None):
                loss = self.forward(**batch).loss * (len(chunk) / len(batch_idx))  # mean over the whole batch
            loss.backward()
            total += loss.detach()
            self.tokens += int(self.lengths[chunk].sum())
            self.padded_tokens += batch["input_ids"].numel()
            self.sequences += len(chunk)
        self.steps += 1
        self.calls += len(bounds)
        return total

    def _packed(self, batch_idx: np.ndarray) -> torch.Tensor:
        dtype = self.base.autocast_dtype
        with torch.autocast(self.base.device.type, dtype=dtype, enabled=dtype is not None):
            loss, padded = (self.packer.batch_loss(batch_idx) if self.make_packer is not None
                            else self._classifier_loss(batch_idx))
        loss.backward()
        self.tokens += int(self.lengths[batch_idx].sum())
        self.padded_tokens += padded
        self.sequences += len(batch_idx)
        self.steps += 1
        self.calls += 1
        return loss.detach()

    def _classifier_loss(self, batch_idx: np.ndarray) -> tuple[torch.Tensor, int]:
        tensors, rows, starts, padded = self.packer.inputs([self.encoded[i] for i in batch_idx])
        if self.pin:
            tensors = {k: v.pin_memory() for k, v in tensors.items()}
        tensors = {k: v.to(self.base.device, non_blocking=True) for k, v in tensors.items()}
        logits = self.packer.logits(tensors, rows, starts)
        return torch.nn.functional.cross_entropy(logits.float(), self.labels[batch_idx].to(logits.device)), padded

    def _classifier_batch(self, chunk: np.ndarray) -> dict:
        batch = self.base.tokenizer.pad({"input_ids": [self.encoded[i] for i in chunk]}, return_tensors="pt")
        batch["labels"] = self.labels[chunk]
        return batch

    def record(self) -> dict:
        return {"micro_batch_size": self.micro_batch, "oom_retries": self.oom_retries, "batching": self.batching,
                "micro_batches_per_step": round(self.calls / self.steps, 2) if self.steps else None,
                "padding_efficiency": round(self.tokens / self.padded_tokens, 3) if self.padded_tokens else None}
