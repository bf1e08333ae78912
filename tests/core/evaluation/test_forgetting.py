"""Forgetting probes on the encoder (core/evaluation/forgetting.py).

The LLM's are in tests/core/backbone/test_decoder.py."""

import numpy as np
import pytest

from core.evaluation.forgetting import (
    PROBE_SIZE,
    PROBES,
    choose_probe,
    country_pairs,
    forgetting_scores,
    hidden_embeddings,
    language_pairs,
    recall_at_1,
)


def test_recall_at_1_is_the_share_of_queries_whose_nearest_target_is_their_own():
    targets = np.eye(4, dtype=np.float32)
    assert recall_at_1(targets, targets) == 1.0
    swapped = targets[[1, 0, 2, 3]]  # queries 0 and 1 find each other's target
    assert recall_at_1(swapped, targets) == 0.5
    assert recall_at_1(targets[[1, 2, 3, 0]], targets) == 0.0


def test_auto_picks_the_first_probe_unrelated_to_the_task():
    assert list(PROBES) == ["countries", "languages"]
    assert choose_probe("auto", set()) == "countries"
    assert choose_probe("auto", {"countries"}) == "languages"  # a task about countries: not the countries probe
    assert choose_probe("auto", {"countries", "languages"}) is None
    assert choose_probe("languages", set()) == "languages" and choose_probe("off", set()) is None


def test_the_country_probe_pairs_official_names_with_common_ones():
    pairs = country_pairs()
    assert 100 < len(pairs) <= PROBE_SIZE and pairs == sorted(pairs)
    assert ("Republic of Angola", "Angola") in pairs
    assert all(query != target for query, target in pairs)


def test_the_language_probe_is_a_fixed_sample_of_inverted_names():
    pairs = language_pairs()
    assert len(pairs) == PROBE_SIZE and pairs == language_pairs()  # the same sample on every call
    assert len(set(pairs)) == PROBE_SIZE and pairs == sorted(pairs)
    assert all(query != target and ", " in target for query, target in pairs)  # "Fulfulde, Adamawa"


def test_hidden_embeddings_are_unit_vectors_whatever_the_batching_and_padding(base_model):
    texts = ["Republic of Angola", "a much longer text that makes every other row in its batch padded", "Angola"]
    encoder = base_model.encoder()
    batched = hidden_embeddings(encoder, base_model.tokenizer, texts, base_model.device, 64)
    one_by_one = hidden_embeddings(encoder, base_model.tokenizer, texts, base_model.device, 64, batch_size=1)
    assert batched.shape == (3, base_model.config.hidden_size)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)  # padding is masked out of the mean
    similarity = batched @ batched.T
    assert similarity[0, 2] > similarity[0, 1]  # the official name is nearer its common name than to prose


def test_forgetting_is_zero_for_an_untouched_model_and_the_base_is_measured_once(base_model):
    from core.training.loop import TrainedClassifier

    untouched = TrainedClassifier(base_model.classifier(3), base_model.tokenizer, base_model.device, 64, 32, None, 0, 0)
    baseline = {}
    scores = forgetting_scores(untouched, base_model, "countries", baseline)
    assert scores["recall_lost"] == pytest.approx(0.0, abs=1e-9) and 0.5 < scores["base_recall"] <= 1.0
    assert scores["pairs"] == len(country_pairs()) and scores["adapted_recall"] == pytest.approx(scores["base_recall"])
    assert list(baseline) == ["countries"] and baseline["countries"].mean() == scores["base_recall"]  # once
    assert scores["base_hits"] == scores["adapted_hits"] and len(scores["base_hits"]) == scores["pairs"]
    assert scores["base_hits"].count("1") == round(scores["base_recall"] * scores["pairs"])
    baseline["countries"] = np.ones(scores["pairs"], bool)  # a stored baseline is used as it is, not measured again
    again = forgetting_scores(untouched, base_model, "countries", baseline)
    assert again["recall_lost"] == pytest.approx(1.0 - scores["adapted_recall"]) and set(again["base_hits"]) == {"1"}
