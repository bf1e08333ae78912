"""The shared training loop (core/training/loop.py): batching, evaluation cadence, precision, early stopping,
time budgets, micro-batches on out-of-memory, compilation and what a trained run records."""

import numpy as np
import pytest
import torch

from core.backbone.models import BaseModel, native_bf16
from core.config import parse_config
from core.errors import ConfigError
from core.methods import METHODS
from core.running.estimate import evaluations
from core.training.loop import EVALUATIONS_PER_RUN, GROUPING_WINDOW, length_grouped_batches, length_split
from tests.conftest import tiny_config


def _covers_every_example_once(batches, n):
    flat = np.concatenate(batches)
    return sorted(flat.tolist()) == list(range(n))


def test_a_small_training_set_gets_random_batches_not_length_bands():
    lengths = list(range(40))  # length rises with the index: sorted batches would be contiguous bands
    batches = length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert _covers_every_example_once(batches, 40)
    assert [len(b) for b in batches] == [16, 16, 8]
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert max(spreads) > 16  # a sorted band of 16 would span 15 at most


def test_a_large_training_set_gets_length_grouped_batches():
    rng = np.random.default_rng(1)
    n = 16 * GROUPING_WINDOW * 2
    lengths = rng.integers(5, 128, n).tolist()
    batches = length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert _covers_every_example_once(batches, n)
    grouped = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    random = np.mean([np.ptp(rng.choice(lengths, 16)) for _ in range(len(batches))])
    assert grouped < random / 5  # padding waste falls with the spread inside a batch
    assert len({tuple(b) for b in batches}) == len(batches)


@pytest.mark.parametrize("steps", [1, 2, 7, 8, 9, 12, 40, 161, 1000])
def test_validation_is_checked_at_most_the_promised_number_of_times(steps):
    assert 1 <= evaluations(steps) <= EVALUATIONS_PER_RUN


def test_precision_fp32_and_bf16_are_honoured_and_auto_follows_the_hardware(base_model):
    cpu = torch.device("cpu")
    fp32 = BaseModel(base_model.name, base_model.path, cpu, 64, precision="fp32")
    bf16 = BaseModel(base_model.name, base_model.path, cpu, 64, precision="bf16")
    auto = BaseModel(base_model.name, base_model.path, cpu, 64, precision="auto")
    assert fp32.autocast_dtype is None and bf16.autocast_dtype == torch.bfloat16
    assert auto.autocast_dtype == (torch.bfloat16 if native_bf16(cpu) else None)
    # embeddings computed at another precision are other numbers: they never share cache entries
    assert fp32.fingerprint != bf16.fingerprint


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="precision") as caught:
        parse_config(tiny_config(model={"precision": "fp8"}))
    assert "bf16" in str(caught.value) and "fp32" in str(caught.value)


def test_a_run_records_the_precision_it_trained_at(base_model):
    from core.running.run import environment

    assert environment(base_model)["precision"] == ("fp32" if base_model.autocast_dtype is None else "bf16")


def _padded(sorted_lengths, bounds):
    return sum((end - start) * sorted_lengths[end - 1] for start, end in bounds)


def test_length_split_covers_the_batch_in_order_within_the_micro_batch_limit():
    lengths = np.sort(np.random.default_rng(2).integers(3, 128, 37))
    for most in (1, 4, 16, 37):
        bounds = length_split(lengths, most, overhead_tokens=8)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(lengths)
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(0 < end - start <= most for start, end in bounds)


def test_length_split_cuts_off_the_long_tail_only_when_it_pays():
    lengths = np.array([12] * 15 + [120])  # one long text would make all 16 rows pad to 120
    assert length_split(lengths, 16, overhead_tokens=64) == [(0, 15), (15, 16)]
    assert _padded(lengths, [(0, 15), (15, 16)]) == 300  # instead of 1920
    assert length_split(lengths, 16, overhead_tokens=10_000) == [(0, 16)]  # a launch-bound device: one call
    even = np.array([30] * 16)
    assert length_split(even, 16, overhead_tokens=0) == [(0, 16)]  # nothing to save, no extra calls


@pytest.mark.parametrize("seed", range(5))
def test_length_split_finds_the_cheapest_cut(seed):
    from itertools import product

    rng = np.random.default_rng(seed)
    lengths = np.sort(rng.integers(1, 100, 8))
    overhead = float(rng.integers(0, 120))
    cheapest = np.inf
    for cuts in product([False, True], repeat=len(lengths) - 1):  # every way to cut 8 sorted items
        edges = [0, *(i + 1 for i, cut in enumerate(cuts) if cut), len(lengths)]
        bounds = list(zip(edges, edges[1:]))
        if all(end - start <= 5 for start, end in bounds):
            cheapest = min(cheapest, _padded(lengths, bounds) + overhead * len(bounds))
    found = length_split(lengths, 5, overhead)
    assert _padded(lengths, found) + overhead * len(found) == pytest.approx(cheapest)


