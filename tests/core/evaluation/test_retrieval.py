"""Retrieval: dense, BM25 (bm25s), hybrid (reciprocal rank fusion), a cross-encoder reranker, and recall@k / MRR
against each question's source, on geo-qa's real passages and a tiny random cross-encoder."""

from __future__ import annotations

import pytest

from core.backbone.retrieval import (
    RERANK_WIDTH,
    DenseSearch,
    LexicalSearch,
    Reranked,
    build_search,
    load_reranker,
    reciprocal_rank_fusion,
)
from core.config import parse_config
from core.errors import ConfigError
from core.evaluation.retrieval import first_hit, mrr, recall_at_k, retrieval_metrics, retrieval_table
from core.methods.rag import build_index
from tests.conftest import tiny_config


# ---- recall@k and MRR ----------------------------------------------------------------------------------------
def test_recall_and_mrr_count_the_first_hit_by_chunk_id_or_document():
    retrieved = [["a#0", "b#0", "c#0"], ["b#1", "a#1", "c#1"], ["c#0", "c#1", "b#0"], ["a#0"]]
    documents = [["a", "b", "c"], ["b", "a", "c"], ["c", "c", "b"], ["a"]]
    sources = ["a#0", "a", "a#5", ""]  # by chunk id, by document, missed, no source (left out)
    assert first_hit(retrieved[1], "a", documents[1]) == 2 and first_hit(retrieved[1], "a") is None
    assert recall_at_k(retrieved, sources, 3, documents) == pytest.approx(2 / 3)
    assert recall_at_k(retrieved, sources, 1, documents) == pytest.approx(1 / 3)
    assert mrr(retrieved, sources, documents) == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert recall_at_k(retrieved, sources, 3) == pytest.approx(1 / 3)  # without documents a name matches no id
    assert retrieval_metrics(retrieved, [""] * 4, 3) == {} and mrr(retrieved, [None, float("nan"), "", ""]) is None
    assert retrieval_metrics(retrieved, sources, 3, documents)["retrieval_known"] == 3


def test_the_retrieval_table_averages_finished_runs_that_recorded_it():
    import pandas as pd

    runs = pd.DataFrame({"method": ["rag", "rag", "rag_bm25", "prompt", "rag"], "size": ["0"] * 5,
                         "status": ["finished", "finished", "finished", "finished", "failed"],
                         "record": [{"retrieval_recall": 0.5, "retrieval_mrr": 0.25, "retrieval_k": 4},
                                    {"retrieval_recall": 1.0, "retrieval_mrr": 0.75, "retrieval_k": 4},
                                    {"retrieval_recall": 1.0, "retrieval_mrr": 1.0, "retrieval_k": 4}, {},
                                    {"retrieval_recall": 0.0, "retrieval_mrr": 0.0, "retrieval_k": 4}]})
    table = retrieval_table(runs).set_index("method")
    assert list(table.index) == ["rag", "rag_bm25"]
    assert table.loc["rag", "retrieval_recall"] == 0.75 and table.loc["rag", "retrieval_mrr"] == 0.5


def test_a_run_scores_its_retrieval_by_chunk_or_by_the_document_the_corpus_names():
    """evaluate_qa's wiring: a source naming a document is found by any of its chunks (the corpus' document column)."""
    from core.evaluation.qa import retrieval_of
    from core.methods.decoder.predictors import Retriever

    passages = ["Tariffs are set each May.", "Refunds take ten days.", "The office opens at nine."]
    ids, documents = ["pay.md#0", "pay.md#1", "office.md#0"], ["pay.md", "pay.md", "office.md"]
    retriever = Retriever(None, LexicalSearch(passages), list(passages), list(ids), 2, list(documents))
    questions = ["How long do refunds take?", "When does the office open?", "When are tariffs set?"]
    found = [[retriever.ids[i] for i in row] for row in retriever.search(questions)]
    assert found == [["pay.md#1"], ["office.md#0"], ["pay.md#0"]]
    metrics = retrieval_of(retriever, found, ["pay.md", "office.md#0", "pay.md#1"])  # the last one: a miss
    assert metrics["retrieval_recall"] == pytest.approx(2 / 3) and metrics["retrieval_mrr"] == pytest.approx(2 / 3)
    assert metrics["retrieval_k"] == 2 and metrics["retrieval_known"] == 3


