"""What the model loader refuses: folders outside the model roots, pickled weights, a model's own code.

Fast: the model folders here are a config.json and dummy files; nothing is trained and no real weights load.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from core.backbone.models import MODEL_ROOTS_VARIABLE, BaseModel, model_roots, resolve_model
from core.errors import ModelLoadError

ROOT = Path(__file__).parents[3]
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]  # what a Hub download may fetch, nothing else


def model_folder(parent: Path, name: str = "tiny-bert", weights: str = "model.safetensors", **config) -> Path:
    """A folder that looks like a model to the loader: config.json plus a dummy weights file (never read)."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", **config}), encoding="utf-8")
    (folder / weights).write_bytes(b"not really weights")
    return folder


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """One allowed root (tmp/models) beside a folder that is not allowed (tmp/elsewhere)."""
    allowed, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv(MODEL_ROOTS_VARIABLE, str(allowed))
    return allowed, elsewhere


# -- local folders only inside ADAPTLAB_MODEL_ROOTS ------------------------------------------------------
def test_a_folder_inside_a_root_resolves_to_its_real_path(roots):
    allowed, _ = roots
    folder = model_folder(allowed / "team")
    assert resolve_model(str(folder)) == ("tiny-bert", folder.resolve())


def test_a_folder_outside_the_roots_is_refused_naming_it_the_roots_and_the_setting(roots):
    allowed, elsewhere = roots
    folder = model_folder(elsewhere)
    with pytest.raises(ModelLoadError) as refused:
        resolve_model(str(folder))
    message = str(refused.value)
    assert str(folder) in message and str(allowed.resolve()) in message
    assert MODEL_ROOTS_VARIABLE in message and "docs/SECURITY.md" in message


@pytest.mark.parametrize("name", ["/etc", "/", "~", "../../..", "models/../elsewhere"])
def test_paths_that_climb_or_jump_out_of_the_roots_are_refused(roots, monkeypatch, name):
    allowed, _ = roots
    monkeypatch.chdir(allowed.parent)  # relative names start here, one level above the root
    with pytest.raises(ModelLoadError, match="outside .* the folders models may be loaded from"):
        resolve_model(name)


def test_a_symlink_inside_a_root_pointing_outside_is_refused(roots):
    allowed, elsewhere = roots
    target = model_folder(elsewhere)
    link = allowed / "innocent-looking"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(ModelLoadError, match="symlinks followed"):
        resolve_model(str(link))


def test_a_refusal_does_not_tell_whether_the_folder_exists(roots):
    _, elsewhere = roots
    model_folder(elsewhere, "real")
    messages = []
    for name in ("real", "imaginary"):
        with pytest.raises(ModelLoadError) as refused:
            resolve_model(str(elsewhere / name))
        messages.append(str(refused.value).replace(name, "NAME"))
    assert messages[0] == messages[1]


def test_a_refused_path_fails_before_any_file_in_it_is_read(roots, monkeypatch):
    _, elsewhere = roots
    folder = model_folder(elsewhere)
    touched = []
    for method in ("open", "read_bytes", "read_text", "glob", "iterdir", "is_dir", "is_file", "exists"):
        original = getattr(Path, method)

        def spy(self, *args, _original=original, **kwargs):
            touched.append(Path(os.path.abspath(self)))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Path, method, spy)
    with pytest.raises(ModelLoadError, match="outside"):
        BaseModel.load(str(folder), device="cpu")
    monkeypatch.undo()
    assert not [path for path in touched if path.is_relative_to(folder)]