@pytest.mark.parametrize("error, memory", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    # what this machine's CPU raised in a memory-capped process (tests/core/running/test_faults.py causes it for real)
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 238080 bytes. Error code 12 (Cannot allocate memory)"), True),
    (RuntimeError("could not create a primitive"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied (8x384 and 10x2)"), False),  # a bug: never retried
])
def test_out_of_memory_is_told_apart_from_other_errors_on_every_device(error, memory):
    from core.training.loop import out_of_memory

    assert out_of_memory(error) is memory


def test_the_step_plan_gives_few_shot_sets_their_minimum_steps():
    from core.training.loop import plan_steps

    few = plan_steps(examples=10, batch_size=16, max_epochs=6, min_steps=50)
    assert few.batch_size == 10 and few.steps_per_epoch == 1 and few.total_steps == 50  # 50 epochs of one step
    many = plan_steps(examples=640, batch_size=16, max_epochs=6, min_steps=50)
    assert many.steps_per_epoch == 40 and many.total_steps == 240  # max_epochs already past the minimum


# -- the loop through the methods that train, on a small slice of real data ----------------------------------


def test_training_records_the_loop_and_stops_early_when_nothing_improves(make_context):
    fitted = METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 20, "min_steps": 0, "patience": 1},
                                              training={"batch_size": 8, "learning_rates": {"full": 1e-9}}))
    details = fitted.details
    assert details["stop_reason"] == "early_stopping"
    assert details["steps"] < details["planned_steps"]
    assert details["losses"] and details["best_step"] >= 1


def test_a_time_budget_stops_training(make_context):
    fitted = METHODS["scratch"].fits["encoder"](make_context(budget={"max_epochs": 50, "max_train_seconds": 0.5}))
    assert fitted.details["stop_reason"] == "time_budget"


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_effective_batch(make_context, monkeypatch):
    import torch

    from core.training.loop import MicroBatchStepper

    real_accumulate = MicroBatchStepper._accumulate
    seen = []

    def accumulate_with_a_small_device(self, batch_idx):
        seen.append(self.micro_batch)
        if self.micro_batch > 2:  # simulate a device that holds 2 examples at a time
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_accumulate(self, batch_idx)

    monkeypatch.setattr(MicroBatchStepper, "_accumulate", accumulate_with_a_small_device)
    monkeypatch.setattr(MicroBatchStepper, "pack", lambda self: None)  # the micro-batch path (packing: test_packed.py)
    fitted = METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 3},
                                                          training={"batch_size": 8}))
    details = fitted.details
    assert details["oom_retries"] == 2 and details["micro_batch_size"] == 2  # 8 -> 4 -> 2
    assert details["batch_size"] == 8  # the optimiser still sees batches of 8
    assert seen[:3] == [8, 4, 2] and details["steps"] >= 3


def test_a_model_that_never_fits_fails_with_advice(make_context, monkeypatch):
    import torch

    from core.training.loop import MicroBatchStepper

    def always_oom(self, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(MicroBatchStepper, "_accumulate", always_oom)
    monkeypatch.setattr(MicroBatchStepper, "_packed", always_oom)
    with pytest.raises(MemoryError, match="max_length"):
        METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 1}))


def test_micro_batches_give_the_same_gradient_as_one_batch(make_context):
    import dataclasses

    import torch

    from core.training.loop import MicroBatchStepper

    ctx = make_context()
    ctx.base = dataclasses.replace(ctx.base, precision="fp32")  # the accumulation arithmetic, without bf16 rounding
    encoded = ctx.base.tokenizer(ctx.train_texts[:8], truncation=True, max_length=32)["input_ids"]
    labels = torch.as_tensor(ctx.train_labels[:8])
    grads, calls = [], []
    # one call; out-of-memory micro-batches of 3; cut by length wherever it saves a padded token
    for micro, overhead in ((8, 1e9), (3, 1e9), (8, 0)):
        torch.manual_seed(0)
        model = ctx.base.classifier(5)
        model.eval()  # no dropout: the passes must see the same function
        stepper = MicroBatchStepper(model, ctx.base, encoded, labels, 8)
        stepper.micro_batch, stepper.overhead_tokens = micro, overhead
        stepper.step(np.arange(8))
        grads.append(model.classifier.weight.grad.clone())
        calls.append(stepper.record()["micro_batches_per_step"])
    assert calls[0] == 1 and calls[1] == 3 and calls[2] > 1
    assert torch.allclose(grads[0], grads[1], atol=1e-5) and torch.allclose(grads[0], grads[2], atol=1e-5)


