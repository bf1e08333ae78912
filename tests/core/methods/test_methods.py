"""Every method on a small slice of real data (the fortunes collections), through the one interface."""

import numpy as np
import pandas as pd
import pytest

from core.backbone.vector_index import build_index, load_index, save_index
from core.config import METHOD_NAMES
from core.methods import METHODS


def test_the_registry_is_the_config_method_list():
    assert tuple(METHODS) == METHOD_NAMES
    for name, spec in METHODS.items():
        assert spec.name == name and spec.title
        assert callable(spec.fit_for("encoder") or spec.fit_for("decoder"))  # runs on at least one backbone
        if spec.offered_on("encoder"):
            assert spec.supports("encoder", "classification")




def _test_xy(task):
    index = {label: i for i, label in enumerate(task.labels)}
    return task.test.text.tolist(), task.test.label.map(index).to_numpy()


# decoders: test_decoder
@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if METHODS[m].offered_on("encoder")])
def test_each_method_fits_predicts_and_saves(method, make_context, fortunes_small, tmp_path):
    ctx = make_context(budget={"max_epochs": 1, "min_steps": 3})
    ctx.max_steps = 3  # methods with their own step plan (SetFit) stop there too
    fitted = METHODS[method].fits["encoder"](ctx)
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
    fitted = METHODS[method].fits["encoder"](make_context(per_class=8))
    texts, y = _test_xy(fortunes_small)
    accuracy = (fitted.predict_proba(texts).argmax(1) == y).mean()
    assert accuracy > 0.35, f"{method}: {accuracy:.2f} is not clearly above the 0.20 of chance"


def test_lora_trains_only_adapter_and_head_and_saves_in_peft_format(make_context, tmp_path):
    fitted = METHODS["lora"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 2}))
    assert fitted.trainable_parameters < 0.01 * fitted.total_parameters
    fitted.save(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").is_file() and (tmp_path / "adapter_config.json").is_file()
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(tmp_path).r == 8


def test_full_trains_everything_and_scratch_starts_from_random_weights(make_context, base_model):
    full = METHODS["full"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 1}))
    assert full.trainable_parameters == full.total_parameters
    scratch = METHODS["scratch"].fits["encoder"](make_context(budget={"max_epochs": 1, "min_steps": 1}))
    pretrained = base_model.encoder().embeddings.word_embeddings.weight
    random_init = scratch.model.base_model.embeddings.word_embeddings.weight.detach()
    assert not np.allclose(pretrained.detach().numpy()[:100], random_init.numpy()[:100], atol=1e-2)


def test_the_prompt_is_the_users_label_descriptions(make_context, fortunes_small):
    descriptions = {"limerick": "a limerick: a funny five-line poem with an AABBA rhyme"}
    fitted = METHODS["prompt"].fits["encoder"](make_context(prompt={"template": "A quote from {label}.",
                                                       "descriptions": descriptions}))
    assert fitted.prompts[fortunes_small.labels.index("limerick")] == descriptions["limerick"]
    assert fitted.prompts[fortunes_small.labels.index("zippy")] == "A quote from zippy."


def test_rag_uses_a_corpus_and_unlabelled_documents_vote_through_the_prompt(make_context):
    corpus = pd.DataFrame({"text": ["There once was a man from Nantucket", "Anything that can go wrong will"],
                           "label": ["limerick", ""]})
    ctx = make_context(corpus=corpus, rag={"source": "corpus", "k": 2})
    fitted = METHODS["rag"].fits["encoder"](ctx)
    assert fitted.details["entries"] == 2 and fitted.details["unlabelled_entries"] == 1
    assert fitted.votes[0, ctx.labels.index("limerick")] == 1.0
    assert fitted.votes[1].sum() == pytest.approx(1.0) and fitted.votes[1].max() < 1.0


def test_rag_asked_for_a_corpus_that_is_not_there_says_so(make_context):
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="no knowledge corpus"):
        METHODS["rag"].fits["encoder"](make_context(rag={"source": "corpus"}))


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
    from core.backbone.vector_index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_EF_SEARCH_MAX, hnsw_ef_search

    breadths = [hnsw_ef_search(n) for n in (1, 100_000, 300_000, 1_000_000, 10**7, 10**9)]
    assert breadths[:2] == [HNSW_EF_SEARCH] * 2 and breadths == sorted(breadths)
    assert breadths[3] == 2 * HNSW_EF_SEARCH and breadths[-1] == HNSW_EF_SEARCH_MAX
    index = build_index(np.eye(64, dtype=np.float32), "hnsw", approximate_above=0)
    save_index(index, tmp_path / "i.faiss")
    reloaded = load_index(tmp_path / "i.faiss")
    assert reloaded.hnsw.efConstruction == HNSW_EF_CONSTRUCTION and reloaded.hnsw.efSearch == HNSW_EF_SEARCH
