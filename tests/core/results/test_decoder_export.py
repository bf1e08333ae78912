"""An option run on a decoder LLM (prompting, few-shot, RAG of each retriever, LoRA, full, corpus fine-tuning, RAG +
LoRA) exported, then loaded in a fresh process with transformers, peft, faiss, sentence-transformers and bm25s alone:
it answers the test set exactly as the run did.

Two tiny grids on the tiny random Llama (tests/decoder_model.py), weights kept: fortunes (classification: each label
scored after the prompt) and geo-qa (questions: the greedy reply).
"""

from __future__ import annotations

import json

import pytest
import yaml

from core.errors import AdaptlabError

CLASSIFYING = ["prompt", "fewshot", "rag", "rag_bm25", "rag_hybrid", "lora", "full", "scratch", "rag_lora"]
ANSWERING = ["rag", "rag_bm25", "corpus_ft", "rag_lora"]

pytestmark = pytest.mark.slow


def _config(folder, name: str, **overrides) -> dict:
    # 16 fortunes per collection: a few test texts each, so the grid runs in minutes on a busy CPU
    config = {"name": name, "task": {"builtin": "fortunes", "builtin_options": {"per_class": 16}},
              "model": {"name": str(folder), "precision": "fp32", "max_length": 48}, "sizes": [4], "seeds": [0],
              "budget": {"max_epochs": 1, "min_steps": 2}, "training": {"batch_size": 8}, "keep_artifacts": True,
              "forgetting": "off", "llm": {"context_length": 256, "max_new_tokens": 4}, "rag": {"k": 2}}
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def decoder_grids(tiny_llama_folder, tmp_path_factory):
    """(store, {name: (test texts, contexts)}) of a classification grid and a QA grid, every run's files kept."""
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from core.task.load import load_task

    home = tmp_path_factory.mktemp("decoder-export-home")
    store = SqlStore(home / "results.db")
    tests = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTLAB_HOME", str(home))
        patch.setenv("ADAPTLAB_MODEL_ROOTS", str(tiny_llama_folder.parent))
        for config in (_config(tiny_llama_folder, "llm-classes", methods=CLASSIFYING),
                       _config(tiny_llama_folder, "llm-qa", methods=ANSWERING, sizes=[16],
                               task={"builtin": "geo-qa", "kind": "qa", "builtin_options": {"quick": True}})):
            parsed = parse_config(config)
            run_experiment(parsed, store)
            test = load_task(parsed.task, parsed.name).test
            tests[parsed.name] = (test.text.tolist(),
                                  test.context.tolist() if "context" in test else None)
    return store, tests, home


def _stored(store, name: str, run_key: str) -> list[str]:
    """What the run answered: its labels (classification) or its answers (QA)."""
    run = store.runs_frame(name, with_predictions=True).set_index("run_key").loc[run_key]
    if store.experiment(name)["task"]["kind"] == "qa":
        return run.record["answers"]
    return [store.experiment(name)["labels"][i] for i in run.predictions]


def _export(store, home, name: str, option: str, out, **options):
    from core.results.artifact_export import export_option

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTLAB_HOME", str(home))
        return export_option(store, name, option, out, **options)


# each exported load.py's predict() in turn, in one process where adaptlab cannot be imported (one process for all:
# importing torch and transformers once is most of a load's time on a small CPU)
RUN_LOADERS = """
import json, runpy, sys
sys.modules["core"] = None  # `import core` now raises ImportError
texts, options = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
print(json.dumps({folder: runpy.run_path(folder + "/load.py")["predict"](texts, **options) for folder in sys.argv[3:]}))
"""


def predict_each_in_a_fresh_process(folders, texts, tmp_path, **options) -> dict[str, list[str]]:
    import subprocess
    import sys

    listed = tmp_path / "texts.json"
    listed.write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-c", RUN_LOADERS, str(listed), json.dumps(options),
                           *map(str, folders)], capture_output=True, text=True, cwd=tmp_path, timeout=1800,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                               "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("name", "methods"), [("llm-classes", CLASSIFYING), ("llm-qa", ANSWERING)])
