"""Every method on a small slice of real data (the fortunes collections), through the one interface."""

import numpy as np
import pandas as pd
import pytest

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.config import METHOD_NAMES, parse_config
from core.methods import METHODS, FitContext
from core.methods.rag import build_index, load_index, save_index
from core.running.grid import subset_indices
from tests.conftest import tiny_config


def test_the_registry_is_the_config_method_list():
    assert tuple(METHODS) == METHOD_NAMES
    for name, spec in METHODS.items():
        assert spec.name == name and spec.title
        assert callable(spec.fit) or callable(spec.decoder_fit)  # a method runs on at least one backbone
        if spec.fit is not None:
            assert spec.supports("encoder", "classification")


@pytest.fixture()
def make_context(base_model, fortunes_small, tmp_path):
    labels = fortunes_small.labels
    index = {label: i for i, label in enumerate(labels)}
    y = fortunes_small.train.label.map(index).to_numpy()

    def make(per_class=8, seed=0, corpus=None, **overrides):
        config = parse_config(tiny_config(**overrides))
        chosen = subset_indices(y, per_class, "per_class", seed)
        return FitContext(
            labels=labels, train_texts=fortunes_small.train.text.iloc[chosen].tolist(), train_labels=y[chosen],
            val_texts=fortunes_small.validation.text.tolist(),
            val_labels=fortunes_small.validation.label.map(index).to_numpy(), corpus=corpus, base=base_model,
            embedder=Embedder(base_model, EmbeddingCache(tmp_path / "emb.db")), config=config, seed=seed)
    return make


def _test_xy(task):
    index = {label: i for i, label in enumerate(task.labels)}
    return task.test.text.tolist(), task.test.label.map(index).to_numpy()


@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if METHODS[m].fit is not None])  # decoders: test_decoder
def test_each_method_fits_predicts_and_saves(method, make_context, fortunes_small, tmp_path):
    ctx = make_context(budget={"max_epochs": 1, "min_steps": 3})
    fitted = METHODS[method].fit(ctx)
    texts, _ = _test_xy(fortunes_small)
    probs = fitted.predict_proba(texts)
    assert probs.shape == (len(texts), 5)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4) and (probs >= 0).all()
    (tmp_path / "out").mkdir()
    fitted.save(tmp_path / "out")
    assert sum(f.stat().st_size for f in (tmp_path / "out").rglob("*") if f.is_file()) > 0
    assert 0 <= fitted.trainable_parameters <= fitted.total_parameters


@pytest.mark.parametrize("method", ["probe", "tfidf", "rag"])
def test_cheap_methods_beat_chance_with_eight_examples_per_class(method, make_context, fortunes_small):
    fitted = METHODS[method].fit(make_context(per_class=8))
    texts, y = _test_xy(fortunes_small)
    accuracy = (fitted.predict_proba(texts).argmax(1) == y).mean()
    assert accuracy > 0.35, f"{method}: {accuracy:.2f} is not clearly above the 0.20 of chance"


