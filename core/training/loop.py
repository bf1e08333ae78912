"""The one training loop: every trained method on either backbone (a classifier, a decoder's fine-tuning) runs it.

AdamW with linear warmup and decay, length-grouped batches, gradient clipping, bf16 autocast, early
stopping on a validation score (the best weights are restored), and a time budget checked at every
step boundary. What is validated, and which way is better, are arguments (`Validation`): a
classifier's accuracy, a decoder's loss. How one step's batch is cut, packed or shrunk to fit is the
stepper's business (core/training/stepper.py), so it serves both backbones alike; so do the
throughput record and `training.compile`. The loop reads a small `LoopInputs`, not a method's
FitContext, so training never imports the methods that call it.

    train_classifier(model, ctx, lr)                                 # a classifier: early-stops on accuracy
    train_decoder(model, ctx, examples, validation, lr, suffix)      # core/training/sft.py: on the loss
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from core.backbone.batching import padded_batches
from core.cancel import check_cancelled
from core.training.stepper import MicroBatchStepper, length_split, out_of_memory  # noqa: F401 (their old home)
from core.training.throughput import throughput

if TYPE_CHECKING:
    from core.backbone.models import BaseModel

MAX_EARLY_STOP_EXAMPLES = 1000  # validation examples used for early stopping; more costs time, adds little
EVALUATIONS_PER_RUN = 8  # how often the validation split is checked over a run
GROUPING_WINDOW = 50  # batches sorted by length together; below this many per epoch, batches stay random


class TrainingRun(Protocol):
    """What the loop reads of a method's run (core.methods.base.FitContext has it): named here so that training
    need not import the methods, which import it."""

    base: BaseModel
    config: Any  # core.config.ExperimentConfig: its .training settings and .budget
    seed: int
    progress: Callable[[float, dict], None]
    refit_steps: int | None  # the refit (core/running/refit.py): exactly this many steps, nothing validated


@dataclass(frozen=True)
class LoopInputs:
    """The loop's own inputs: the model's device and tokenizer, the training settings, the budget, the seed."""

    base: BaseModel
    settings: Any  # core.config.TrainingSettings: batch_size, warmup_ratio, weight_decay, max_grad_norm, compile
    budget: Any  # core.config.Budget: max_epochs, min_steps, patience, max_train_seconds
    seed: int
    progress: Callable[[float, dict], None] = lambda fraction, info: None  # (fraction done, {"loss": ...})
    # train exactly this many optimiser steps and keep the last weights, checking nothing: the refit on every
    # example, whose step count a selection run chose on held-out examples (core/running/refit.py)
    steps: int | None = None
    # (epoch, epochs planned, step, stopping) at each epoch's end: the known/unknown checkpoints
    # (core/evaluation/learning_epochs.py); its seconds count neither in the time budget nor in throughput
    epoch_end: Callable[[int, int, int, bool], None] | None = None

    @classmethod
    def of(cls, run: TrainingRun, epoch_end: Callable[[int, int, int, bool], None] | None = None) -> LoopInputs:
        return cls(run.base, run.config.training, run.config.budget, run.seed, run.progress,
                   getattr(run, "refit_steps", None), epoch_end)


@dataclass(frozen=True)
class Examples:
    """What the loop trains on: token ids, and how a micro-batch of them becomes the model's inputs."""

    ids: list[list[int]]
    labels: torch.Tensor | None = None  # a classifier's classes: the stepper pads the ids and adds them
    collate: Callable[[np.ndarray], dict] | None = None  # any other batch (the decoder's: answer tokens labelled)
    # () -> (a packer whose batch_loss(indices) is one step's loss, or None, and how batches run): the decoder's
    # (core/training/sft.py); a classifier's packer is the stepper's own
    packer: Callable[[], tuple[Any, str]] | None = None


@dataclass(frozen=True)
class Validation:
    """What early stopping reads, and which way is better."""

    name: str  # its key in progress and the record ("val_accuracy", "val_loss"); the record keeps best_<name>
    score: Callable[[float], float]  # the latest training loss -> the score now (or the loss, where none is held out)
    higher_is_better: bool
    worst: float  # the best score before the first check (what the record says if none happened)
    history: str | None = None  # the record's key for every check's score, where it keeps them

    def gain(self, score: float, best: float) -> bool:
        return score > best if self.higher_is_better else score < best

    def as_good(self, score: float, best: float) -> bool:
        return score >= best if self.higher_is_better else score <= best


