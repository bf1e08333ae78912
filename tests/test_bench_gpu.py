"""bench/gpu.py: the parts that carry what a bare GPU image lacks, and every GPU benchmark in its dry run.

Packing with wheels downloads from PyPI, so the tests pack the fortune files alone (the wheels go the same
way); the dry run is the GPU sequence at toy sizes on this CPU, with the tiny random Llama as the decoder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def gpu():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import gpu

    return gpu


def test_parts_join_back_into_the_fortune_files_the_scenario_then_reads(gpu, tmp_path, monkeypatch):
    from core.task.scenarios import build_scenario

    manifest = gpu.pack(tmp_path / "parts", part_mb=0.5, wheels=None)  # the fortune files: about 2.4 MB
    parts = sorted((tmp_path / "parts").iterdir())
    assert manifest["parts"] == len(parts) >= 4
    assert all((p / "chunk").stat().st_size <= 0.5 * 2**20 for p in parts)
    assets = tmp_path / "assets"
    said = [gpu.unpack(part, assets) for part in reversed(parts)]  # one a call, in any order
    assert said[0].startswith(f"part {len(parts) - 1} kept; 1 of {len(parts)} in, still to carry: ['00'")
    assert said[-1] == f"all {len(parts)} parts in: 0 wheels installed under {assets / 'site'}"
    env = gpu.environment(assets, tmp_path / "records")
    assert env["ADAPTLAB_FORTUNE_DIR"] == str(assets / "assets" / "fortune")
    assert env["ADAPTLAB_BENCH_RESULTS"] == str(tmp_path / "records")
    installed = build_scenario("fortunes", per_class=20)
    monkeypatch.setenv("ADAPTLAB_FORTUNE_DIR", env["ADAPTLAB_FORTUNE_DIR"])
    carried = build_scenario("fortunes", per_class=20)
    from core.task.scenarios.fortunes import fortune_dir

    assert fortune_dir() == Path(env["ADAPTLAB_FORTUNE_DIR"])  # read from the carried files, not the package
    assert carried.provenance["sha256"] == installed.provenance["sha256"]
    assert list(carried.test.text) == list(installed.test.text)


def test_a_part_from_another_pack_is_refused_without_installing_anything(gpu, tmp_path):
    gpu.pack(tmp_path / "parts", part_mb=1.0, wheels=None)
    first, *rest = sorted((tmp_path / "parts").iterdir())
    (first / "chunk").write_bytes(b"not the packed bytes")
    for part in rest:
        gpu.unpack(part, tmp_path / "assets")
    with pytest.raises(SystemExit, match="do not join into the packed archive"):
        gpu.unpack(first, tmp_path / "assets")
    assert not (tmp_path / "assets" / "assets").exists()


def test_a_wrong_fortune_folder_is_named(tmp_path, monkeypatch):
    from core.errors import DataError
    from core.task.scenarios import build_scenario

    monkeypatch.setenv("ADAPTLAB_FORTUNE_DIR", str(tmp_path))
    with pytest.raises(DataError, match="ADAPTLAB_FORTUNE_DIR is .* holds no fortune file 'fortunes'"):
        build_scenario("fortunes", per_class=5)


def test_a_spent_budget_skips_the_rest_and_says_so(gpu, tmp_path):
    outcomes = gpu.run(gpu.STEPS[:2], dry_run=True, budget=5, model=None, results=tmp_path, assets=tmp_path)
    assert [o["status"] for o in outcomes] == ["skipped", "skipped"]
    assert outcomes[0]["why"] == "the 5 s budget was spent"


def test_the_dry_run_runs_every_gpu_benchmark_and_each_writes_its_record(gpu, tiny_llama, tmp_path):
    outcomes = gpu.run(gpu.STEPS, dry_run=True, budget=1500, model=str(tiny_llama), results=tmp_path,
                       assets=tmp_path / "no-assets")
    assert [(o["step"], o["status"]) for o in outcomes] == [(s.name, "ok") for s in gpu.STEPS], outcomes
    records = {json.loads(p.read_text())["name"] for p in tmp_path.glob("*-cpu.json")}
    # every step's record (llm_eval also writes llm_label_scoring), in the dry run's folder, not bench/results
    assert {s.name for s in gpu.STEPS} <= records


def test_the_trainer_goal_is_judged_against_trainer_at_its_best_and_never_on_defaults_alone():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import report

    old = {"speedup": 1.76, "mean_accuracy_gap_points": -0.2}
    assert report.verdict("grid_vs_trainer", "cpu", old).startswith("**Goal not yet judged**")
    new = {**old, "speedup_vs_best": 1.31, "mean_accuracy_gap_vs_best_points": 0.4, "seeds": [0, 1, 2]}
    said = report.verdict("grid_vs_trainer", "cpu", new)
    assert said.startswith("**Goal not met**: 1.31x the speed of Trainer at its best settings (goal 1.5x)")
    assert "1.76x Trainer at its defaults, over seeds [0, 1, 2]" in said
    assert report.verdict("grid_vs_trainer", "cpu", {**new, "speedup_vs_best": 1.6}).startswith("**Goal met**")


def test_the_quick_grid_goal_follows_the_kind_of_cpu_the_record_names():
    """2.5 minutes where bf16 is native, 5 where it is not; a record that does not say is not judged."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import report

    figures = {"wall_seconds": 220.0, "runs": 25}
    bf16 = {"cpu_capability": "AVX512", "precision": "bf16 autocast"}
    avx2 = {"cpu_capability": "AVX2", "precision": "fp32 (no native bf16)"}
    assert report.verdict("quick_grid", "cpu", figures, bf16).startswith("**Goal not met**: 3.7 minutes")
    assert report.verdict("quick_grid", "cpu", figures, avx2).startswith("**Goal met**")
    assert report.verdict("quick_grid", "cpu", {**figures, "wall_seconds": 140.0}, bf16).startswith("**Goal met**")
    assert report.verdict("quick_grid", "cpu", figures, {}).startswith("**Goal not yet judged**")
    emulated = {**avx2, "cpu_capability": "AVX2 (emulated)"}  # bench/quick_grid.py --emulate-avx2
    assert report.verdict("quick_grid_avx2", "cpu", figures, emulated).startswith("**Emulated, not judged**: 3.7")
