"""The quick default grid end to end: `adaptlab run examples/fortunes-quick.yaml` from a cold start.

    python bench/quick_grid.py

Cold: a fresh ADAPTLAB_HOME, so no cached embeddings. Includes loading the data and the model,
every run of the grid, and writing the results. Goal on the 2-core CPU: at most 10 minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from common import ROOT, save, timed


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-quick-")
    env = {**os.environ, "ADAPTLAB_HOME": home, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "core.cli", "run", "examples/fortunes-quick.yaml"]
    with timed() as t:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(done.stdout[-4000:], done.stderr[-2000:])
    if done.returncode != 0:
        raise SystemExit(f"the grid failed: {done.stderr[-1000:]}")
    sys.path.insert(0, str(ROOT))
    from core.results.store import SqlStore

    runs = SqlStore(os.path.join(home, "results.db")).runs_frame("fortunes-quick")
    save("quick_grid", "python bench/quick_grid.py", "the quick default grid in at most 10 minutes on the 2-core CPU",
         {"wall_seconds": t(), "runs": int((runs.status == "finished").sum()),
          "train_seconds_by_method": runs.groupby("method").train_seconds.sum().round(1).to_dict()},
         notes="cold start: fresh results store and embedding cache; examples/fortunes-quick.yaml")


if __name__ == "__main__":
    main()
