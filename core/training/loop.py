"""The one training loop LoRA, full fine-tuning and from-scratch share.

AdamW with linear warmup and decay, length-grouped batches with dynamic padding, gradient
clipping, bf16 autocast, early stopping on the validation split (the best weights are restored),
and a time budget checked at every step boundary. A classifier's batch is packed into a few rows
(core/training/packed.py) where its architecture allows; otherwise, and for the decoder's
fine-tuning, a batch is cut into micro-batches by length where that saves more than it costs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from accelerate.utils.memory import should_reduce_batch_size

from core.backbone.batching import padded_batches
from core.training.throughput import throughput

if TYPE_CHECKING:  # core.methods imports this module: importing it back at run time would be a cycle
    from core.methods.base import FitContext

MAX_EARLY_STOP_EXAMPLES = 1000  # validation examples used for early stopping; more costs time, adds little
EVALUATIONS_PER_RUN = 8  # how often the validation split is checked over a run
GROUPING_WINDOW = 50  # batches sorted by length together; below this many per epoch, batches stay random
# What one more forward/backward call costs beyond its tokens (Python, dispatch, kernel launches), in padded
# tokens of the default model. CPU: measured on 2 cores, a step of 16 random fortunes went from 0.47 s unsplit to
# 0.35 / 0.33 / 0.31 / 0.33 s at 16 / 32 / 64 / 128 (the same gradient). CUDA: small models are launch-bound, so
# a split must save thousands of padded tokens to pay; 2048 is a cautious setting, not yet measured on a GPU.
SPLIT_OVERHEAD_TOKENS = {"cpu": 64, "cuda": 2048}
DEFAULT_SPLIT_OVERHEAD_TOKENS = 2048


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, then sort within windows of 50 batches so a batch pads to similar lengths.

    A training set smaller than one window gets plain random batches: sorting it whole would make
    every batch one band of lengths, and where length goes with the label (it often does) a few
    dozen steps on such batches train markedly worse (measured: bench/grid_vs_trainer.py). Padding
    costs little on so few examples.
    """
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    window = batch_size * GROUPING_WINDOW
    if len(order) < window:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


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


@dataclass(frozen=True)
class StepPlan:
    batch_size: int
    steps_per_epoch: int
    epochs: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def plan_steps(examples: int, batch_size: int, max_epochs: int, min_steps: int) -> StepPlan:
    """The budget rule every trained run follows (and the estimate counts): max_epochs, but at least min_steps."""
    batch = max(1, min(batch_size, examples))
    per_epoch = max(1, math.ceil(examples / batch))
    return StepPlan(batch, per_epoch, max(max_epochs, math.ceil(min_steps / per_epoch)))


def optimiser_and_schedule(model: torch.nn.Module, lr: float, settings, device: torch.device, total_steps: int):
    """AdamW (fused) with linear warmup and decay: the same for the encoder and the decoder loops."""
    from transformers import get_linear_schedule_with_warmup

    optimizer = _optimizer(model, lr, settings.weight_decay, device)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)


def evaluation_interval(total_steps: int) -> int:
    """Steps between validation checks: at most EVALUATIONS_PER_RUN checks, the last at the final step."""
    return max(1, math.ceil(total_steps / EVALUATIONS_PER_RUN))