def test_several_roots_separated_by_pathsep_and_blank_entries_ignored(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv(MODEL_ROOTS_VARIABLE, os.pathsep.join([str(first), " ", "", str(second), str(first)]))
    assert model_roots() == [first.resolve(), second.resolve()]
    assert resolve_model(str(model_folder(second)))[1] == (second / "tiny-bert").resolve()


def test_set_but_empty_allows_no_local_folder_but_still_the_packaged_model(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ROOTS_VARIABLE, "")
    with pytest.raises(ModelLoadError, match="none"):
        resolve_model(str(model_folder(tmp_path)))
    name, path = resolve_model("default")
    assert name == "all-MiniLM-L6-v2" and list(path.glob("*.safetensors"))


def test_the_default_roots_are_home_working_folder_adaptlab_folder_and_hub_cache(monkeypatch, adaptlab_home, tmp_path):
    from huggingface_hub import constants

    monkeypatch.delenv(MODEL_ROOTS_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    expected = [Path.home(), tmp_path, adaptlab_home, Path(constants.HF_HUB_CACHE)]
    assert set(model_roots()) == {path.resolve() for path in expected}
    assert resolve_model(str(model_folder(tmp_path)))[0] == "tiny-bert"  # the working folder is a default root


def test_odd_names_fail_in_words(roots):
    for name in ("~no-such-user-here", "/models\x00/x"):
        with pytest.raises(ModelLoadError):
            resolve_model(name)


# -- Hub ids: not folders, so not checked against the roots; only safe files are fetched ----------------------
def test_a_hub_id_is_fetched_with_only_safe_file_patterns_whatever_the_roots(roots, monkeypatch, tmp_path):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, allow_patterns=None, **_):
        calls.append((repo_id, allow_patterns))
        return str(tmp_path / "hub-cache" / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert resolve_model("some-org/some-model") == ("some-org/some-model", tmp_path / "hub-cache" / "snapshot")
    assert calls == [("some-org/some-model", HUB_FILES)]


# -- safetensors only, never a model's own code -------------------------------------------------------------
def test_a_folder_with_only_pickled_weights_is_refused_in_words_without_unpickling(roots, monkeypatch):
    import torch

    allowed, _ = roots
    folder = model_folder(allowed, weights="pytorch_model.bin")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a .bin file was unpickled"))
    with pytest.raises(ModelLoadError, match="only safetensors"):
        BaseModel.load(str(folder), device="cpu")


@pytest.mark.parametrize("settings_file", ["config.json", "tokenizer_config.json"])
def test_a_model_that_ships_its_own_code_is_refused_and_the_code_never_runs(roots, settings_file):
    allowed, _ = roots
    folder = model_folder(allowed)
    settings = json.loads((folder / "config.json").read_text()) if settings_file == "config.json" else {}
    settings["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoTokenizer": ["custom.CustomTokenizer", None]}
    (folder / settings_file).write_text(json.dumps(settings))
    ran = folder / "code-ran"
    (folder / "custom.py").write_text(f"open({str(ran)!r}, 'w').write('it ran')\n")
    with pytest.raises(ModelLoadError, match="ships its own model code .*trust_remote_code is off"):
        BaseModel.load(str(folder), device="cpu")
    from core.task.coverage import load_tokenizer  # the Data page's tokenizer check takes the same guard

    with pytest.raises(ModelLoadError, match="ships its own model code"):
        load_tokenizer(str(folder))
    assert not ran.exists()


def test_transformers_itself_refuses_custom_code_when_trust_remote_code_is_off(tmp_path):
    """The second lock: were refuse_custom_code() skipped, transformers would still not run the code."""
    from transformers import AutoConfig

    folder = model_folder(tmp_path, auto_map={"AutoConfig": "custom.CustomConfig"}, model_type="custom-thing")
    ran = folder / "code-ran"
    (folder / "custom.py").write_text(f"open({str(ran)!r}, 'w').write('it ran')\n")
    with pytest.raises(ValueError, match="custom code"):
        AutoConfig.from_pretrained(folder, trust_remote_code=False)
    assert not ran.exists()


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            yield node, getattr(receiver, "id", getattr(receiver, "attr", "")), node.func.attr


def test_every_load_in_core_keeps_remote_code_off_and_model_weights_safetensors_only():
    checked = []
    for source in sorted((ROOT / "core").rglob("*.py")):
        for call, receiver, method in _calls(ast.parse(source.read_text(encoding="utf-8"))):
            where = f"{source.relative_to(ROOT)}:{call.lineno}"
            keywords = {k.arg: getattr(k.value, "value", None) for k in call.keywords}
            assert (receiver, method) not in {("torch", "load"), ("pickle", "load"), ("pickle", "loads"),
                                              ("joblib", "load")}, f"{where} unpickles"
            if method in ("from_pretrained", "from_config") and receiver == "PeftModel":
                # peft reads only adapter weights onto a base model loaded above with remote code off; which
                # weights it may read (safetensors only) is load_adapter's check, tested below
                checked.append(where)
            elif method in ("from_pretrained", "from_config"):
                assert keywords.get("trust_remote_code") is False, f"{where}: trust_remote_code=False missing"
                # a GGUF file (the built-in LLM, converted once to safetensors) holds tensors and metadata, nothing
                # that runs on load, so it is the one other weights format read
                gguf = any(k.arg == "gguf_file" for k in call.keywords)
                if receiver.startswith("AutoModel") and method == "from_pretrained" and not gguf:
                    assert keywords.get("use_safetensors") is True, f"{where}: use_safetensors=True missing"
                checked.append(where)
    assert len(checked) >= 5, checked  # the scan found the loads (config, tokenizer, encoder, classifier...)


# -- stored LoRA adapters: peft's own format, safetensors only ---------------------------------------------------
def test_a_kept_lora_adapter_reloads_and_predicts_what_the_run_predicted(tmp_path):
    import numpy as np

    from core.config import parse_config
    from core.methods.lora import ADAPTER_WEIGHTS, load_adapter
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from tests.conftest import tiny_config

    config = parse_config(tiny_config(methods=["lora"], sizes=[4], keep_artifacts=True, forgetting="off"))
    store = SqlStore(tmp_path / "r.db")
    run_experiment(config, store)
    run = store.runs_frame("tiny", with_predictions=True).iloc[0]
    folder = Path(run.record["artifacts"])
    assert (folder / ADAPTER_WEIGHTS).is_file() and not list(folder.glob("*.bin"))
    base = BaseModel.load("default", "cpu", config.model.max_length)
    from core.task.load import load_task

    task = load_task(config.task, config.name)
    labels = store.experiment("tiny")["labels"]
    reloaded = load_adapter(base, folder, len(labels))
    predicted = reloaded.predict_proba(task.test.text.tolist()).argmax(axis=1)
    assert np.array_equal(predicted, np.asarray(run.predictions))


def test_a_pickled_adapter_is_refused_in_words_and_never_unpickled(tmp_path, monkeypatch):
    import torch

    from core.methods.lora import load_adapter

    monkeypatch.setenv(MODEL_ROOTS_VARIABLE, str(tmp_path))
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}", encoding="utf-8")
    (folder / "adapter_model.bin").write_bytes(b"a pickle")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a pickled adapter was loaded"))
    with pytest.raises(ModelLoadError, match=r"no adapter_model.safetensors \(it has adapter_model.bin: pickled"):
        load_adapter(None, folder, 2)
    with pytest.raises(ModelLoadError, match="outside"):
        load_adapter(None, tmp_path.parent / "elsewhere", 2)


def test_the_family_of_a_model_is_read_from_its_config_only_inside_the_roots(roots):
    from core.backbone.models import model_family

    allowed, elsewhere = roots
    llama, bert = model_folder(allowed, "tiny-llama", model_type="llama"), model_folder(allowed, "tiny-bert")
    outside = model_folder(elsewhere, "outside-llama", model_type="llama")
    assert model_family(str(llama)) == "decoder" and model_family(str(bert)) == "encoder"
    assert model_family(str(outside)) == "encoder"  # refused: its config is never read, nothing is told
    assert model_family(str(allowed / "missing")) == "encoder"
    assert model_family("smollm2") == "decoder" and model_family("default") == "encoder"
    assert model_family(str(allowed / "model.gguf")) == "decoder"  # GGUF files hold decoders; nothing converted