# ---- the searches --------------------------------------------------------------------------------------------
def test_reciprocal_rank_fusion_rewards_agreement():
    # 7 is second in both lists (2/62), 1 and 2 first in one each (1/61): agreement wins; the tie keeps list order
    fused = reciprocal_rank_fusion([[[1, 7, 3]], [[2, 7, 4]]], k=3)
    assert fused == [[7, 1, 2]]
    assert reciprocal_rank_fusion([[[5, 6]], [[]]], k=5) == [[5, 6]]  # one ranking empty: the other's order


def test_bm25_finds_words_drops_passages_without_any_and_takes_new_ones():
    search = LexicalSearch(["The cat sat on the mat.", "Dogs run in parks.", "A parrot talks."])
    assert search.search(["running dogs"], 3) == [[1]]  # stemmed: running -> run; no other passage shares a word
    assert search.search(["quantum"], 2) == [[]]
    search.add(["Quantum computers use qubits."])
    assert search.search(["quantum"], 2) == [[3]]
    assert search.search(["the of", ""], 2) == [[], []]  # stopwords only, nothing: no evidence, no passage
    wordless = LexicalSearch(["a", "of the"])  # nothing bm25s can index: found nothing, not a crash
    assert wordless.search(["a cat"], 2) == [[]]
    wordless.add(["A cat."])
    assert wordless.search(["a cat"], 2) == [[2]]


@pytest.fixture(scope="module")
def geo(base_model, tmp_path_factory):
    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.task.scenarios import build_scenario

    task = build_scenario("geo-qa", quick=True)
    embedder = Embedder(base_model, EmbeddingCache(tmp_path_factory.mktemp("emb") / "emb.db"))
    passages = task.corpus.text.tolist()
    return task, embedder, passages, build_index(embedder.encode(passages), "flat", 50_000)


@pytest.mark.parametrize("kind, at_least", [("dense", 0.9), ("bm25", 1.0), ("hybrid", 1.0)])
def test_each_retriever_finds_geo_qa_source_passages(geo, kind, at_least):
    """On real passages: every covered test question's passage is in the top 4 by words (names are rare words);
    dense misses a few (measured: dense 0.94, bm25 1.00, hybrid 1.00 at k=4)."""
    task, embedder, passages, index = geo
    ids = task.corpus.id.tolist()
    found = build_search(kind, passages, embedder, index).search(task.test.text.tolist(), 4)
    retrieved = [[ids[i] for i in row] for row in found]
    assert recall_at_k(retrieved, task.test.passage_id.tolist(), 4) >= at_least
    assert all(len(row) <= 4 for row in found)


def test_dense_search_is_the_faiss_index_as_before(geo):
    """rag.retriever: dense (the default) finds exactly what the FAISS index alone finds."""
    task, embedder, passages, index = geo
    questions = task.test.text.tolist()
    _, expected = index.search(embedder.encode(questions), 4)
    assert DenseSearch(embedder, index).search(questions, 4) == expected.tolist()