@dataclass
class TrainedClassifier:
    """A fine-tuned sequence classifier (a peft model for LoRA) ready to predict."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    max_length: int
    batch_size: int
    autocast_dtype: torch.dtype | None
    trainable_parameters: int
    total_parameters: int
    details: dict = field(default_factory=dict)

    @torch.inference_mode()
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, in batches of texts of similar token length (core.backbone.batching)."""
        self.model.eval()
        out = np.empty((len(texts), self.model.config.num_labels), dtype=np.float32)
        for idx, batch in padded_batches(self.tokenizer, texts, self.max_length, self.batch_size, self.device):
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                logits = self.model(**batch).logits
            out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def save(self, folder: Path) -> None:
        # peft models save only the adapter (+ trained head); plain models save every weight.
        self.model.save_pretrained(folder, safe_serialization=True)


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

    def __init__(self, model, base, encoded: list[list[int]], labels: torch.Tensor | None, batch_size: int, forward=None,
                 collate=None):
        self.model, self.base, self.encoded, self.labels = model, base, encoded, labels
        # collate(indices) -> tensors for one micro-batch; the default pads a classifier's inputs and adds its labels
        self.collate = collate or self._classifier_batch
        self.forward = model if forward is None else forward  # a torch.compile'd view of the same weights, when asked for
        self.micro_batch = batch_size
        self.oom_retries = 0
        self.tokens = self.padded_tokens = self.sequences = 0  # what was trained on, for throughput
        self.lengths = np.array([len(ids) for ids in encoded])
        self.overhead_tokens = SPLIT_OVERHEAD_TOKENS.get(base.device.type, DEFAULT_SPLIT_OVERHEAD_TOKENS)
        self.steps = self.calls = 0
        self.pin = base.device.type == "cuda"  # pinned host memory makes the non-blocking copy truly async
        self.packer, self.batching = None, "micro-batches"  # see pack()

    def pack(self) -> None:
        """Train on packed rows (core.training.packed) where the model's packed logits equal its padded ones:
        a classifier trained eagerly; a compiled forward or a custom collate keeps the micro-batches."""
        from core.training.packed import packed_classifier

        if self.collate == self._classifier_batch and self.forward is self.model:
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
        tensors, rows, starts, padded = self.packer.inputs([self.encoded[i] for i in batch_idx])
        if self.pin:
            tensors = {k: v.pin_memory() for k, v in tensors.items()}
        tensors = {k: v.to(self.base.device, non_blocking=True) for k, v in tensors.items()}
        dtype = self.base.autocast_dtype
        with torch.autocast(self.base.device.type, dtype=dtype, enabled=dtype is not None):
            logits = self.packer.logits(tensors, rows, starts)
            loss = torch.nn.functional.cross_entropy(logits.float(), self.labels[batch_idx].to(logits.device))
        loss.backward()
        self.tokens += int(self.lengths[batch_idx].sum())
        self.padded_tokens += padded
        self.sequences += len(batch_idx)
        self.steps += 1
        self.calls += 1
        return loss.detach()

    def _classifier_batch(self, chunk: np.ndarray) -> dict:
        batch = self.base.tokenizer.pad({"input_ids": [self.encoded[i] for i in chunk]}, return_tensors="pt")
        batch["labels"] = self.labels[chunk]
        return batch

    def record(self) -> dict:
        return {"micro_batch_size": self.micro_batch, "oom_retries": self.oom_retries, "batching": self.batching,
                "micro_batches_per_step": round(self.calls / self.steps, 2) if self.steps else None,
                "padding_efficiency": round(self.tokens / self.padded_tokens, 3) if self.padded_tokens else None}


def _accuracy(classifier: TrainedClassifier, texts: list[str], labels: np.ndarray) -> float:
    if not texts:  # no validation examples (a budget of one per class): no early stop, the last weights are kept
        return 0.0
    return float((classifier.predict_proba(texts).argmax(1) == labels).mean())


