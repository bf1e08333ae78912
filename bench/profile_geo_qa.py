"""Where the minutes of `adaptlab demo geo-qa --quick` go: wall seconds per run phase, by method (in-process).

    python bench/profile_geo_qa.py                                  # the quick demo's config as it is
    python bench/profile_geo_qa.py '{"sizes": [32], "rag": {"k": 8}}'   # with changes laid over it (JSON)

A profile, not a benchmark: it wraps adaptlab's own functions with timers (training, answering, option scoring,
batch-1 latency, the forgetting probe, the knowledge update, model loads, indexing, size measurement) and prints a
table; nothing is compared and no record is written. It decided what `--quick` cuts on geo-qa (QUICK_OPTIONS in
core/task/scenarios/geo_qa.py); `python bench/llm_quick_grid.py --scenario geo-qa` measures the result.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PHASES = ["TOTAL", "train", "load_lm", "index", "answer", "options", "latency", "forgetting", "update", "bytes"]


def main() -> None:
    import core.backbone.models as models
    import core.evaluation.llm_forgetting as forgetting
    import core.methods.decoder.fits as fits
    import core.methods.decoder.predictors as predictors
    import core.running.run as run
    import core.running.runner as runner
    from bench.llm_quick_grid import merged
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.task.scenarios import demo_config

    seconds, current = collections.defaultdict(float), ["grid"]

    def timed(owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[(current[0], phase)] += time.perf_counter() - started
        setattr(owner, name, wrapper)

    execute = run.execute_run

    def execute_run(spec, *args, **kwargs):
        current[0], started = spec.method, time.perf_counter()
        try:
            return execute(spec, *args, **kwargs)
        finally:
            seconds[(spec.method, "TOTAL")] += time.perf_counter() - started
            current[0] = "grid"
    runner.execute_run = execute_run
    for owner, name, phase in ((fits, "train_decoder", "train"), (predictors.DecoderPredictor, "answer", "answer"),
                               (predictors.DecoderPredictor, "option_choice", "options"),
                               (predictors.DecoderPredictor, "latency", "latency"),
                               (forgetting, "decoder_forgetting", "forgetting"), (run, "knowledge_update", "update"),
                               (run, "stored_bytes", "bytes"), (models.BaseModel, "causal_lm", "load_lm"),
                               (fits, "build_retriever", "index")):
        timed(owner, name, phase)
    config = merged(demo_config("geo-qa", quick=True), json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
    home = Path(tempfile.mkdtemp(prefix="profile-geo-qa-"))
    os.environ["ADAPTLAB_HOME"] = str(home)
    started = time.perf_counter()
    result = runner.run_experiment(parse_config(config, source="profile"), SqlStore(home / "results.db"))
    wall = time.perf_counter() - started
    print("method".ljust(10), *[p[:8].rjust(8) for p in PHASES])
    for method in dict.fromkeys(m for m, _ in seconds if m != "grid"):
        print(method.ljust(10), *[f"{seconds.get((method, p), 0):8.1f}" for p in PHASES])
    print(f"wall {wall:.1f} s, {result.executed} run(s), {result.failed} failed; store and caches in {home}")


if __name__ == "__main__":
    main()
