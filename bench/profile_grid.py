"""Where the minutes of a demo grid go: wall seconds per run phase, by method (in-process).

    python bench/profile_grid.py geo-qa                                      # `adaptlab demo geo-qa --quick`'s grid
    python bench/profile_grid.py geo-qa '{"sizes": [32], "rag": {"k": 8}}'    # with changes laid over it (JSON)
    python bench/profile_grid.py fortunes                                    # the encoder quick grid (bench row 6)

A profile, not a benchmark: it wraps adaptlab's own functions with timers and prints a table; nothing is compared
and no record is written. Phases: training (validation checks inside it also apart), test predictions or answers,
option scoring, batch-1 latency, forgetting probes, the knowledge update, model loads, encoding texts, indexing,
size measurement; "other" is what the run spent outside them. It decided what `--quick` cuts on geo-qa
(QUICK_OPTIONS in core/task/scenarios/geo_qa.py); `python bench/llm_quick_grid.py --scenario geo-qa` measures the
result.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its neighbours, as the scripts import them
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PHASES = ["TOTAL", "train", "validate", "predict", "answer", "options", "latency", "forgetting", "update", "load",
          "encode", "index", "bytes", "other"]


def hooks():
    """(owner, attribute, phase) for every function timed; imported here so a plain import of this file is light."""
    import core.backbone.embeddings as embeddings
    import core.backbone.models as models
    import core.evaluation.llm_forgetting as llm_forgetting
    import core.methods.decoder.fits as fits
    import core.methods.decoder.predictors as predictors
    import core.running.run as run
    import core.training.loop as loop
    import core.training.sft as sft

    return [(loop, "train_classifier", "train"), (loop, "_accuracy", "validate"), (fits, "train_decoder", "train"),
            (sft, "train_decoder", "train"),  # corpus_ft and knowledge updates call it there
            (loop.TrainedClassifier, "predict_proba", "predict"), (run, "timed_in_chunks", "predict"),
            (predictors.DecoderPredictor, "answer", "answer"),
            (predictors.DecoderPredictor, "option_choice", "options"),
            (predictors.DecoderPredictor, "latency", "latency"), (run, "_encoder_latency", "latency"),
            (llm_forgetting, "decoder_forgetting", "forgetting"), (run, "forgetting_scores", "forgetting"),
            (run, "knowledge_update", "update"), (run, "stored_bytes", "bytes"),
            (models.BaseModel, "causal_lm", "load"), (models.BaseModel, "load", "load"),
            (embeddings, "encode_texts", "encode"), (fits, "build_retriever", "index")]


def main() -> None:
    from common import merged

    import core.running.executor as executor
    import core.running.runner as runner
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.task.scenarios import demo_config

    scenario = sys.argv[1] if len(sys.argv) > 1 else "geo-qa"
    seconds, current, depth = collections.defaultdict(float), ["grid"], [0]

    def timed(owner, name: str, phase: str) -> None:
        original = getattr(owner, name)
        is_class_method = isinstance(owner.__dict__.get(name), classmethod)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            outer = depth[0] == 0 or phase == "validate"  # nested phases count once, in the outer one
            depth[0] += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1
                if outer:
                    seconds[(current[0], phase)] += time.perf_counter() - started
        setattr(owner, name, classmethod(lambda cls, *a, **k: wrapper(*a, **k)) if is_class_method else wrapper)

    execute = executor.execute_run

    def execute_run(run):
        current[0], started = run.spec.method, time.perf_counter()
        try:
            return execute(run)
        finally:
            seconds[(run.spec.method, "TOTAL")] += time.perf_counter() - started
            current[0] = "grid"
    executor.execute_run = execute_run  # the one-at-a-time executor's
    for owner, name, phase in hooks():
        timed(owner, name, phase)
    config = merged(demo_config(scenario, quick=True), json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    home = Path(tempfile.mkdtemp(prefix=f"profile-{scenario}-"))
    os.environ["ADAPTLAB_HOME"] = str(home)
    started = time.perf_counter()
    result = runner.run_experiment(parse_config(config, source="profile"), SqlStore(home / "results.db"))
    wall = time.perf_counter() - started
    for method in [*dict.fromkeys(m for m, _ in seconds if m != "grid"), "grid"]:
        inside = sum(v for (m, p), v in seconds.items() if m == method and p not in ("TOTAL", "validate"))
        seconds[(method, "other")] = max(0.0, seconds.get((method, "TOTAL"), 0.0) - inside)
    print("method".ljust(10), *[p[:8].rjust(8) for p in PHASES])
    for method in [*dict.fromkeys(m for m, _ in seconds if m != "grid"), "grid"]:
        print(method.ljust(10), *[f"{seconds.get((method, p), 0):8.1f}" for p in PHASES])
    print(f"wall {wall:.1f} s, {result.executed} run(s), {result.failed} failed; store and caches in {home}"
          " (grid: outside any run, e.g. loading the task and the model, encoding texts once)")


if __name__ == "__main__":
    main()
