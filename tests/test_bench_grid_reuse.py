"""bench/grid_vs_trainer.py --reuse: Trainer's sides of a smaller grid taken from the record of a larger one.

A cell's subset depends only on its size and seed, so the 2026-11-30 record (sizes 8 32 128, seeds 0 1 2)
holds Trainer's accuracy for every cell of sizes 8 32; its seconds are of the whole grid and do not carry over.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "bench" / "results" / "grid_vs_trainer-cpu.json"
SCRIPT = "python bench/grid_vs_trainer.py"


@pytest.fixture
def grid_vs_trainer():
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    import grid_vs_trainer

    return grid_vs_trainer


def cells(sizes, seeds, methods=("lora", "full", "scratch")):
    return [f"{method}|{size}|{seed}" for seed in seeds for size in sizes for method in methods]


def grid(sizes, seeds, epochs=4):
    return (f"{SCRIPT} --sizes {' '.join(map(str, sizes))} --methods lora full scratch --epochs {epochs} "
            f"--seeds {' '.join(map(str, seeds))}")


def test_a_larger_grids_record_gives_its_cells_but_not_its_seconds(grid_vs_trainer):
    earlier = json.loads(RECORD.read_text(encoding="utf-8"))
    assert grid_vs_trainer.reusable(earlier, grid([8, 32], [0, 1, 2]), cells([8, 32], [0, 1, 2]), 4, RECORD) is False
    # fewer seeds: "--seeds 0 1" begins "--seeds 0 1 2" as text, yet is another grid, with other seconds
    assert grid_vs_trainer.reusable(earlier, grid([8, 32, 128], [0, 1]), cells([8, 32, 128], [0, 1]), 4,
                                    RECORD) is False
    assert grid_vs_trainer.reusable(earlier, grid([8, 32, 128], [0, 1, 2]), cells([8, 32, 128], [0, 1, 2]), 4,
                                    RECORD) is True
    assert grid_vs_trainer.ratio(None, 10.0) is None and grid_vs_trainer.ratio(30.0, 10.0) == 3.0


def test_a_record_without_the_cells_or_at_other_epochs_stops_before_anything_trains(tmp_path):
    def run(*options):
        return subprocess.run([sys.executable, "bench/grid_vs_trainer.py", "--methods", "lora", "full", "scratch",
                               "--seeds", "0", "1", "2", "--run", "adaptlab", "--reuse", str(RECORD),
                               "--results", str(tmp_path), *options],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    missing = run("--sizes", "8", "64")
    assert missing.returncode != 0 and "lacks the cells lora|64|0" in missing.stderr, missing.stderr
    epochs = run("--sizes", "8", "--epochs", "3")
    assert epochs.returncode != 0 and "trained another number of epochs" in epochs.stderr, epochs.stderr
    assert not list(tmp_path.iterdir())
