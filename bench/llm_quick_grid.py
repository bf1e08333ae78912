"""The LLM quick grid end to end: `adaptlab demo fortunes --model smollm2 --quick`'s grid from a cold start.

    python bench/llm_quick_grid.py                   # prompt, fewshot, rag, lora, scratch; 8 and 32 per class; seed 0
    python bench/llm_quick_grid.py --dry-run         # seconds: 1 per class, 15 test texts, one epoch
    python bench/llm_quick_grid.py --scenario geo-qa # `adaptlab demo geo-qa --quick`: every method of issue 16
    python bench/llm_quick_grid.py --scenario streamlit-docs   # `adaptlab demo streamlit-docs --quick` (issue 26)

The demo's quick config (core/scenarios: fortunes' LLM grid, its two smallest sizes, one seed) with
the methods of issue 15's quick grid, run by the CLI (`adaptlab run`) in a fresh ADAPTLAB_HOME, so
the one-off GGUF-to-safetensors conversion, the retrieval encoder's embeddings and every run count.
Reported: wall time against the goal (15 minutes on the 2-core CPU), the conversion's seconds, and
per method the wall time of its runs (start to finish, evaluation and forgetting checks included),
its train seconds and its accuracy.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, decoder_arguments, merged, results_folder, save, timed

from core.running.processes import stop_with_parent

METHODS = ["prompt", "fewshot", "rag", "lora", "scratch"]
GOAL_SECONDS = 15 * 60
GOAL = ("the LLM quick grid (prompt, fewshot, rag, lora, scratch; two sizes; one seed) in <= 15 minutes on the "
        "2-core CPU")
GEO_QA_GOAL = ("`adaptlab demo geo-qa --quick` (every method once, one size, one seed) in <= 15 minutes on the "
               "2-core CPU")
# a smoke run of the same pipeline: a tiny test set, the smallest sizes, one epoch of a step or two
DRY_RUN = {"sizes": [1], "task": {"builtin_options": {"per_class": 12}}, "budget": {"max_epochs": 1, "min_steps": 1},
           "llm": {"max_new_tokens": 4, "max_shots": 2}}


GEO_QA_DRY_RUN = {"sizes": [4], "budget": {"max_epochs": 1, "min_steps": 1},
                  "llm": {"max_new_tokens": 4, "max_shots": 2}}
# the scenarios whose quick grid is the demo's own, run as it is (fortunes: the methods of issue 15's quick grid)
OWN_QUICK_GRID = {"geo-qa": GEO_QA_GOAL,
                  "streamlit-docs": "`adaptlab demo streamlit-docs --quick` (its documents to a decision: every "
                                    "method once, one size, one seed) in <= 15 minutes on the 2-core CPU"}


def grid_config(model: str, methods: list[str] | None, dry_run: bool, scenario: str = "fortunes") -> dict:
    """`adaptlab demo SCENARIO --model MODEL --quick`'s config (fortunes: with the quick grid's methods)."""
    from core.task.scenarios import demo_config

    if scenario in OWN_QUICK_GRID:  # the demo exactly (geo-qa: every method of the knowledge-injection question)
        config = demo_config(scenario, quick=True, model=None if model == "smollm2" else model)
        config.update(methods=methods or config["methods"])
        return merged(config, GEO_QA_DRY_RUN) if dry_run else config
    config = demo_config("fortunes", quick=True, model=model)
    # the demo's own name: `ADAPTLAB_HOME=<the kept home> adaptlab demo fortunes --model smollm2 --quick` then runs
    # only what the demo adds (full fine-tuning), and docs/make_llm_results.py reads the whole grid from there
    config.update(methods=methods or METHODS)
    return merged(config, DRY_RUN) if dry_run else config


def per_method(runs) -> dict:
    """Wall seconds (start to finish of each run, summed), train seconds and mean accuracy of each method."""
    import pandas as pd

    runs = runs.assign(wall=(pd.to_datetime(runs.finished_at) - pd.to_datetime(runs.started_at)).dt.total_seconds())
    grouped = runs.groupby("method", sort=False)
    return {method: {"wall_seconds": float(group.wall.sum()), "train_seconds": float(group.train_seconds.sum()),
                     "runs": int(len(group)), "finished": int((group.status == "finished").sum()),
                     "mean_accuracy": float(group.accuracy.mean()) if group.accuracy.notna().any() else None}
            for method, group in grouped}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["fortunes", *OWN_QUICK_GRID], default="fortunes")
    parser.add_argument("--methods", nargs="+", default=None, help=f"default: {' '.join(METHODS)} on fortunes, "
                        "every method of the demo on geo-qa")
    decoder_arguments(parser, "1 example per class, 12 texts per class, one epoch, 4 new tokens")
    args = parser.parse_args(argv)
    folder = results_folder(args)
    import yaml

    home = Path(tempfile.mkdtemp(prefix="bench-llm-quick-"))  # cold: no converted model, no cached embeddings
    config = grid_config(args.model, args.methods, args.dry_run, args.scenario)
    config_path = home / "llm-quick-grid.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "ADAPTLAB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "core.cli", "run", str(config_path)]
    with timed() as wall:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              preexec_fn=stop_with_parent)  # a benchmark stopped takes its grid with it
    print(done.stdout[-4000:], done.stderr[-2000:])
    if done.returncode != 0:
        raise SystemExit(f"the grid failed (exit {done.returncode}): {done.stderr[-1000:]}")
    from core.results.store import SqlStore

    store = SqlStore(str(home / "results.db"))
    runs = store.runs_frame(config["name"])
    store.engine.dispose()
    if args.dry_run:
        shutil.rmtree(home, ignore_errors=True)  # a real run keeps its home to look into
    else:
        print(f"kept {home} (ADAPTLAB_HOME of this grid: its store, converted model and caches)")
    converted = re.search(r"converted in (\d+) s", done.stderr)
    shown = ("python bench/llm_quick_grid.py" + (f" --scenario {args.scenario}" if args.scenario != "fortunes" else "")
             + (f" --methods {' '.join(args.methods)}" if args.methods else "")
             + (f" --model {args.model}" if args.model != "smollm2" else "") + (" --dry-run" if args.dry_run else ""))
    geo = args.scenario in OWN_QUICK_GRID  # sizes in training questions, the demo's own methods
    save(f"llm_quick_grid_{args.scenario.replace('-', '_')}" if geo else "llm_quick_grid", shown,
         OWN_QUICK_GRID.get(args.scenario, GOAL),
         {"wall_seconds": wall(), "goal_seconds": GOAL_SECONDS, "runs": int(len(runs)),
          "finished": int((runs.status == "finished").sum()),
          "conversion_seconds": float(converted.group(1)) if converted else None,
          "sizes_per_class": config["sizes"], "size_unit": "training questions" if geo else "per class",
          "seeds": config["seeds"], "task": config["task"],
          "by_method": per_method(runs)},
         folder=folder,
         notes=f"cold start: fresh ADAPTLAB_HOME (GGUF conversion, embedding cache, results store); the config of "
               f"`adaptlab demo {args.scenario} --model {args.model} --quick` with methods "
               f"{', '.join(config['methods'])}; "
               "run by the CLI in a child process; per-method wall time from each run's start and finish stamps "
               "(whole seconds)")


if __name__ == "__main__":
    main()
