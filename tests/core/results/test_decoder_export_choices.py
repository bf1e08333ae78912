"""LLM options whose prompt depends on the question beyond plain retrieval, and a run computed in bf16, exported and
answered in a fresh process without adaptlab exactly as the run answered:

- few-shot with llm.shot_selection: similar (each question's nearest training examples as its shots);
- RAG (dense, and hybrid) reranked by a cross-encoder (rag.reranker: a tiny random one, built here);
- prompt, RAG, LoRA and full fine-tuning on a base run in bf16 (model.precision: bf16; emulated on this CPU).

The helpers (the tiny grids' config, the fresh process) are tests/core/results/test_decoder_export.py's.
"""

from __future__ import annotations

import json

import pytest

from tests.core.results.test_decoder_export import _config, _export, _stored, predict_each_in_a_fresh_process

pytestmark = pytest.mark.slow

PICKING = ["fewshot", "rag", "rag_hybrid"]
IN_BF16 = ["prompt", "rag", "lora", "full"]


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    """A random 1-layer BERT cross-encoder (one relevance score) with the built-in encoder's tokenizer, as
    tests/core/evaluation/test_retrieval.py builds one."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from core.backbone.models import resolve_model

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default")[1])
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1, max_position_embeddings=512)
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def choice_grids(tiny_llama_folder, cross_encoder, tmp_path_factory):
    """(store, {name: test texts}, home): similar shots and reranked RAG in fp32; four options in bf16."""
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from core.task.load import load_task

    home = tmp_path_factory.mktemp("decoder-choices-home")
    store = SqlStore(home / "results.db")
    tests = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTLAB_HOME", str(home))
        patch.setenv("ADAPTLAB_MODEL_ROOTS", str(tiny_llama_folder.parent))
        picking = _config(tiny_llama_folder, "llm-picks", methods=PICKING,
                          llm={"context_length": 256, "max_new_tokens": 4, "max_shots": 2,
                               "shot_selection": "similar"},
                          rag={"k": 2, "reranker": str(cross_encoder)})
        in_bf16 = _config(tiny_llama_folder, "llm-bf16", methods=IN_BF16)
        in_bf16["model"] = {**in_bf16["model"], "precision": "bf16"}
        for config in (picking, in_bf16):
            parsed = parse_config(config)
            run_experiment(parsed, store)
            tests[parsed.name] = load_task(parsed.task, parsed.name).test.text.tolist()
    return store, tests, home


def _export_each(store, home, name, methods, tmp_path):
    runs = store.runs_frame(name).set_index("method")
    assert set(runs.index) == set(methods) and (runs.status == "finished").all(), runs.status
    return {method: _export(store, home, name, f"{method}@{runs.loc[method, 'size']}", tmp_path / method)
            for method in methods}


def test_similar_shots_and_a_reranker_export_and_answer_as_the_run_did(choice_grids, cross_encoder, tiny_llama,
                                                                      tmp_path):
    store, tests, home = choice_grids
    exported = _export_each(store, home, "llm-picks", PICKING, tmp_path)
    answered = predict_each_in_a_fresh_process([tmp_path / m for m in PICKING], tests["llm-picks"], tmp_path)
    for method, result in exported.items():
        assert answered[str(tmp_path / method)] == _stored(store, "llm-picks", result.run_key), method
    shots = json.loads((tmp_path / "fewshot" / "adaptlab.json").read_text(encoding="utf-8"))
    # more examples than shots shown: which two each question gets is a choice the export must repeat
    assert shots["shot_selection"]["count"] == 2 and len(shots["prompt"]["shot_pool"]) > 2
    assert (tmp_path / "fewshot" / "shots.faiss").is_file()
    card = (tmp_path / "fewshot" / "README.md").read_text(encoding="utf-8")
    assert "each question's 2 nearest training examples" in card and "shots.faiss" in card
    for method in ("rag", "rag_hybrid"):
        retrieval = json.loads((tmp_path / method / "adaptlab.json").read_text(encoding="utf-8"))["retrieval"]
        assert retrieval["reranker"] == {"name": str(cross_encoder), "folder": "reranker", "width": 4}
        assert (tmp_path / method / "reranker" / "model.safetensors").is_file()
        assert "reranked by the cross-encoder" in (tmp_path / method / "README.md").read_text(encoding="utf-8")


def test_a_run_in_bf16_exports_and_answers_as_the_run_did(choice_grids, tiny_llama, tmp_path):
    store, tests, home = choice_grids
    exported = _export_each(store, home, "llm-bf16", IN_BF16, tmp_path)
    for result in exported.values():
        record = store.runs_frame("llm-bf16").set_index("run_key").loc[result.run_key].record
        assert record["environment"]["precision"] == "bf16"
        settings = json.loads((result.folder / "adaptlab.json").read_text(encoding="utf-8"))
        assert settings["precision"] == "bf16" and "bf16 autocast" in (result.folder / "README.md").read_text()
    answered = predict_each_in_a_fresh_process([tmp_path / m for m in IN_BF16], tests["llm-bf16"], tmp_path)
    for method, result in exported.items():
        assert answered[str(tmp_path / method)] == _stored(store, "llm-bf16", result.run_key), method
