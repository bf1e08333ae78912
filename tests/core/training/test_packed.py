"""Sequence packing (core/training/packed.py): rows, exactness against the padded model, the fallbacks."""

import dataclasses

import numpy as np
import pytest
import torch

from core.methods import METHODS
from core.training.loop import MicroBatchStepper
from core.training.packed import PackedClassifier, pack_rows, packed_classifier


@pytest.mark.parametrize("seed", range(5))
def test_rows_hold_every_text_once_within_their_capacity(seed):
    lengths = np.random.default_rng(seed).integers(3, 60, 16)
    rows = pack_rows(lengths, 64)
    assert sorted(i for row in rows for i in row) == list(range(16))
    assert all(lengths[row].sum() <= 64 for row in rows)
    assert len(rows) <= int(np.ceil(lengths.sum() / 64)) + 2  # first-fit decreasing: close to the fewest rows


def _padded(model, encoded, pad):
    width = max(map(len, encoded))
    ids = torch.full((len(encoded), width), pad)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, row in enumerate(encoded):
        ids[i, :len(row)], mask[i, :len(row)] = torch.as_tensor(row), 1
    return model(input_ids=ids, attention_mask=mask).logits


def _texts(base, n=12):
    texts = ["a fortune", "a much longer fortune that goes on and on about the weather and the sea and the sky",
             "short", "medium length text about nothing in particular", "x y z"] * 3
    return base.tokenizer(texts[:n], truncation=True, max_length=64)["input_ids"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_packed_logits_and_gradients_equal_the_padded_models(base_model, method):
    from peft import LoraConfig, TaskType, get_peft_model

    base = dataclasses.replace(base_model, precision="fp32")
    encoded, labels = _texts(base), torch.arange(12) % 5
    grads = []
    for packed in (False, True):
        torch.manual_seed(0)
        model = base.classifier(5)
        if method == "lora":
            lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"])
            model = get_peft_model(model, lora)
        model.eval()  # no dropout: both passes compute one function
        if packed:
            packer = PackedClassifier.for_model(model, base.tokenizer.pad_token_id)
            tensors, rows, starts, padded_tokens = packer.inputs(encoded)
            assert len(tensors["input_ids"]) < len(encoded)  # texts share rows
            logits = packer.logits(tensors, rows, starts)
        else:
            logits = _padded(model, encoded, base.tokenizer.pad_token_id)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        trained = [p for p in model.parameters() if p.requires_grad]
        grads.append((logits.detach(), [p.grad.clone() for p in trained]))
    (padded_logits, padded_grads), (packed_logits, packed_grads) = grads
    assert torch.allclose(padded_logits, packed_logits, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(padded_grads, packed_grads))


def test_a_roberta_style_model_is_packed_with_its_position_offset():
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    model = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=80, num_labels=3, pad_token_id=1))
    encoded = [list(np.random.default_rng(i).integers(3, 100, n)) for i, n in enumerate([5, 17, 9, 30, 2, 11])]
    packer, how = packed_classifier(model, 1, encoded, torch.device("cpu"))
    assert how == "sequence-packed" and packer.offset == 2
    model.eval()
    tensors, rows, starts, _ = packer.inputs(encoded)
    with torch.no_grad():
        assert torch.allclose(packer.logits(tensors, rows, starts), _padded(model, encoded, 1), atol=1e-5)


def test_a_model_packing_does_not_know_trains_on_micro_batches_and_says_why():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2,
                                                                 hidden_dim=64, num_labels=3))
    packer, how = packed_classifier(model, 0, [[5, 6, 7]], torch.device("cpu"))
    assert packer is None and "distilbert" in how


def test_a_probe_that_disagrees_keeps_the_micro_batches(base_model, monkeypatch):
    real = PackedClassifier.logits
    monkeypatch.setattr(PackedClassifier, "logits", lambda self, *a: real(self, *a) + 1.0)  # a wrong packing
    packer, how = packed_classifier(base_model.classifier(5), base_model.tokenizer.pad_token_id, _texts(base_model),
                                    base_model.device)
    assert packer is None and "differ" in how


def test_training_on_the_default_model_is_packed_and_says_so(make_context):
    fitted = METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["batching"] == "sequence-packed" and fitted.details["micro_batches_per_step"] == 1.0
    assert fitted.details["padding_efficiency"] > 0.6


def test_out_of_memory_in_a_packed_step_falls_back_to_micro_batches(make_context, monkeypatch):
    def too_big(self, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(MicroBatchStepper, "_packed", too_big)
    fitted = METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["batching"] == "micro-batches: packing ran out of memory"
    assert fitted.details["oom_retries"] == 1 and fitted.details["steps"] >= 2
