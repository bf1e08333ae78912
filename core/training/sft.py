"""Supervised fine-tuning of a decoder: the loss on the answer tokens only (trl's completion-only loss).

Each example is a rendered prompt and the answer that should follow it (then the end-of-turn token,
so the model learns to stop). Continued pre-training on documents is the same with an empty prompt:
every token of the passage is trained on. LoRA, full fine-tuning and from-scratch share it, and it
trains in the one loop (core/training/loop.py), early-stopping on the validation loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.training.loop import Examples, LoopInputs, TrainingRun, Validation, train

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


def train_decoder(model: torch.nn.Module, ctx: TrainingRun, examples: list[Example], validation: list[Example],
                  lr: float, suffix: str) -> dict:
    """Fine-tune `model` in place on `examples` within the config's budget, early-stopping on the loss over
    `validation` (the training loss where there is none); return what the run record keeps."""
    base, eval_batch_size = ctx.base, ctx.config.training.eval_batch_size
    ids, labels = encode_examples(base.tokenizer, examples, base.max_length, suffix)
    val_ids, val_labels = encode_examples(base.tokenizer, validation[:MAX_VALIDATION_EXAMPLES], base.max_length,
                                          suffix)
    loss = Validation("val_loss", lambda train_loss: mean_loss(model, base, val_ids, val_labels, eval_batch_size)
                      if val_ids else train_loss, higher_is_better=False, worst=math.inf, history="val_losses")

    def collate(chunk) -> dict[str, torch.Tensor]:
        return right_padded(base.tokenizer, [ids[i] for i in chunk], [labels[i] for i in chunk])

    details = train(model, LoopInputs.of(ctx), Examples(ids, collate=collate), lr, loss)
    return {**details, "train_examples_seen": len(ids)}