def test_each_exported_llm_option_answers_as_its_run_did_without_adaptlab(decoder_grids, tiny_llama, tmp_path, name,
                                                                           methods):
    store, tests, home = decoder_grids
    texts, contexts = tests[name]
    runs = store.runs_frame(name).set_index("method")
    exported = {method: _export(store, home, name, f"{method}@{runs.loc[method, 'size']}", tmp_path / method)
                for method in methods}
    answered = predict_each_in_a_fresh_process([tmp_path / method for method in methods], texts, tmp_path,
                                               **({"contexts": contexts} if contexts else {}))
    for method, result in exported.items():
        assert answered[str(tmp_path / method)] == _stored(store, name, result.run_key), method
        out = tmp_path / method
        settings = json.loads((out / "adaptlab.json").read_text(encoding="utf-8"))
        assert settings["base_model"] == str(tiny_llama)
        if method in ("lora", "corpus_ft", "rag_lora"):  # a peft adapter folder on the named base
            adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
            assert adapter["base_model_name_or_path"] == str(tiny_llama) and adapter["task_type"] == "CAUSAL_LM"
        if method.startswith("rag"):
            assert (out / "passages.jsonl").is_file()
            assert (out / "index.faiss").is_file() == (method != "rag_bm25")
            assert (out / "bm25").is_dir() == (method in ("rag_bm25", "rag_hybrid"))
        if method == "fewshot":
            assert settings["prompt"]["shots"] and all(len(shot) == 2 for shot in settings["prompt"]["shots"])


def test_the_merged_llm_adapter_is_a_transformers_folder_that_answers_the_same(decoder_grids, tiny_llama, tmp_path):
    import subprocess
    import sys

    store, tests, home = decoder_grids
    texts, _ = tests["llm-classes"]
    out = tmp_path / "lora"
    result = _export(store, home, "llm-classes", "lora@4", out, merged=True)
    # the merged folder alone, with transformers and no peft: the same label for every text
    script = ("import json, sys, runpy; sys.modules['peft'] = None; sys.modules['core'] = None\n"
              "load = runpy.run_path(sys.argv[1])\n"
              "load['SETTINGS']['weights'] = 'model'; load['HERE'] = __import__('pathlib').Path(sys.argv[1]).parent\n"
              "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
              "folder = sys.argv[2]\n"
              "tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)\n"
              "texts = json.load(open(sys.argv[3]))\n"
              "scores = [load['label_scores'](tokenizer, model.eval(), p) for p in load['prompts'](tokenizer, texts)]\n"
              "print(json.dumps([load['SETTINGS']['labels'][s.index(max(s))] for s in scores]))")
    listed = tmp_path / "texts.json"
    listed.write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-c", script, str(out / "load.py"), str(out / "merged"), str(listed)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == _stored(store, "llm-classes", result.run_key)


def test_the_llm_card_names_its_base_prompt_and_retrieval(decoder_grids, tiny_llama, tmp_path):
    store, _, home = decoder_grids
    _export(store, home, "llm-classes", "rag_hybrid@4", tmp_path / "rag")
    card = (tmp_path / "rag" / "README.md").read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["base_model"] == str(tiny_llama) and meta["pipeline_tag"] == "text-generation"
    for said in ("PeftModel" not in body, "passages.jsonl" in body, "fused by reciprocal rank" in body,
                 "greedy" in body, "chat template" in body, "all-MiniLM-L6-v2" in body):
        assert said, body


def test_llm_refusals_are_one_sentence_and_write_nothing(decoder_grids, tiny_llama, tmp_path):
    store, _, home = decoder_grids
    out = tmp_path / "out"
    with pytest.raises(AdaptlabError, match="merges a LoRA adapter") as refused:
        _export(store, home, "llm-classes", "full@4", out, merged=True)
    assert "\n" not in str(refused.value)
    with pytest.raises(AdaptlabError, match="has no finished run of corpus_ft@4") as refused:
        _export(store, home, "llm-classes", "corpus_ft@4", out)
    assert "\n" not in str(refused.value) and not out.exists() and not list(tmp_path.glob(".*partial"))
    out.mkdir()
    (out / "kept.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(AdaptlabError, match="already exists; add --force"):
        _export(store, home, "llm-classes", "lora@4", out)
    assert (out / "kept.txt").read_text(encoding="utf-8") == "mine"
