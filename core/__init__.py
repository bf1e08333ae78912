"""adaptlab's engine: should we prompt, retrieve, train a LoRA adapter, fine-tune, or train from scratch?

The public surface, small on purpose::

    from core import load_config, run_experiment, load_results
    result = run_experiment(load_config("examples/fortunes-quick.yaml"))
    runs = load_results("fortunes-quick")
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