def train(model: torch.nn.Module, inputs: LoopInputs, examples: Examples, lr: float, validation: Validation) -> dict:
    """Train `model` in place within the budget; restore its best-scoring weights; return what the record keeps."""
    settings, budget, base = inputs.settings, inputs.budget, inputs.base
    model.to(base.device)
    fixed = inputs.steps
    plan = plan_steps(len(examples.ids), settings.batch_size, budget.max_epochs, budget.min_steps, fixed)
    eval_every = evaluation_interval(plan.total_steps)
    optimizer, schedule = optimiser_and_schedule(model, lr, settings, base.device, plan.total_steps)
    rng = np.random.default_rng(inputs.seed)
    trained_keys = {name for name, param in model.named_parameters() if param.requires_grad}
    best, best_state, best_step, stale, scores = validation.worst, None, 0, 0, []
    step, started, losses, stop_reason = 0, time.perf_counter(), [], "completed"

    # lengths vary from batch to batch: dynamic shapes, or it would recompile for every new length
    compiled = torch.compile(model, dynamic=True) if settings.compile else None
    execution = "compiled" if compiled is not None else "eager"
    stepper = MicroBatchStepper(model, base, examples.ids, examples.labels, plan.batch_size, forward=compiled,
                                collate=examples.collate, packer=examples.packer)
    stepper.pack()
    train_seconds = 0.0  # the step loop alone (no validation), for throughput
    for epoch in range(plan.epochs):
        model.train()
        for batch_idx in length_grouped_batches(stepper.lengths, plan.batch_size, rng):
            check_cancelled()  # a cancelled job stops before its next step (core/cancel.py)
            tick = time.perf_counter()
            try:
                loss = stepper.step(batch_idx)
            except Exception as error:  # compilation fails at the first call (no compiler, an unsupported op)
                if compiled is None or step > 0:
                    raise
                model.zero_grad(set_to_none=True)
                stepper.forward, compiled = model, None
                execution = f"eager: torch.compile failed ({type(error).__name__}: {str(error)[:200]})"
                loss = stepper.step(batch_idx)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            train_seconds += time.perf_counter() - tick
            step += 1
            if step % eval_every == 0 or step == plan.total_steps:
                losses.append(float(loss))  # reading the loss syncs the device: only at evaluation points
                checked = {}
                if fixed is None:  # a refit has nothing held out: it runs its steps and keeps the last weights
                    score = validation.score(losses[-1])
                    scores.append(score)
                    checked = {validation.name: score}
                    model.train()
                    stale = 0 if validation.gain(score, best) else stale + 1  # only a real gain resets the patience
                    if validation.as_good(score, best):  # a tie keeps the later, longer-trained weights
                        best, best_step = score, step
                        # only trained weights need restoring: for LoRA, the adapter (and a classifier's head)
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()
                                      if k in trained_keys}
                inputs.progress(step / plan.total_steps, {"loss": losses[-1], **checked, "step": step,
                                                          "steps": plan.total_steps, "epoch": epoch + 1})
                if stale >= budget.patience and step >= budget.min_steps:  # few-shot runs get their minimum
                    stop_reason = "early_stopping"
            if time.perf_counter() - started > budget.max_train_seconds:
                stop_reason = "time_budget"
            if stop_reason != "completed" or step >= plan.total_steps:  # a refit's count may end inside an epoch
                break
        stopping = stop_reason != "completed" or step >= plan.total_steps
        if inputs.epoch_end is not None:
            paused = time.perf_counter()
            with torch.no_grad():
                inputs.epoch_end(epoch + 1, plan.epochs, step, stopping)
            started += time.perf_counter() - paused  # the time budget is the training's
        if stopping:
            break

    if fixed is not None:
        best, best_step = None, step  # nothing validated: the weights kept are the last step's
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    return {"steps": step, "planned_steps": plan.total_steps, "epochs": plan.epochs, "best_step": best_step,
            f"best_{validation.name}": best, **({validation.history: scores} if validation.history else {}),
            "stop_reason": stop_reason, "losses": losses, "learning_rate": lr, "batch_size": plan.batch_size,
            "execution": execution, **stepper.record(),
            **throughput(model, base, stepper.tokens, stepper.padded_tokens, stepper.sequences, train_seconds)}


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


