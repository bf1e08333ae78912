"""The quick default grid end to end: `adaptlab run examples/fortunes-quick.yaml` from a cold start.

    python bench/quick_grid.py                  # this CPU as it is
    python bench/quick_grid.py --emulate-avx2   # this CPU held to AVX2 in fp32, as an AVX2-only host computes

Cold: a fresh ADAPTLAB_HOME, so no cached embeddings. Includes loading the data and the model,
every run of the grid, and writing the results. Goals on the 2-core CPU: at most 2.5 minutes where bf16
is native, 5 on an AVX2-only host.

--emulate-avx2 caps every kernel library at AVX2 (ATen's vector code, oneDNN, MKL) and runs the grid
in fp32, as adaptlab's `precision: auto` does on a CPU without native bf16. It is an emulation on
this CPU, with its clocks and caches: the record says so, and stands beside a real AVX2 host's figure
rather than replacing it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from common import ROOT, save, timed

from core.running.processes import stop_with_parent

GOAL = "the quick default grid in at most 2.5 minutes on the 2-core CPU with native bf16, 5 on an AVX2-only one"

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulate-avx2", action="store_true", help="hold this CPU to AVX2 and fp32 (see above)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-quick-")
    env = {**os.environ, "ADAPTLAB_HOME": home, "HF_HUB_OFFLINE": "1"}
    config = "examples/fortunes-quick.yaml"
    if args.emulate_avx2:
        env.update(AVX2)
        example = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
        example["model"] = {**example.get("model", {}), "precision": "fp32"}  # the same grid in fp32
        config = str(Path(home) / "fortunes-quick.yaml")
        Path(config).write_text(yaml.safe_dump(example, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-m", "core.cli", "run", config]
    with timed() as t:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              preexec_fn=stop_with_parent)  # a benchmark stopped takes its grid with it
    wall = t()
    print(done.stdout[-4000:], done.stderr[-2000:])
    if done.returncode != 0:
        raise SystemExit(f"the grid failed: {done.stderr[-1000:]}")
    sys.path.insert(0, str(ROOT))
    from core.results.store import SqlStore

    runs = SqlStore(os.path.join(home, "results.db")).runs_frame("fortunes-quick")
    figures = {"wall_seconds": wall, "runs": int((runs.status == "finished").sum()),
               "train_seconds_by_method": runs.groupby("method").train_seconds.sum().round(1).to_dict(),
               "mean_accuracy_by_method": runs.groupby("method").accuracy.mean().round(3).to_dict()}
    notes = "cold start: fresh results store and embedding cache; examples/fortunes-quick.yaml"
    if not args.emulate_avx2:
        save("quick_grid", "python bench/quick_grid.py", GOAL, figures, notes=notes)
        return
    capability = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                                env=env, capture_output=True, text=True).stdout.strip()
    save("quick_grid_avx2", "python bench/quick_grid.py --emulate-avx2", GOAL, figures,
         notes=notes + f"; emulated AVX2-only host: {', '.join(f'{k}={v}' for k, v in AVX2.items())}, "
                       "`model.precision: fp32`, on the CPU named in the machine line",
         machine_changes={"cpu_capability": f"{capability} (emulated)", "precision": "fp32 (no native bf16)"})


if __name__ == "__main__":
    main()
