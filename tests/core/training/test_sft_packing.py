"""Packed supervised fine-tuning of a decoder (core/training/sft.py): the padded batch's loss and gradients, each
example attending only to itself, the validation loss, and the run that trains packed. On the tiny random Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.backbone.models import BaseModel
from core.training.sft import IGNORE, Example, PackedDecoder, encode_examples, mean_loss, packed_decoder, right_padded

PROMPTS = ["Classify the text. first text here", "second", "a much longer prompt that goes on about the weather, "
           "the sea and the sky for a while", "third one", "Which country is Paris in?", "x y z", "fourth one here",
           "Passages: Question"]
ANSWERS = ["a", "bb", "France", "I don't know", "a", "b", "Paris", "c"]


@pytest.fixture
def tiny_base(tiny_llama):
    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 256
    return base


def _examples(base, n=8):
    examples = [Example(p, a) for p, a in zip(PROMPTS[:n], ANSWERS[:n])]
    return encode_examples(base.tokenizer, examples, base.max_length, "<|im_end|>")


def _lora(model):
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0,
                                             target_modules="all-linear"))
    for name, param in model.named_parameters():  # peft starts B at zero: move it, so the adapter matters
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    return model


def _padded_loss(model, base, ids, labels):
    """The unpacked reference: the model's own loss on the right-padded batch (token mean over answer tokens)."""
    return model(**right_padded(base.tokenizer, ids, labels)).loss


@pytest.mark.parametrize("kind", ["full", "lora"])
@pytest.mark.parametrize("row_tokens", [8, 64, 4096])  # a row per example, a few rows, the whole batch in one row
def test_packed_loss_and_gradients_equal_the_padded_batchs(tiny_base, kind, row_tokens):
    ids, labels = _examples(tiny_base)
    model = tiny_base.causal_lm()
    model = _lora(model) if kind == "lora" else model
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]

    padded = _padded_loss(model, tiny_base, ids, labels)
    padded_grads = torch.autograd.grad(padded, trained)
    packer = PackedDecoder(model, tiny_base.tokenizer.pad_token_id, tiny_base.device, row_tokens=row_tokens)
    tensors, size = packer.inputs(ids, labels)
    assert size < len(ids) * max(map(len, ids)) or row_tokens == 8  # packed rows carry less padding
    packed, _ = packer.loss(ids, labels)
    packed_grads = torch.autograd.grad(packed, trained)

    assert packed.item() == pytest.approx(padded.item(), rel=1e-5, abs=1e-6)
    for a, b in zip(packed_grads, padded_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_packed_example_never_sees_another(tiny_base):
    """Two examples in one row: changing the first's tokens leaves the second's answer logits as they were alone."""
    ids, labels = _examples(tiny_base, 2)
    model = tiny_base.causal_lm().eval()
    packer = PackedDecoder(model, tiny_base.tokenizer.pad_token_id, tiny_base.device, row_tokens=4096)
    other = [list(reversed(ids[0][:-2])) + ids[0][-2:], ids[1]]  # the first example's prompt scrambled
    with torch.no_grad():
        together, _ = packer.inputs(ids, labels)
        assert together["input_ids"].shape[0] == 1  # both in one row
        logits = packer.answer_logits(together)
        scrambled = packer.answer_logits(packer.inputs(other, labels)[0])
        alone = packer.answer_logits(packer.inputs(ids[1:], labels[1:])[0])
    first = sum(label != IGNORE for label in labels[0][1:])
    torch.testing.assert_close(logits[first:], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scrambled[first:], alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits, scrambled)  # the scrambled example's own answer did change


def test_the_packed_mask_is_block_diagonal_and_causal(tiny_base):
    ids, labels = _examples(tiny_base, 3)
    packer = PackedDecoder(tiny_base.causal_lm(), tiny_base.tokenizer.pad_token_id, tiny_base.device,
                           row_tokens=4096)
    tensors, _ = packer.inputs(ids, labels)
    mask, positions = tensors["attention_mask"][0, 0], tensors["position_ids"][0]
    starts = [int(i) for i in torch.nonzero(positions == 0).flatten()]
    bounds = list(zip(starts, starts[1:] + [mask.shape[0]]))
    assert len(bounds) == 3
    for q_start, q_end in bounds:
        for k_start, k_end in bounds:
            block = mask[q_start:q_end, k_start:k_end]
            if q_start == k_start:
                assert torch.equal(block, torch.ones_like(block).tril())  # causal within the example
            else:
                assert not block.any()  # nothing across examples


def test_validation_loss_packed_equals_padded(tiny_base):
    ids, labels = _examples(tiny_base)
    model = _lora(tiny_base.causal_lm())
    assert mean_loss(model, tiny_base, ids, labels, 3) == pytest.approx(
        mean_loss(model, tiny_base, ids, labels, 3, packed=False), rel=1e-5)


def test_the_probe_accepts_a_llama_and_refuses_a_model_that_ignores_the_mask(tiny_base, monkeypatch):
    ids, labels = _examples(tiny_base)
    model = tiny_base.causal_lm()
    packer, batching = packed_decoder(model, tiny_base, ids, labels)
    assert packer is not None and batching == "sequence-packed", batching
    # a model that let examples see each other (an all-ones mask) fails the probe and trains on micro-batches
    real = PackedDecoder.inputs

    def leaky(self, ids, labels):
        tensors, size = real(self, ids, labels)
        tensors["attention_mask"] = torch.ones_like(tensors["attention_mask"]).tril()
        return tensors, size

    monkeypatch.setattr(PackedDecoder, "inputs", leaky)
    packer, batching = packed_decoder(model, tiny_base, ids, labels)
    assert packer is None and batching.startswith("micro-batches: packed logits differ")


def test_a_lora_run_trains_packed_and_records_it(tiny_llama):
    from core.config import parse_config
    from core.methods.base import FitContext
    from core.methods.decoder import fits as decoder

    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 128
    config = parse_config({"name": "tiny-llm", "task": {"builtin": "fortunes"},
                           "model": {"name": str(tiny_llama), "precision": "fp32"}, "sizes": [4], "seeds": [0],
                           "budget": {"max_epochs": 2, "min_steps": 2}, "training": {"batch_size": 4},
                           "llm": {"context_length": 256, "max_new_tokens": 4}})
    texts = PROMPTS[:6]
    ctx = FitContext(labels=["a", "b"], train_texts=texts, train_labels=np.array([0, 1, 0, 1, 0, 1]),
                     val_texts=texts[:4], val_labels=np.array([0, 1, 0, 1]), corpus=None, base=base, embedder=None,
                     config=config, seed=0)
    fitted = decoder.supervised(ctx, decoder.with_lora(ctx, base.causal_lm()), "lora")
    assert fitted.details["batching"] == "sequence-packed"
    assert fitted.details["micro_batches_per_step"] == 1.0
    assert np.isfinite(fitted.details["val_losses"]).all()
