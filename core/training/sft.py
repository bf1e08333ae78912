"""Supervised fine-tuning of a decoder: the loss on the answer tokens only (trl's completion-only loss).

Each example is a rendered prompt and the answer that should follow it (then the end-of-turn token,
so the model learns to stop). Continued pre-training on documents is the same with an empty prompt:
every token of the passage is trained on. LoRA, full fine-tuning and from-scratch share it, and it
trains in the one loop (core/training/loop.py), early-stopping on the validation loss.

A batch trains packed (PackedDecoder): its examples laid end to end in a few rows, each attending only
to itself (a block-diagonal causal mask) with its positions counted from its own start, so the loss is
the padded batch's to rounding; and the vocabulary's logits are computed only where an answer token is
predicted, not at every prompt position (the output layer and its softmax over a 49k-word vocabulary
were a fifth of a SmolLM2 step). The validation loss is read the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.training.loop import Examples, LoopInputs, TrainingRun, Validation, train
from core.training.packed import pack_rows, probe_verdict

IGNORE = -100  # label of a token the loss skips (the prompt, the padding)
MAX_VALIDATION_EXAMPLES = 64  # early stopping reads the validation loss: a few dozen examples suffice
# A packed row holds at least this many tokens (more where one example is longer). Attention costs the square of a
# row's width, so one row of a whole batch pays for it; measured in docs/BENCHMARKS.md row 10.
ROW_TOKENS = 256
PROBE_EXAMPLES = 4  # training examples the packed-equals-padded probe compares on


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


def _transformers_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (peft injects its layers in place), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class PackedDecoder:
    """The answer-only loss of a causal LM (a peft model too) over examples packed end to end in a few rows."""

    def __init__(self, model: torch.nn.Module, pad_token_id: int, device: torch.device, ids: list[list[int]] = (),
                 labels: list[list[int]] = (), row_tokens: int = ROW_TOKENS):
        hf = _transformers_model(model)
        self.body, self.head = hf.base_model, hf.get_output_embeddings()
        self.pad, self.device, self.row_tokens = pad_token_id, device, row_tokens
        self.ids, self.labels = ids, labels  # the training examples batch_loss reads
        self.additive = hf.config._attn_implementation == "eager"  # eager adds the mask; sdpa takes a boolean one

    def inputs(self, ids: list[list[int]], labels: list[list[int]]) -> tuple[dict, int]:
        """The packed rows' tensors (with where each answer token is predicted, and what it is, in the examples'
        order) and their size.

        Positions restart at 0 for each example and the mask lets a token see only its own example's earlier
        tokens, so each example computes what it would alone; a row's padding is a block of its own."""
        lengths = np.array([len(row) for row in ids])
        rows = pack_rows(lengths, max(self.row_tokens, int(lengths.max())))
        width = max(int(lengths[row].sum()) for row in rows)
        tokens = torch.full((len(rows), width), self.pad, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        segment = torch.full((len(rows), width), -1, dtype=torch.long)
        predicted = []  # (example, row, column, token) of every answer token, in the examples' order
        for r, row in enumerate(rows):
            start = 0
            for k in row:
                n = int(lengths[k])
                tokens[r, start:start + n] = torch.as_tensor(ids[k])
                positions[r, start:start + n] = torch.arange(n)
                segment[r, start:start + n] = k
                # the logits at position t predict token t + 1, as the model's own (shifted) loss reads them
                predicted += [(k, r, start + j - 1, labels[k][j]) for j in range(1, n) if labels[k][j] != IGNORE]
                start += n
        predicted.sort(key=lambda answer: (answer[0], answer[2]))
        _, where_row, where_column, targets = zip(*predicted) if predicted else ((), (), (), ())
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        allowed = ((segment[:, :, None] == segment[:, None, :]) & causal)[:, None]  # (rows, 1, width, width)
        mask = allowed if not self.additive else torch.zeros(allowed.shape).masked_fill(
            ~allowed, torch.finfo(torch.float32).min)
        return {"input_ids": tokens, "attention_mask": mask, "position_ids": positions,
                "where_row": torch.as_tensor(where_row, dtype=torch.long),
                "where_column": torch.as_tensor(where_column, dtype=torch.long),
                "targets": torch.as_tensor(targets, dtype=torch.long)}, tokens.numel()

    def answer_logits(self, tensors: dict) -> torch.Tensor:
        """The vocabulary's logits where an answer token is predicted, nowhere else: (answer tokens, vocabulary)."""
        hidden = self.body(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                           position_ids=tensors["position_ids"], use_cache=False).last_hidden_state
        return self.head(hidden[tensors["where_row"], tensors["where_column"]]).float()

    def loss(self, ids: list[list[int]], labels: list[list[int]], reduction: str = "mean") -> tuple[torch.Tensor, int]:
        """The cross-entropy of these examples' answer tokens (their mean, or sum), and the packed rows' size."""
        tensors, padded = self.inputs(ids, labels)
        tensors = {k: v.to(self.device, non_blocking=True) for k, v in tensors.items()}
        logits = self.answer_logits(tensors)
        return torch.nn.functional.cross_entropy(logits, tensors["targets"], reduction=reduction), padded

    def batch_loss(self, batch_idx: np.ndarray) -> tuple[torch.Tensor, int]:
        """One training batch's mean answer-token loss (what the stepper calls), and its packed size."""
        return self.loss([self.ids[i] for i in batch_idx], [self.labels[i] for i in batch_idx])


def packed_decoder(model: torch.nn.Module, base, ids: list[list[int]],
                   labels: list[list[int]]) -> tuple[PackedDecoder | None, str]:
    """A packer for `model` if its packed answer logits equal its padded ones on the first examples; else (None, why).

    The probe catches a model that ignores a 4D mask or position ids, or whose head does more than its output
    layer (a logit scale or soft cap): those train on micro-batches as before."""
    sample = [i for i in range(len(ids)) if any(label != IGNORE for label in labels[i][1:])][:PROBE_EXAMPLES]
    if not sample:
        return None, "micro-batches: no answer tokens to probe packing on"
    was_training = model.training
    model.eval()
    try:
        packer = PackedDecoder(model, base.tokenizer.pad_token_id, base.device, ids, labels)
        with torch.no_grad():
            tensors, _ = packer.inputs([ids[i] for i in sample], [labels[i] for i in sample])
            packed = packer.answer_logits({k: v.to(base.device) for k, v in tensors.items()})
            batch = right_padded(base.tokenizer, [ids[i] for i in sample], [labels[i] for i in sample])
            batch = {k: v.to(base.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            padded = logits[:, :-1][batch["labels"][:, 1:] != IGNORE]
    except Exception as error:  # no body or output layer found, or a model that takes no 4D mask or position ids
        return None, f"micro-batches: packing failed its probe ({type(error).__name__}: {str(error)[:120]})"
    finally:
        model.train(was_training)
    return probe_verdict(packer, packed, padded)


@torch.inference_mode()
def mean_loss(model, base, ids: list[list[int]], labels: list[list[int]], batch_size: int,
              packed: bool = True) -> float:
    """Token-weighted mean loss over the answer tokens of these examples: packed, with only the answer's logits
    (the same figure as padded, at a fraction of the cost), or padded where the model does not pack."""
    model.eval()
    packer = PackedDecoder(model, base.tokenizer.pad_token_id, base.device) if packed else None
    total, count = 0.0, 0
    dtype = base.autocast_dtype
    for start in range(0, len(ids), batch_size):
        chunk_ids, chunk_labels = ids[start:start + batch_size], labels[start:start + batch_size]
        with torch.autocast(base.device.type, dtype=dtype, enabled=dtype is not None):
            if packer is not None:
                loss, _ = packer.loss(chunk_ids, chunk_labels, reduction="sum")
            else:
                loss = _padded_loss(model, base, chunk_ids, chunk_labels)
        total += float(loss)
        count += sum(label != IGNORE for row in chunk_labels for label in row[1:])
    return total / max(count, 1)


def _padded_loss(model, base, ids: list[list[int]], labels: list[list[int]]) -> torch.Tensor:
    batch = {k: v.to(base.device) for k, v in right_padded(base.tokenizer, ids, labels).items()}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    return torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:],
                                             ignore_index=IGNORE, reduction="sum")


def train_decoder(model: torch.nn.Module, ctx: TrainingRun, examples: list[Example], validation: list[Example],
                  lr: float, suffix: str, epoch_end=None) -> dict:
    """Fine-tune `model` in place on `examples` within the config's budget, early-stopping on the loss over
    `validation` (the training loss where there is none); return what the record keeps. epoch_end: the loop's
    epoch-end callback (LoopInputs.epoch_end), where the run measures something there."""
    base, eval_batch_size = ctx.base, ctx.config.training.eval_batch_size
    ids, labels = encode_examples(base.tokenizer, examples, base.max_length, suffix)
    val_ids, val_labels = encode_examples(base.tokenizer, validation[:MAX_VALIDATION_EXAMPLES], base.max_length,
                                          suffix)
    model.to(base.device)
    packer, batching = packed_decoder(model, base, ids, labels)  # probed once: training and validation both read it
    loss = Validation("val_loss", lambda train_loss: mean_loss(model, base, val_ids, val_labels, eval_batch_size,
                                                               packed=packer is not None)
                      if val_ids else train_loss, higher_is_better=False, worst=math.inf, history="val_losses")

    def collate(chunk) -> dict[str, torch.Tensor]:  # the micro-batches where packing is not possible
        return right_padded(base.tokenizer, [ids[i] for i in chunk], [labels[i] for i in chunk])

    details = train(model, LoopInputs.of(ctx, epoch_end),
                    Examples(ids, collate=collate, packer=lambda: (packer, batching)), lr, loss)
    return {**details, "train_examples_seen": len(ids)}
