"""The decoder benchmarks (bench/llm_*.py) run end to end in their dry-run mode and write records the report reads.

On the tiny random Llama of tests/decoder_model.py these take seconds; the slow tests repeat two dry runs on
the real SmolLM2 (the quick grid's is left out: five SmolLM2 runs take minutes on 2 cores, and the decoder grid
is tested in tests/core). A dry run's figures are not benchmark figures: the records go to the test's own folder.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench(name: str):
    """A benchmark script as a module (the scripts import their neighbour `common` by its bare name)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def record(folder: Path, name: str) -> dict:
    (path,) = folder.glob(f"{name}-*.json")  # -cpu or -gpu, after the machine the test runs on
    return json.loads(path.read_text(encoding="utf-8"))


def section(page: str, title: str) -> str:
    """One benchmark's part of the rendered BENCHMARKS.md page."""
    return page.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_llm_eval_dry_run_matches_the_pipeline_answer_for_answer(tiny_llama, tmp_path):
    # in fp32 every side computes the same sums: batching, left padding and the KV cache must not change an answer
    bench("llm_eval").main(["--dry-run", "--model", str(tiny_llama), "--precision", "fp32", "--results", str(tmp_path)])
    figures = record(tmp_path, "llm_eval")["figures"]
    assert figures["questions"] == 4 and figures["max_new_tokens"] == 4
    assert figures["identical_share_vs_pipeline"] == 1.0
    assert figures["identical_share_vs_pipeline_batched"] == 1.0
    assert figures["precision"]["pipeline_batched"] == "float32" == figures["precision"]["adaptlab"]["weights"]
    assert figures["precision"]["adaptlab"]["autocast"] == "off"
    assert figures["adaptlab_seconds"] > 0 and figures["speedup_vs_pipeline"] > 0
    labels = record(tmp_path, "llm_label_scoring")["figures"]
    assert labels["texts"] == 4 and labels["labels"] == 5
    assert 0 <= labels["likelihood_accuracy"] <= 1 and 0 <= labels["generated_unparsed"] <= 4


def test_llm_lora_vs_full_dry_run_trains_fewer_weights_in_fresh_processes(tiny_llama, tmp_path):
    bench("llm_lora_vs_full").main(["--dry-run", "--model", str(tiny_llama), "--results", str(tmp_path)])
    figures = record(tmp_path, "llm_lora_vs_full")["figures"]
    full, lora = figures["full"], figures["lora"]
    assert lora["trainable_parameters"] < full["trainable_parameters"] == full["parameters"]
    assert full["median_step_seconds"] > 0 and lora["median_step_seconds"] > 0
    assert full["peak_memory_mb"] > full["training_memory_mb"] > 0  # net of what the process held before loading
    assert full["tokens_per_second"] > 0 and figures["batch"] == 2
    assert figures["step_time_ratio"] == pytest.approx(lora["median_step_seconds"] / full["median_step_seconds"])


def test_llm_quick_grid_dry_run_runs_every_method_by_the_cli(tiny_llama, tmp_path):
    quick = bench("llm_quick_grid")
    quick.main(["--dry-run", "--model", str(tiny_llama), "--results", str(tmp_path)])
    figures = record(tmp_path, "llm_quick_grid")["figures"]
    assert figures["runs"] == figures["finished"] == 5  # prompt once; the others at the one size
    assert list(figures["by_method"]) == quick.METHODS
    assert all(m["wall_seconds"] >= 0 and m["finished"] == m["runs"] for m in figures["by_method"].values())
    assert figures["conversion_seconds"] is None  # a safetensors folder: nothing to convert
    assert figures["wall_seconds"] > sum(m["train_seconds"] for m in figures["by_method"].values())


def test_geo_qa_quick_grid_dry_run_runs_every_method_of_the_demo_by_the_cli(tiny_llama, tmp_path):
    """`--scenario geo-qa`: the config of `adaptlab demo geo-qa --quick` (every method once), its record read as
    row 10b of the report."""
    from core.task.scenarios import demo_config

    quick = bench("llm_quick_grid")
    quick.main(["--scenario", "geo-qa", "--dry-run", "--model", str(tiny_llama), "--results", str(tmp_path)])
    stored = record(tmp_path, "llm_quick_grid_geo_qa")
    figures = stored["figures"]
    methods = demo_config("geo-qa", quick=True)["methods"]
    assert sorted(figures["by_method"]) == sorted(methods) and figures["runs"] == figures["finished"] == len(methods)
    assert figures["size_unit"] == "training questions" and "--scenario geo-qa" in stored["command"]
    page = bench("report").page({("llm_quick_grid_geo_qa", "cpu"): stored})
    assert "sizes [4] training questions" in section(page, "10b. `adaptlab demo geo-qa --quick` end to end")


