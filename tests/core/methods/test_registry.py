"""The method table: every fact about a method is on its spec, and a new method is one module and one registry line.

The last two tests prove it the way a contributor would: each copies the engine, adds a real method as one module
plus one line in core/methods/__init__.py, and checks that the config, a real grid run and the dashboard pick it
up: on a sentence encoder (majority class, with a config section of its own; the charts and the decision report
too), and on a decoder LLM (LoRA of a rank of its own, trained on the tiny random Llama of tests/decoder_model.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from core.methods import METHODS, default_methods, learning_rates, references

ROOT = Path(__file__).resolve().parents[3]


def test_every_method_has_a_distinct_colour_and_a_fit_on_some_backbone():
    colours = [spec.colour for spec in METHODS.values()]
    assert len(set(colours)) == len(colours)
    assert "#D62728" not in colours  # red says "transfer hurts"
    assert all(spec.offered_on("encoder") or spec.offered_on("decoder") for spec in METHODS.values())


def test_fits_are_functions_of_the_methods_own_module():
    for spec in METHODS.values():
        for family in ("encoder", "decoder"):
            if spec.offered_on(family):
                fit = spec.fit_for(family)
                assert callable(fit), (spec.name, family)
                # one module per method: its fits live in core/methods/<name>.py, not in a shared fits module
                assert fit.__module__ == f"core.methods.{spec.name}", (spec.name, family, fit.__module__)
            else:
                assert spec.fit_for(family) is None


def test_what_a_method_needs_is_on_its_spec():
    assert [name for name, spec in METHODS.items() if spec.needs_cuda] == ["qlora"]
    assert [name for name, spec in METHODS.items() if spec.check_machine is not None] == ["qlora"]
    assert METHODS["corpus_ft"].needs_corpus == ("classification", "qa") and METHODS["rag"].needs_corpus == ("qa",)


def test_defaults_come_from_the_specs():
    assert default_methods("encoder") == ["prompt", "rag", "probe", "lora", "full", "scratch", "tfidf"]
    assert default_methods("decoder") == ["prompt", "fewshot", "rag", "lora", "full", "scratch"]
    # QA without documents: nothing to retrieve; with documents the knowledge-injection methods join
    assert "rag" not in default_methods("decoder", "qa", has_corpus=False)
    assert {"corpus_ft", "rag_lora", "rag"} <= set(default_methods("decoder", "qa", has_corpus=True))
    assert references() == ["scratch", "tfidf"]
    assert learning_rates("encoder") == {"lora": 2e-3, "full": 1e-4, "setfit": 2e-5, "scratch": 5e-4}
    assert set(learning_rates("decoder")) == {"lora", "full", "scratch", "corpus_ft", "rag_lora", "qlora"}


def test_a_partial_learning_rate_table_keeps_the_other_defaults():
    from core.config import parse_config

    config = parse_config({"name": "x", "task": {"builtin": "fortunes"},
                           "training": {"learning_rates": {"full": 3e-4}}})
    assert config.training.learning_rates == {"lora": 2e-3, "full": 3e-4, "setfit": 2e-5, "scratch": 5e-4}


def test_importing_the_registry_and_the_config_loads_no_torch():
    code = ("import sys, core.methods, core.config; "
            "print([m for m in ('torch', 'peft', 'faiss', 'transformers', 'sentence_transformers') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


MAJORITY = '''"""Majority class: the most frequent training label, whatever the text (a floor every method must
clear)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from core.methods.base import FitContext, MethodSpec
from core.schema import Strict


class MajoritySettings(Strict):
    smoothing: float = Field(0.0, ge=0, le=10)


@dataclass
class Majority:
    prior: np.ndarray
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)

    def predict_proba(self, texts):
        return np.tile(self.prior, (len(texts), 1))

    def save(self, folder):
        np.save(folder / "prior.npy", self.prior)


def fit(ctx: FitContext) -> Majority:
    smoothing = ctx.config.majority.smoothing
    counts = np.bincount(ctx.train_labels, minlength=len(ctx.labels)).astype(float) + smoothing
    return Majority(counts / counts.sum(), len(ctx.labels), len(ctx.labels), {"smoothing": smoothing})


SPEC = MethodSpec("majority", "Majority class", colour="#2CA02C", fits={"encoder": fit}, default_on=("encoder",),
                  is_reference=True, settings=MajoritySettings)
'''

SCRIPT = '''
import json, sys
from pathlib import Path
import core
assert Path(core.__file__).resolve().is_relative_to(Path.cwd().resolve()), core.__file__  # the copy, not the repo
from core.config import ENCODER_METHODS, METHOD_NAMES, parse_config
from core.results.store import SqlStore
from core.running.runner import run_experiment
from dashboard import charts, state

config = parse_config({"name": "with-majority", "task": {"builtin": "fortunes", "builtin_options": {"per_class": 30}},
                       "model": {"max_length": 32}, "methods": ["majority", "tfidf"], "sizes": [4, 8], "seeds": [0],
                       "reference": "majority", "majority": {"smoothing": 0.5}})
store = SqlStore(Path("results.db"))
result = run_experiment(config, store)
runs = result.runs
out = {"names": list(METHOD_NAMES), "defaults": list(ENCODER_METHODS), "smoothing": config.majority.smoothing,
       "statuses": sorted(set(zip(runs.method, runs.status))),
       "details": [record["details"] for record in runs.loc[runs.method == "majority", "record"]],
       "colour": charts.METHOD_COLORS.get("majority"), "offered": state.methods_offered("encoder", "classification"),
       "titles": state.method_titles()}
from core.results.analysis import analyse
from core.results.costs import Constraints
from core.results.recommendation import recommend
from core.results.report import build_report
from core.results.report_render import to_markdown

