"""adaptlab's engine: should we prompt, retrieve, train a LoRA adapter, fine-tune, or train from scratch?

The public surface, small on purpose::

    from core import load_config, run_experiment, load_results
    result = run_experiment(load_config("examples/fortunes-quick.yaml"))
    runs = load_results("fortunes-quick")

Read it in the order a run flows through it: task/ (the data), backbone/ (the pretrained model), methods/ (one
module per way to adapt it, and the registry), training/ (the loops), evaluation/ (metrics and costs), running/
(one run, the grid, the worker), results/ (store, analysis, costs, recommendation, report). config.py is the
experiment's settings, paths.py the home folder and the clock, cli.py the `adaptlab` command.
"""

from __future__ import annotations

from core.config import ExperimentConfig, load_config, parse_config
from core.errors import AdaptlabError, ConfigError, DataError, ModelLoadError, StoreError
from core.results.store import SqlStore

__all__ = ["ExperimentConfig", "load_config", "parse_config", "run_experiment", "load_results", "SqlStore",
           "AdaptlabError", "ConfigError", "DataError", "ModelLoadError", "StoreError"]


def __getattr__(name: str):
    # The runner pulls in torch and transformers; load it on first use so `import core` stays quick.
    if name in ("run_experiment", "load_results"):
        from core.running import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
