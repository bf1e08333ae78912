"""Supervised fine-tuning of a decoder: the loss on the answer tokens only (trl's completion-only loss).

Each example is a rendered prompt and the answer that should follow it (then the end-of-turn token,
so the model learns to stop). Continued pre-training on documents is the same loop with an empty
prompt: every token of the passage is trained on. LoRA, full fine-tuning and from-scratch share it,
with the encoder loop's parts: AdamW (fused), warmup and linear decay, length-grouped batches cut
into micro-batches by length, bf16 autocast, the out-of-memory fallback, a time budget, and early
stopping on the validation loss (the best weights are restored).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.training.loop import (
    MicroBatchStepper,
    evaluation_interval,
    length_grouped_batches,
    optimiser_and_schedule,
    plan_steps,
)
from core.training.throughput import throughput

IGNORE = -100  # label of a token the loss skips (the prompt, the padding)
MAX_VALIDATION_EXAMPLES = 64  # early stopping reads the validation loss: a few dozen examples suffice


@dataclass
class Example:
    prompt: str  # rendered prompt, "" for continued pre-training on a document
    answer: str  # what is trained on


def encode_examples(tokenizer, examples: list[Example], max_length: int, suffix: str) -> tuple[list, list]:
    """Token ids and labels (prompt positions masked); a long prompt loses its start, never the answer."""
    ids, labels = [], []
    for example in examples:
        prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"] if example.prompt else []
        answer = tokenizer(example.answer + suffix, add_special_tokens=False)["input_ids"][:max_length]
        prompt = prompt[max(0, len(prompt) + len(answer) - max_length):]
        ids.append(prompt + answer)
        labels.append([IGNORE] * len(prompt) + answer)
    return ids, labels


def right_padded(tokenizer, ids: list[list[int]], labels: list[list[int]]) -> dict[str, torch.Tensor]:
    width = max(len(row) for row in ids)
    pad = tokenizer.pad_token_id
    batch = {"input_ids": torch.full((len(ids), width), pad, dtype=torch.long),
             "attention_mask": torch.zeros((len(ids), width), dtype=torch.long),
             "labels": torch.full((len(ids), width), IGNORE, dtype=torch.long)}
    for i, (row, target) in enumerate(zip(ids, labels)):
        batch["input_ids"][i, :len(row)] = torch.as_tensor(row)
        batch["attention_mask"][i, :len(row)] = 1
        batch["labels"][i, :len(row)] = torch.as_tensor(target)
    return batch


@torch.inference_mode()
def mean_loss(model, base, ids: list[list[int]], labels: list[list[int]], batch_size: int) -> float:
    """Token-weighted mean loss over the answer tokens of these examples."""
    model.eval()
    total, count = 0.0, 0
    dtype = base.autocast_dtype
    for start in range(0, len(ids), batch_size):
        batch = right_padded(base.tokenizer, ids[start:start + batch_size], labels[start:start + batch_size])
        batch = {k: v.to(base.device) for k, v in batch.items()}
        with torch.autocast(base.device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        shifted = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), shifted, ignore_index=IGNORE,
                                                   reduction="sum")
        total += float(losses)
        count += int((shifted != IGNORE).sum())
    return total / max(count, 1)


def train_decoder(model: torch.nn.Module, ctx, examples: list[Example], validation: list[Example], lr: float,
                  suffix: str) -> dict:
    """Fine-tune `model` in place on `examples` within the config's budget; return what the run record keeps."""
    settings, budget, base = ctx.config.training, ctx.config.budget, ctx.base
    model.to(base.device)
    ids, labels = encode_examples(base.tokenizer, examples, base.max_length, suffix)
    val_ids, val_labels = encode_examples(base.tokenizer, validation[:MAX_VALIDATION_EXAMPLES], base.max_length,
                                          suffix)
    plan = plan_steps(len(ids), settings.batch_size, budget.max_epochs, budget.min_steps)
    batch_size, epochs, total_steps = plan.batch_size, plan.epochs, plan.total_steps
    eval_every = evaluation_interval(total_steps)
    optimizer, schedule = optimiser_and_schedule(model, lr, settings, base.device, total_steps)
    stepper = MicroBatchStepper(model, base, ids, None, batch_size,
                                collate=lambda chunk: right_padded(base.tokenizer, [ids[i] for i in chunk],
                                                                   [labels[i] for i in chunk]))
    trained_keys = {name for name, param in model.named_parameters() if param.requires_grad}
    rng = np.random.default_rng(ctx.seed)
    best_loss, best_state, best_step, stale = math.inf, None, 0, 0
    step, started, losses, val_losses, stop_reason, train_seconds = 0, time.perf_counter(), [], [], "completed", 0.0
    for epoch in range(epochs):
        model.train()
        for batch_idx in length_grouped_batches(stepper.lengths, batch_size, rng):
            tick = time.perf_counter()
            loss = stepper.step(batch_idx)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            train_seconds += time.perf_counter() - tick
            step += 1
            if step % eval_every == 0 or step == total_steps:
                losses.append(float(loss))
                val_loss = mean_loss(model, base, val_ids, val_labels, settings.eval_batch_size) if val_ids else \
                    losses[-1]
                val_losses.append(val_loss)
                model.train()
                stale = 0 if val_loss < best_loss else stale + 1
                if val_loss <= best_loss:
                    best_loss, best_step = val_loss, step
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in trained_keys}
                ctx.progress(step / total_steps, {"loss": losses[-1], "val_loss": val_loss, "step": step,
                                                  "steps": total_steps, "epoch": epoch + 1})
                if stale >= budget.patience and step >= budget.min_steps:
                    stop_reason = "early_stopping"
            if time.perf_counter() - started > budget.max_train_seconds:
                stop_reason = "time_budget"
            if stop_reason != "completed":
                break
        if stop_reason != "completed":
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    return {"steps": step, "planned_steps": total_steps, "epochs": epochs, "best_step": best_step,
            "best_val_loss": best_loss, "val_losses": val_losses, "stop_reason": stop_reason, "losses": losses,
            "learning_rate": lr, "batch_size": batch_size, "train_examples_seen": len(ids),
            **stepper.record(), **throughput(model, base, stepper.tokens, stepper.padded_tokens, stepper.sequences,
                                             train_seconds)}