experiment = store.experiment("with-majority")
analysis = analyse(store.runs_frame("with-majority", with_predictions=True), experiment["test_labels"], "majority")
report = build_report(experiment, analysis.summary, recommend(analysis.summary, Constraints()), Constraints())
out["report"] = to_markdown(report)
out["transfer_methods"] = sorted(set(analysis.transfer.method))
print("RESULT " + json.dumps(out, default=str))
'''


def _run_with_a_new_method(tmp_path, name: str, module: str, script: str) -> dict:
    """Copy the engine, add `module` as core/methods/<name>.py and one line to the registry, run `script` there."""
    copy = tmp_path / "adaptlab"
    for part in ("core", "dashboard", "pages"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "core" / "methods" / f"{name}.py").write_text(module, encoding="utf-8")
    registry = copy / "core" / "methods" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    # the import (the registry's import list may be wrapped in parentheses)
    text = re.sub(r"from core.methods import \(?\s*corpus_ft,", lambda found: found.group(0) + f" {name},", text)
    text = text.replace("    qlora.SPEC,\n", f"    qlora.SPEC,\n    {name}.SPEC,\n")  # the one line
    assert text.count(name) == 2
    registry.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(copy), "ADAPTLAB_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(re.search(r"^RESULT (.*)$", done.stdout, re.M).group(1))


def test_a_new_method_is_one_module_and_one_registry_line(tmp_path):
    result = _run_with_a_new_method(tmp_path, "majority", MAJORITY, SCRIPT)
    assert result["names"][-1] == "majority" and "majority" in result["defaults"]
    assert result["smoothing"] == 0.5
    assert result["statuses"] == [["majority", "finished"], ["tfidf", "finished"]]
    assert all(d == {"smoothing": 0.5} for d in result["details"])
    assert result["colour"] == "#2CA02C"
    assert "majority" in result["offered"] and result["titles"]["majority"] == "Majority class"
    # the reference it was named as: negative transfer of tfidf is measured against it, and the report shows it
    assert result["transfer_methods"] == ["tfidf"]
    assert "Majority class" in result["report"] and "vs Majority class" in result["report"]  # by its title


NARROW_LORA = '''"""Narrow LoRA: LoRA adapters of a rank of its own on every linear projection of a decoder LLM."""

from __future__ import annotations

from pydantic import Field

from core.methods.base import FitContext, MethodSpec
from core.schema import Strict


class NarrowLoraSettings(Strict):
    r: int = Field(2, ge=1, le=64)


def fit_decoder(ctx: FitContext):
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import set_seed

    from core.methods.decoder.fits import frozen_dtype, supervised

    set_seed(ctx.seed)
    rank = ctx.config.narrow_lora.r
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=rank, lora_alpha=2 * rank, target_modules="all-linear")
    fitted = supervised(ctx, get_peft_model(ctx.base.causal_lm(dtype=frozen_dtype(ctx)), lora), "narrow_lora")
    fitted.details["rank"] = rank
    return fitted


SPEC = MethodSpec("narrow_lora", "Narrow LoRA", colour="#2CA02C", fits={"decoder": fit_decoder},
                  learning_rates={"decoder": 3e-3}, task_kinds=("classification", "qa"), trains_network=True,
                  early_stops=True, changes_base_weights=True, shares_base_model=True, default_on=("decoder",),
                  settings=NarrowLoraSettings)
'''

LLM_SCRIPT = '''
import json, sys
from pathlib import Path
import core
assert Path(core.__file__).resolve().is_relative_to(Path.cwd().resolve()), core.__file__  # the copy, not the repo
from core.config import DECODER_METHODS, parse_config
from core.methods import default_methods
from core.results.store import SqlStore
from core.running.runner import run_experiment
from dashboard import state

config = parse_config({"name": "with-narrow-lora",
                       "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
                       "model": {"name": sys.argv[1], "precision": "fp32"}, "methods": ["narrow_lora", "prompt"],
                       "sizes": [4], "seeds": [0], "budget": {"max_epochs": 1, "min_steps": 2},
                       "training": {"batch_size": 8}, "llm": {"context_length": 256, "max_new_tokens": 4},
                       "narrow_lora": {"r": 4}})
result = run_experiment(config, SqlStore(Path("results.db")))
runs = result.runs.set_index("method")
record = runs.loc["narrow_lora", "record"]
out = {"defaults": list(DECODER_METHODS), "encoder_defaults": default_methods("encoder"),
       "learning_rate": config.llm.learning_rates["narrow_lora"], "encoder_rates": list(config.training.learning_rates),
       "statuses": sorted(set(zip(result.runs.method, result.runs.status))), "rank": record["details"]["rank"],
       "trainable": int(runs.loc["narrow_lora", "trainable_parameters"]),
       "offered": state.methods_offered("decoder", "qa"),
       "offered_encoder": state.methods_offered("encoder", "classification")}
print("RESULT " + json.dumps(out, default=str))
'''


def test_a_new_llm_method_is_one_module_and_one_registry_line(tmp_path, tiny_llama):
    script = LLM_SCRIPT.replace("sys.argv[1]", repr(str(tiny_llama)))
    result = _run_with_a_new_method(tmp_path, "narrow_lora", NARROW_LORA, script)
    assert "narrow_lora" in result["defaults"] and "narrow_lora" not in result["encoder_defaults"]
    assert result["learning_rate"] == 3e-3 and "narrow_lora" not in result["encoder_rates"]
    assert result["statuses"] == [["narrow_lora", "finished"], ["prompt", "finished"]]
    assert result["rank"] == 4 and result["trainable"] > 0  # its own config section reached its fit
    assert "narrow_lora" in result["offered"] and "narrow_lora" not in result["offered_encoder"]