def test_report_reads_the_decoder_records_and_lists_them_unmeasured_otherwise(tmp_path):
    report = bench("report")
    unmeasured = report.page({})
    for title in ("8. LLM evaluation", "8b. LLM labels", "9. LoRA against full fine-tuning of SmolLM2",
                  "10. The LLM quick grid"):
        part = section(unmeasured, title)
        assert "**CPU: not yet measured.** Command: `python bench/llm_" in part
        assert "**GPU: not yet measured.**" in part
    machine = {"device": "cpu", "cpu_cores": 2, "memory_gb": 8, "platform": "Linux", "python": "3.11",
               "torch": "2.13", "cpu_capability": "AVX512", "precision": "bf16 autocast"}
    figures = {"questions": 128, "speedup_vs_pipeline": 3.4, "speedup_vs_pipeline_batched": 1.2,
               "identical_share_vs_pipeline": 0.97, "identical_share_vs_pipeline_batched": 0.98}
    grid = {"wall_seconds": 960.0, "goal_seconds": 900, "runs": 9, "finished": 9, "conversion_seconds": 17.0,
            "sizes_per_class": [8, 32], "seeds": [0],
            "by_method": {"prompt": {"wall_seconds": 44.2, "train_seconds": 0.3, "runs": 1, "finished": 1,
                                     "mean_accuracy": 0.19},
                          "lora": {"wall_seconds": 903.4, "train_seconds": 782.2, "runs": 2, "finished": 2,
                                   "mean_accuracy": None}}}
    for name, values in (("llm_eval", figures), ("llm_quick_grid", grid)):
        (tmp_path / f"{name}-cpu.json").write_text(json.dumps(
            {"name": name, "command": f"python bench/{name}.py", "goal": "", "date": "2026-12-01",
             "machine": machine, "figures": values, "notes": ""}), encoding="utf-8")
    page = report.page(report._records(tmp_path))
    assert "**Goal met**: 3.40x the pipeline loop (1.20x the batched pipeline) on 128 questions, answers identical " \
           "to the loop's 97%" in section(page, "8. LLM evaluation")
    quick = section(page, "10. The LLM quick grid")
    assert "**Goal not met**: 16.0 minutes, 9 of 9 runs finished (goal 15)" in quick
    assert "the GGUF conversion took 17.0 s" in quick
    assert "| prompt | 1 | 44 | 0 | 0.190 |" in quick and "| lora | 2 | 903 | 782 | – |" in quick
    assert "by_method / " not in quick  # one row a method, not the flat figure list
    assert "CPU, 2 cores (AVX512, bf16 autocast)" in page


@pytest.fixture
def smollm2_home(smol_home, monkeypatch):
    """ADAPTLAB_HOME shared by the SmolLM2 tests (conftest.py's smol_home), so the GGUF is converted once a session."""
    from core.backbone.gguf import builtin_gguf
    from core.errors import ModelLoadError

    try:
        builtin_gguf("smollm2")
    except ModelLoadError as missing:
        pytest.skip(f"{missing}")
    monkeypatch.setenv("ADAPTLAB_HOME", str(smol_home))
    return smol_home


@pytest.mark.slow
def test_llm_eval_dry_run_on_smollm2(smollm2_home, tmp_path):
    bench("llm_eval").main(["--dry-run", "--results", str(tmp_path)])
    figures = record(tmp_path, "llm_eval")["figures"]
    assert figures["questions"] == 4 and figures["adaptlab_generated_tokens"] > 0
    assert figures["example"]["adaptlab"]  # a real model answers with text
    assert 0 <= figures["identical_share_vs_pipeline"] <= 1
    assert record(tmp_path, "llm_label_scoring")["figures"]["texts"] == 4


@pytest.mark.slow
def test_llm_lora_vs_full_dry_run_on_smollm2(smollm2_home, tmp_path):
    bench("llm_lora_vs_full").main(["--dry-run", "--results", str(tmp_path)])
    figures = record(tmp_path, "llm_lora_vs_full")["figures"]
    assert figures["full"]["parameters"] > 100_000_000  # SmolLM2-135M
    assert figures["lora"]["trainable_parameters"] < figures["full"]["trainable_parameters"] / 10