# ---- the reranker --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_cross_encoder(base_model, tmp_path_factory):
    """A random 1-layer BERT cross-encoder (one relevance score) with the built-in encoder's tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("cross-encoder")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(base_model.tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, num_labels=1, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    base_model.tokenizer.save_pretrained(folder)
    return folder


def test_a_reranker_orders_a_wider_candidate_list_by_its_scores(geo, tiny_cross_encoder):
    task, embedder, passages, index = geo
    model = load_reranker(str(tiny_cross_encoder), "cpu")
    questions = task.test.text.tolist()[:6]
    first = DenseSearch(embedder, index)
    reranked = build_search("dense", passages, embedder, index, reranker=model)
    assert isinstance(reranked, Reranked)
    candidates, found = first.search(questions, 3 * RERANK_WIDTH), reranked.search(questions, 3)
    for question, wide, row in zip(questions, candidates, found):
        scores = model.predict([(question, passages[i]) for i in wide]).tolist()
        best = sorted(range(len(wide)), key=lambda j: -scores[j])[:3]
        assert row == [wide[j] for j in best]
    assert found != first.search(questions, 3)  # a random cross-encoder reorders: the reranking is not a no-op


def test_a_reranker_that_cannot_be_loaded_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="rag.reranker") as refused:
        load_reranker(str(tmp_path / "no-such-model"))
    assert "\n" not in str(refused.value)


# ---- config ---------------------------------------------------------------------------------------------------
def test_the_retriever_is_a_setting_checked_at_the_boundary():
    assert parse_config(tiny_config()).rag.retriever == "dense" and parse_config(tiny_config()).rag.reranker is None
    assert parse_config(tiny_config(rag={"retriever": "hybrid"})).rag.retriever == "hybrid"
    with pytest.raises(ConfigError, match="rag.retriever"):
        parse_config(tiny_config(rag={"retriever": "splade"}))


def test_an_encoder_refuses_bm25_and_hybrid_in_one_sentence(fortunes_small):
    from core.running.runner import choose_methods

    for rag in ({"retriever": "bm25"}, {"retriever": "hybrid"}, {"reranker": "some/cross-encoder"}):
        with pytest.raises(ConfigError, match="apply to RAG on a decoder LLM") as refused:
            choose_methods(parse_config(tiny_config(rag=rag)), "encoder", fortunes_small)
        assert "\n" not in str(refused.value)
    assert choose_methods(parse_config(tiny_config(methods=["rag"])), "encoder", fortunes_small) == ["rag"]
    with pytest.raises(ConfigError, match="rag_bm25 do not run on a sentence encoder"):
        choose_methods(parse_config(tiny_config(methods=["rag_bm25"])), "encoder", fortunes_small)


# ---- end to end ------------------------------------------------------------------------------------------------
def test_retrievers_side_by_side_in_one_grid_on_a_tiny_llm(tiny_llama, capsys):
    """rag follows rag.retriever (hybrid here), rag_bm25 fixes BM25: both run in one grid on geo-qa's passages and
    record recall@k and MRR against each question's passage; new documents are indexed by both searches."""
    from core.results.export import runs_csv
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    config = parse_config({
        "name": "tiny-retrievers", "task": {"builtin": "geo-qa", "kind": "qa", "builtin_options": {"quick": True}},
        "model": {"name": str(tiny_llama), "precision": "fp32"}, "methods": ["rag", "rag_bm25"], "sizes": [8],
        "seeds": [0], "rag": {"k": 2, "retriever": "hybrid"}, "forgetting": "off",
        "llm": {"context_length": 256, "max_new_tokens": 4}})
    store = SqlStore()
    run_experiment(config, store)
    runs = store.runs_frame(config.name).set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    hybrid, bm25 = runs.loc["rag"].record, runs.loc["rag_bm25"].record
    assert hybrid["details"]["retrieval"] == "hybrid" and bm25["details"]["retrieval"] == "bm25"
    assert bm25["details"]["retriever"] == "BM25 (bm25s)"
    assert bm25["retrieval_recall"] == 1.0 and bm25["retrieval_mrr"] == 1.0  # a subdivision's name is a rare word
    assert 0.9 <= hybrid["retrieval_recall"] <= 1.0 and 0 < hybrid["retrieval_mrr"] <= hybrid["retrieval_recall"]
    assert hybrid["retrieval_k"] == 2 and all(len(found) == 2 for found in hybrid["retrieved"])
    for record in (hybrid, bm25):
        assert record["knowledge_update"]["how"] == "indexed the new documents"
    table = retrieval_table(store.runs_frame(config.name)).set_index("method")
    assert table.loc["rag_bm25", "retrieval_recall"] == 1.0
    assert "retrieval_mrr" in runs_csv(store.runs_frame(config.name)).splitlines()[0]
    from core.cli import main

    capsys.readouterr()
    assert main(["show", config.name]) == 0
    shown = capsys.readouterr().out
    assert "recall@k" in shown and "MRR" in shown and "rag_bm25" in shown