def test_a_trained_run_records_its_throughput(make_context):  # the arithmetic: tests/core/training/test_throughput.py
    fitted = METHODS["lora"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["tokens_per_second"] > 0 and fitted.details["flops_per_token"] > 0
    assert fitted.details["mfu"] is None  # no known peak rate for a CPU


def test_compiled_training_runs_and_says_so(make_context):
    from transformers import AutoModelForSequenceClassification

    from core.training.loop import train_classifier

    ctx = make_context(training={"batch_size": 8, "compile": True}, budget={"max_epochs": 1, "min_steps": 2})
    # one layer of the base architecture: the same compile path at a fraction of the compile time
    config = ctx.base.config.__class__.from_dict({**ctx.base.config.to_dict(), "num_labels": 5,
                                                  "num_hidden_layers": 1})
    fitted = train_classifier(AutoModelForSequenceClassification.from_config(config), ctx, 1e-4)
    assert fitted.details["execution"] == "compiled" and fitted.details["steps"] >= 2
    assert len(fitted.predict_proba(ctx.val_texts[:3])) == 3


def test_a_failed_compilation_falls_back_to_eager_and_records_why(make_context, monkeypatch):
    import torch

    def broken(model, **options):
        def forward(**batch):
            raise RuntimeError("no C++ compiler found")
        return forward

    monkeypatch.setattr(torch, "compile", broken)
    fitted = METHODS["full"].fits["encoder"](make_context(training={"batch_size": 8, "compile": True},
                                              budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["execution"].startswith("eager: torch.compile failed (RuntimeError: no C++ compiler")
    assert fitted.details["steps"] >= 2


@pytest.mark.parametrize("tokens", [None, 1, 64, 300])
def test_inference_batches_cover_the_sorted_texts_in_order_within_their_budget(tokens):
    from core.backbone.batching import inference_batches

    lengths = np.sort(np.random.default_rng(0).integers(1, 128, 100))
    batches = inference_batches(lengths, 16, tokens)
    assert np.concatenate([np.arange(100)[b] for b in batches]).tolist() == list(range(100))
    assert all(b.stop - b.start <= 16 for b in batches)
    if tokens is not None:  # within the budget, or one text alone
        assert all((b.stop - b.start) * lengths[b.stop - 1] <= tokens or b.stop - b.start == 1 for b in batches)
        assert any(b.stop - b.start > 1 for b in batches) == (tokens >= 2 * lengths[0])


def test_an_fp32_cpu_batches_document_chunks_as_sentence_transformers_and_still_bounds_long_texts():
    from core.backbone.batching import cpu_inference_tokens, inference_batches

    chunks = np.full(320, 130)  # 128-token chunks with their special tokens
    fp32 = inference_batches(chunks, 64, cpu_inference_tokens(bf16_native=False))
    assert max(b.stop - b.start for b in fp32) == 31  # about sentence-transformers' 32 a call, not 7 (1,024 tokens)
    long_texts = np.full(64, 2048)  # a long-context model's texts: the budget still bounds each call's activations
    assert all(b.stop - b.start <= 2 for b in inference_batches(long_texts, 64, cpu_inference_tokens(False)))
    bf16 = inference_batches(chunks, 64, cpu_inference_tokens(bf16_native=True))
    assert max(b.stop - b.start for b in bf16) == 7  # where bf16 is native, small calls measured faster


def test_predictions_do_not_depend_on_how_texts_are_batched(make_context, monkeypatch):
    import dataclasses

    import core.backbone.batching as batching
    import core.training.loop as loop

    ctx = make_context()
    base = dataclasses.replace(ctx.base, precision="fp32")
    classifier = loop.TrainedClassifier(base.classifier(5).eval(), base.tokenizer, base.device, 64, 64, None, 0, 0)
    monkeypatch.setitem(batching.INFERENCE_TOKENS, "cpu", None)  # batches of 64, as on a GPU
    whole = classifier.predict_proba(ctx.val_texts)
    monkeypatch.setitem(batching.INFERENCE_TOKENS, "cpu", 40)  # a few texts a call
    assert np.allclose(whole, classifier.predict_proba(ctx.val_texts), atol=1e-5)


class _OneWeight(torch.nn.Module):
    """A model whose loss ignores its inputs: the loop's bookkeeping, without a real model."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids):
        from types import SimpleNamespace

        return SimpleNamespace(loss=((self.weight - 1.0) ** 2).sum())


def _scripted_run(scores, higher_is_better, patience=100):
    """Train _OneWeight for 8 validation checks whose scores are `scores`; return the record and the weight
    the model held at each check, and at the end."""
    from types import SimpleNamespace

    from core.training.loop import Examples, LoopInputs, Validation, train

    model, seen = _OneWeight(), []
    base = SimpleNamespace(device=torch.device("cpu"), autocast_dtype=None, tokenizer=None, config=SimpleNamespace())
    settings = SimpleNamespace(batch_size=2, weight_decay=0.0, warmup_ratio=0.0, max_grad_norm=1.0, compile=False)
    budget = SimpleNamespace(max_epochs=8, min_steps=0, patience=patience, max_train_seconds=1e9)
    examples = Examples([[1]] * 8, collate=lambda chunk: {"input_ids": torch.ones((len(chunk), 1), dtype=torch.long)})

    def score(train_loss):
        seen.append(float(model.weight.detach()))
        return scores[len(seen) - 1]

    validation = Validation("val_score", score, higher_is_better, worst=-np.inf if higher_is_better else np.inf,
                            history="val_scores")
    record = train(model, LoopInputs(base, settings, budget, seed=0), examples, 0.1, validation)
    return record, seen, float(model.weight)


def test_the_loop_keeps_the_best_weights_in_the_direction_it_is_told():
    scores = [5.0, 3.0, 4.0, 1.0, 2.0, 1.0, 7.0, 8.0]  # a check every 4 steps (8 examples, batches of 2, 8 epochs)
    lowest, seen, restored = _scripted_run(scores, higher_is_better=False)
    assert lowest["best_step"] == 24 and lowest["best_val_score"] == 1.0  # a tie keeps the later weights
    assert restored == seen[5] and lowest["val_scores"] == scores and lowest["stop_reason"] == "completed"
    highest, seen, restored = _scripted_run(scores, higher_is_better=True)
    assert highest["best_step"] == 32 and highest["best_val_score"] == 8.0 and restored == seen[7]


def test_patience_counts_checks_without_a_gain_in_the_direction_it_is_told():
    scores = [5.0, 4.0, 6.0, 7.0, 8.0, 9.0, 9.5, 9.9]
    lowest, _, _ = _scripted_run(scores, higher_is_better=False, patience=2)
    assert lowest["stop_reason"] == "early_stopping" and lowest["steps"] == 16  # 4 was best; 6 and 7 are worse
    highest, _, _ = _scripted_run(scores, higher_is_better=True, patience=2)
    assert highest["stop_reason"] == "completed" and highest["steps"] == 32


def test_decoder_fine_tuning_runs_in_the_same_loop_and_falls_back_from_a_failed_compilation(tiny_llama,
                                                                                             monkeypatch):
    from types import SimpleNamespace

    from core.backbone.models import BaseModel
    from core.training.sft import Example, train_decoder

    def broken(model, **options):
        def forward(**batch):
            raise RuntimeError("no C++ compiler found")
        return forward

    monkeypatch.setattr(torch, "compile", broken)
    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    config = parse_config(tiny_config(training={"batch_size": 4, "compile": True},
                                      budget={"max_epochs": 1, "min_steps": 2}))
    ctx = SimpleNamespace(base=base, config=config, seed=0, progress=lambda fraction, info: None)
    examples = [Example("Which label", " sports"), Example("Another question", " weather")] * 4
    details = train_decoder(base.causal_lm(), ctx, examples, examples[:2], 1e-3, "<|im_end|>")
    assert details["execution"].startswith("eager: torch.compile failed (RuntimeError: no C++ compiler")
    assert details["steps"] == 2 and len(details["val_losses"]) == len(details["losses"]) >= 1
    assert details["tokens_per_second"] > 0 and details["batching"] == "micro-batches"


def test_training_does_not_import_the_methods_that_call_it():
    """The loop takes LoopInputs (or anything with a run's config, base, seed, progress), not a FitContext."""
    import ast
    from pathlib import Path

    folder = Path(__file__).parents[3] / "core" / "training"
    found = [f"{path.name}: {node.module or ''}{[a.name for a in node.names]}"
             for path in sorted(folder.glob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ImportFrom | ast.Import) and any(
                 name.startswith("core.methods") for name in ([node.module or ""] if isinstance(node, ast.ImportFrom)
                                                              else [a.name for a in node.names]))]
    assert not found, f"core/training imports core.methods (type-only imports count too): {found}"