@dataclass(frozen=True)
class StepPlan:
    batch_size: int
    steps_per_epoch: int
    epochs: int
    steps: int | None = None  # a refit's chosen count, which may end inside the last epoch

    @property
    def total_steps(self) -> int:
        return self.steps if self.steps is not None else self.epochs * self.steps_per_epoch


def plan_steps(examples: int, batch_size: int, max_epochs: int, min_steps: int, steps: int | None = None) -> StepPlan:
    """The budget rule every trained run follows (and the estimate counts): max_epochs, but at least min_steps;
    or, for a refit, exactly `steps` (its warmup and decay span those steps, as Trainer's max_steps does)."""
    batch = max(1, min(batch_size, examples))
    per_epoch = max(1, math.ceil(examples / batch))
    if steps is not None:
        return StepPlan(batch, per_epoch, math.ceil(steps / per_epoch), steps)
    return StepPlan(batch, per_epoch, max(max_epochs, math.ceil(min_steps / per_epoch)))


def optimiser_and_schedule(model: torch.nn.Module, lr: float, settings, device: torch.device, total_steps: int):
    """AdamW (fused) with linear warmup and decay: the same for the encoder and the decoder loops."""
    from transformers import get_linear_schedule_with_warmup

    optimizer = _optimizer(model, lr, settings.weight_decay, device)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)


def evaluation_interval(total_steps: int) -> int:
    """Steps between validation checks: at most EVALUATIONS_PER_RUN checks, the last at the final step."""
    return max(1, math.ceil(total_steps / EVALUATIONS_PER_RUN))


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            # biases and LayerNorm weights are not decayed (standard for transformers)
            (no_decay if param.ndim < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel for the whole update (on a 2-core CPU 12 ms a step instead of 69 for the default model)
    return torch.optim.AdamW(groups, lr=lr, fused=device.type in ("cuda", "cpu"))


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


class ClassifierRun(TrainingRun, Protocol):
    """A classifier's run: the loop's inputs, its training subset and its validation examples."""

    train_texts: list[str]
    train_labels: np.ndarray
    val_texts: list[str]
    val_labels: np.ndarray


def train_classifier(model: torch.nn.Module, ctx: ClassifierRun, lr: float) -> TrainedClassifier:
    """Train `model` on ctx's training subset within ctx.config.budget, early-stopping on validation accuracy;
    return the best checkpoint, ready to predict."""
    base = ctx.base
    model.to(base.device)
    trainable, total = count_parameters(model)
    encoded = base.tokenizer(ctx.train_texts, truncation=True, max_length=base.max_length)["input_ids"]
    classifier = TrainedClassifier(model, base.tokenizer, base.device, base.max_length,
                                   ctx.config.training.eval_batch_size, base.autocast_dtype, trainable, total)
    val_texts, val_labels = _early_stop_subset(ctx.val_texts, ctx.val_labels)
    # every check's accuracy is kept: the refit compares the best with the last (core/running/refit.py)
    accuracy = Validation("val_accuracy", lambda loss: _accuracy(classifier, val_texts, val_labels),
                          higher_is_better=True, worst=-1.0, history="val_accuracies")
    examples = Examples(encoded, labels=torch.as_tensor(ctx.train_labels, dtype=torch.long))
    classifier.details = train(model, LoopInputs.of(ctx), examples, lr, accuracy)
    return classifier


def count_parameters(module: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts of a torch module."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total


def _accuracy(classifier: TrainedClassifier, texts: list[str], labels: np.ndarray) -> float:
    if not texts:  # no validation examples (a budget of one per class): no early stop, the last weights are kept
        return 0.0
    return float((classifier.predict_proba(texts).argmax(1) == labels).mean())


def _early_stop_subset(texts: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    if len(texts) <= MAX_EARLY_STOP_EXAMPLES:
        return texts, labels
    keep = np.random.default_rng(0).choice(len(texts), MAX_EARLY_STOP_EXAMPLES, replace=False)
    return [texts[i] for i in keep], labels[keep]