def _early_stop_subset(ctx: FitContext) -> tuple[list[str], np.ndarray]:
    if len(ctx.val_texts) <= MAX_EARLY_STOP_EXAMPLES:
        return ctx.val_texts, ctx.val_labels
    keep = np.random.default_rng(0).choice(len(ctx.val_texts), MAX_EARLY_STOP_EXAMPLES, replace=False)
    return [ctx.val_texts[i] for i in keep], ctx.val_labels[keep]


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            # biases and LayerNorm weights are not decayed (standard for transformers)
            (no_decay if param.ndim < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel for the whole update (on a 2-core CPU 12 ms a step instead of 69 for the default model)
    return torch.optim.AdamW(groups, lr=lr, fused=device.type in ("cuda", "cpu"))


def train_classifier(model: torch.nn.Module, ctx: FitContext, lr: float) -> TrainedClassifier:
    """Train `model` on ctx's training subset within ctx.config.budget; return the best checkpoint."""
    from core.methods.base import count_parameters

    settings, budget, base = ctx.config.training, ctx.config.budget, ctx.base
    model.to(base.device)
    trainable, total = count_parameters(model)
    encoded = base.tokenizer(ctx.train_texts, truncation=True, max_length=base.max_length)["input_ids"]
    labels = torch.as_tensor(ctx.train_labels, dtype=torch.long)
    plan = plan_steps(len(encoded), settings.batch_size, budget.max_epochs, budget.min_steps)
    batch_size, epochs, total_steps = plan.batch_size, plan.epochs, plan.total_steps
    eval_every = evaluation_interval(total_steps)
    optimizer, schedule = optimiser_and_schedule(model, lr, settings, base.device, total_steps)
    classifier = TrainedClassifier(model, base.tokenizer, base.device, base.max_length, settings.eval_batch_size,
                                   base.autocast_dtype, trainable, total)
    val_texts, val_labels = _early_stop_subset(ctx)
    rng = np.random.default_rng(ctx.seed)
    trained_keys = {name for name, param in model.named_parameters() if param.requires_grad}
    best_accuracy, best_state, best_step, stale = -1.0, None, 0, 0
    step, started, losses, stop_reason = 0, time.perf_counter(), [], "completed"

    # lengths vary from batch to batch: dynamic shapes, or it would recompile for every new length
    compiled = torch.compile(model, dynamic=True) if settings.compile else None
    compile_note = "compiled" if compiled is not None else "eager"
    stepper = MicroBatchStepper(model, base, encoded, labels, batch_size, forward=compiled)
    stepper.pack()
    train_seconds = 0.0  # the step loop alone (no validation), for throughput
    for epoch in range(epochs):
        model.train()
        for batch_idx in length_grouped_batches(stepper.lengths, batch_size, rng):
            tick = time.perf_counter()
            try:
                loss = stepper.step(batch_idx)
            except Exception as error:  # compilation fails at the first call (no compiler, an unsupported op)
                if compiled is None or step > 0:
                    raise
                model.zero_grad(set_to_none=True)
                stepper.forward, compiled = model, None
                compile_note = f"eager: torch.compile failed ({type(error).__name__}: {str(error)[:200]})"
                loss = stepper.step(batch_idx)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            train_seconds += time.perf_counter() - tick
            step += 1
            if step % eval_every == 0 or step == total_steps:
                losses.append(float(loss))  # reading the loss syncs the device: only at evaluation points
                accuracy = _accuracy(classifier, val_texts, val_labels)
                model.train()
                stale = 0 if accuracy > best_accuracy else stale + 1  # only a real gain resets the patience
                if accuracy >= best_accuracy:  # a tie keeps the later, longer-trained weights
                    best_accuracy, best_step = accuracy, step
                    # only trained weights need restoring: for LoRA, the adapter and head
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in trained_keys}
                ctx.progress(step / total_steps, {"loss": losses[-1], "val_accuracy": accuracy, "step": step,
                                                  "steps": total_steps, "epoch": epoch + 1})
                if stale >= budget.patience and step >= budget.min_steps:  # few-shot runs get their minimum
                    stop_reason = "early_stopping"
            if time.perf_counter() - started > budget.max_train_seconds:
                stop_reason = "time_budget"
            if stop_reason != "completed":
                break
        if stop_reason != "completed":
            break

    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    classifier.details = {"steps": step, "planned_steps": total_steps, "epochs": epochs, "best_step": best_step,
                          "best_val_accuracy": best_accuracy, "stop_reason": stop_reason,
                          "losses": losses, "learning_rate": lr, "batch_size": batch_size, "execution": compile_note,
                          **stepper.record(), **throughput(model, base, stepper.tokens, stepper.padded_tokens,
                                                            stepper.sequences, train_seconds)}
    return classifier