def test_lora_trains_only_adapter_and_head_and_saves_in_peft_format(make_context, tmp_path):
    fitted = METHODS["lora"].fit(make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.trainable_parameters < 0.01 * fitted.total_parameters
    fitted.save(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").is_file() and (tmp_path / "adapter_config.json").is_file()
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(tmp_path).r == 8


def test_full_trains_everything_and_scratch_starts_from_random_weights(make_context, base_model):
    full = METHODS["full"].fit(make_context(budget={"max_epochs": 1, "min_steps": 1}))
    assert full.trainable_parameters == full.total_parameters
    scratch = METHODS["scratch"].fit(make_context(budget={"max_epochs": 1, "min_steps": 1}))
    pretrained = base_model.encoder().embeddings.word_embeddings.weight
    random_init = scratch.model.base_model.embeddings.word_embeddings.weight.detach()
    assert not np.allclose(pretrained.detach().numpy()[:100], random_init.numpy()[:100], atol=1e-2)


def test_training_records_the_loop_and_stops_early_when_nothing_improves(make_context):
    fitted = METHODS["full"].fit(make_context(budget={"max_epochs": 20, "min_steps": 0, "patience": 1},
                                              training={"batch_size": 8, "learning_rates": {"full": 1e-9}}))
    details = fitted.details
    assert details["stop_reason"] == "early_stopping"
    assert details["steps"] < details["planned_steps"]
    assert details["losses"] and details["best_step"] >= 1


def test_a_time_budget_stops_training(make_context):
    fitted = METHODS["scratch"].fit(make_context(budget={"max_epochs": 50, "max_train_seconds": 0.5}))
    assert fitted.details["stop_reason"] == "time_budget"


def test_the_prompt_is_the_users_label_descriptions(make_context, fortunes_small):
    descriptions = {"limerick": "a limerick: a funny five-line poem with an AABBA rhyme"}
    fitted = METHODS["prompt"].fit(make_context(prompt={"template": "A quote from {label}.",
                                                       "descriptions": descriptions}))
    assert fitted.prompts[fortunes_small.labels.index("limerick")] == descriptions["limerick"]
    assert fitted.prompts[fortunes_small.labels.index("zippy")] == "A quote from zippy."


def test_rag_uses_a_corpus_and_unlabelled_documents_vote_through_the_prompt(make_context):
    corpus = pd.DataFrame({"text": ["There once was a man from Nantucket", "Anything that can go wrong will"],
                           "label": ["limerick", ""]})
    ctx = make_context(corpus=corpus, rag={"source": "corpus", "k": 2})
    fitted = METHODS["rag"].fit(ctx)
    assert fitted.details["entries"] == 2 and fitted.details["unlabelled_entries"] == 1
    assert fitted.votes[0, ctx.labels.index("limerick")] == 1.0
    assert fitted.votes[1].sum() == pytest.approx(1.0) and fitted.votes[1].max() < 1.0


def test_rag_asked_for_a_corpus_that_is_not_there_says_so(make_context):
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="no knowledge corpus"):
        METHODS["rag"].fit(make_context(rag={"source": "corpus"}))


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_faiss_indexes_save_reload_and_find_exact_matches(kind, tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(vectors, kind, approximate_above=10**9)
    save_index(index, tmp_path / "i.faiss")
    reloaded = load_index(tmp_path / "i.faiss")
    _, ids = reloaded.search(vectors[:50], 1)
    assert (ids[:, 0] == np.arange(50)).mean() >= 0.9
    assert reloaded.ntotal == 2000


def test_auto_index_switches_to_approximate_above_the_threshold():
    vectors = np.eye(64, dtype=np.float32)
    assert type(build_index(vectors, "auto", approximate_above=100)).__name__ == "IndexFlatIP"
    assert type(build_index(vectors, "auto", approximate_above=10)).__name__ == "IndexHNSWFlat"


def test_hnsw_searches_wider_as_the_index_grows_and_keeps_its_settings(tmp_path):
    from core.methods.rag import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_EF_SEARCH_MAX, hnsw_ef_search

    breadths = [hnsw_ef_search(n) for n in (1, 100_000, 300_000, 1_000_000, 10**7, 10**9)]
    assert breadths[:2] == [HNSW_EF_SEARCH] * 2 and breadths == sorted(breadths)
    assert breadths[3] == 2 * HNSW_EF_SEARCH and breadths[-1] == HNSW_EF_SEARCH_MAX
    index = build_index(np.eye(64, dtype=np.float32), "hnsw", approximate_above=0)
    save_index(index, tmp_path / "i.faiss")
    reloaded = load_index(tmp_path / "i.faiss")
    assert reloaded.hnsw.efConstruction == HNSW_EF_CONSTRUCTION and reloaded.hnsw.efSearch == HNSW_EF_SEARCH


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
    fitted = METHODS["full"].fit(make_context(budget={"max_epochs": 1, "min_steps": 3}, training={"batch_size": 8}))
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
    with pytest.raises(MemoryError, match="max_length"):
        METHODS["full"].fit(make_context(budget={"max_epochs": 1, "min_steps": 1}))


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


def test_trained_runs_record_throughput_and_mfu_arithmetic(make_context):
    from core.training.throughput import flops_per_token, peak_flops

    fitted = METHODS["lora"].fit(make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["tokens_per_second"] > 0
    assert fitted.details["mfu"] is None  # no known peak rate for a CPU
    assert flops_per_token(1_000, 2, 10, 5) == 6_000 + 12 * 2 * 10 * 5
    import torch

    assert peak_flops(torch.device("cuda"), "NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops(torch.device("cuda"), "NVIDIA H100 PCIe") == 756e12
    assert peak_flops(torch.device("cpu"), "") is None


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
    fitted = METHODS["full"].fit(make_context(training={"batch_size": 8, "compile": True},
                                              budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.details["execution"].startswith("eager: torch.compile failed (RuntimeError: no C++ compiler")
    assert fitted.details["steps"] >= 2
