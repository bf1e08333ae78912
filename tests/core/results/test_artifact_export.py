"""An exported option loads in a fresh process with its library alone and predicts what the run predicted.

One tiny grid (every exportable encoder method, its weights kept) is run once for the module; each kind is then
exported and its own load.py run in a new Python process in which importing adaptlab fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import AdaptlabError
from tests.conftest import tiny_config

KINDS = ["lora", "full", "scratch", "probe", "setfit", "prompt", "tfidf", "rag"]

# runs an exported load.py's predict() with adaptlab unimportable: the folder must need its library alone
RUN_LOADER = """
import json, runpy, sys
sys.modules["core"] = None  # `import core` now raises ImportError
loader, texts, options = sys.argv[1], json.load(open(sys.argv[2])), json.loads(sys.argv[3])
print(json.dumps(runpy.run_path(loader)["predict"](texts, **options)))
"""


@pytest.fixture(scope="module")
def kept_grid(tmp_path_factory):
    """(store, test texts, labels) of a tiny grid run with keep_artifacts: true, one seed per option."""
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from core.task.load import load_task

    home = tmp_path_factory.mktemp("export-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTLAB_HOME", str(home))
        config = parse_config(tiny_config(methods=KINDS, sizes=[4], keep_artifacts=True, forgetting="off"))
        store = SqlStore(home / "results.db")
        run_experiment(config, store)
        texts = load_task(config.task, config.name).test.text.tolist()
    return store, texts, store.experiment("tiny")["labels"]


def stored_predictions(store, run_key: str, labels: list[str]) -> list[str]:
    runs = store.runs_frame("tiny", with_predictions=True)
    return [labels[i] for i in runs[runs.run_key == run_key].iloc[0].predictions]


def predict_in_fresh_process(folder: Path, texts: list[str], tmp_path: Path, **options) -> list[str]:
    listed = tmp_path / "texts.json"
    listed.write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-c", RUN_LOADER, str(folder / "load.py"), str(listed),
                           json.dumps(options)], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                               "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("method", KINDS)
def test_an_exported_option_reproduces_the_stored_test_predictions_without_adaptlab(kept_grid, tmp_path, method):
    from core.results.artifact_export import export_option

    store, texts, labels = kept_grid
    out = tmp_path / method
    merged = method == "lora"
    size = "0" if method == "prompt" else "4"  # zero-shot uses no training data: its one size is 0
    result = export_option(store, "tiny", f"{method}@{size}", out, merged=merged)
    assert result.folder == out and (out / "README.md").is_file() and (out / "adaptlab.json").is_file()
    expected = stored_predictions(store, result.run_key, labels)
    assert predict_in_fresh_process(out, texts, tmp_path) == expected
    if merged:  # the merged transformers folder predicts the same, with no peft involved
        assert (out / "merged" / "model.safetensors").is_file()
        assert predict_in_fresh_process(out, texts, tmp_path, merged=True) == expected


@pytest.mark.slow
def test_the_model_card_carries_the_evidence_in_the_hub_format(kept_grid, tmp_path):
    from core.results.artifact_export import export_option

    store, _, _ = kept_grid
    export_option(store, "tiny", "lora@4", tmp_path / "lora")
    card = (tmp_path / "lora" / "README.md").read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["library_name"] == "peft"
    assert meta["pipeline_tag"] == "text-classification"
    metrics = {m["type"]: m for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert 0 <= metrics["accuracy"]["value"] <= 1 and "95% interval" in metrics["accuracy"]["name"]
    for evidence in ("run `lora|4|0`", "Decision report's verdict", "Costs", "| tfidf@4 |", "**lora@4** (exported)",
                     "adaptlab", "Training data"):
        assert evidence in body, evidence
    adapter = json.loads((tmp_path / "lora" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["task_type"] == "SEQ_CLS"


@pytest.mark.slow
def test_bad_options_are_one_sentence_and_write_nothing(kept_grid, tmp_path):
    from core.results.artifact_export import export_option

    store, _, _ = kept_grid
    out = tmp_path / "out"
    cases = [("lora@64", "has no finished run of lora@64; its options are full@4, lora@4, probe@4, prompt@0, "
              "rag@4, scratch@4, setfit@4, tfidf@4"), ("lora", "give METHOD@SIZE")]
    for option, message in cases:
        with pytest.raises(AdaptlabError, match=message) as caught:
            export_option(store, "tiny", option, out)
        assert "\n" not in str(caught.value)
    with pytest.raises(AdaptlabError, match="merges a LoRA adapter"):
        export_option(store, "tiny", "probe@4", out, merged=True)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    out.mkdir()
    (out / "kept.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(AdaptlabError, match="already exists; add --force"):
        export_option(store, "tiny", "tfidf@4", out)
    assert (out / "kept.txt").read_text(encoding="utf-8") == "mine"
    export_option(store, "tiny", "tfidf@4", out, force=True)
    assert not (out / "kept.txt").exists() and (out / "tfidf.joblib").is_file()


def test_a_run_whose_weights_were_not_kept_says_to_rerun_with_keep_artifacts(tmp_path):
    from core.config import parse_config
    from core.results.artifact_export import export_option
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore(tmp_path / "results.db")
    run_experiment(parse_config(tiny_config(methods=["tfidf"], sizes=[4])), store)
    with pytest.raises(AdaptlabError, match=r"kept no weights \(keep_artifacts was off.*keep_artifacts: true"):
        export_option(store, "tiny", "tfidf@4", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_exports_an_option_and_refuses_an_existing_folder(tmp_path, capsys):
    from core.cli import main

    store = str(tmp_path / "results.db")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(methods=["tfidf"], sizes=[4], keep_artifacts=True)),
                      encoding="utf-8")
    assert main(["--store", store, "run", str(config)]) == 0
    out = tmp_path / "tfidf-export"
    assert main(["--store", store, "export", "tiny", "--option", "tfidf@4", "-o", str(out)]) == 0
    assert (out / "tfidf.joblib").is_file() and (out / "load.py").is_file()
    capsys.readouterr()
    assert main(["--store", store, "export", "tiny", "--option", "tfidf@4", "-o", str(out)]) == 2
    assert "already exists; add --force" in capsys.readouterr().err
