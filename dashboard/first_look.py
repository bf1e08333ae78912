"""The settings the Experiment page starts from: the page's defaults, or on a CPU and an LLM the quick look's.

    quick_look({"builtin": "geo-qa"}, "smollm2", "decoder", "qa", True, offered)   # `adaptlab demo geo-qa --quick`

No streamlit here: pages/experiment.py puts these values into its fields when the data or the model changes.
"""

from __future__ import annotations

from core.config import ExperimentConfig, TaskSpec
from core.methods import default_methods
from core.task.scenarios import LLM_QUICK_BUDGET, LLM_QUICK_LATENCY_QUERIES, demo_config

DEFAULTS = ExperimentConfig(name="defaults", task=TaskSpec(builtin="defaults"))  # the one source of defaults


def page_defaults(family: str, kind: str, has_corpus: bool) -> dict:
    """The settings a config leaves to adaptlab (two seeds, sizes 8 and 32, the backbone's usual methods)."""
    return {"seeds": 2, "sizes": [8, 32], "methods": default_methods(family, kind, has_corpus),
            "budget": DEFAULTS.budget.model_dump(), "training": DEFAULTS.training.model_dump(),
            "rag": DEFAULTS.rag.model_dump(), "max_shots": DEFAULTS.llm.max_shots,
            "latency_queries": DEFAULTS.latency_queries}


def quick_look(spec: dict, model: str, family: str, kind: str, has_corpus: bool, offered: list[str]) -> dict:
    """`adaptlab demo SCENARIO --model MODEL --quick`'s settings for a built-in scenario; for your own data, one seed
    and the quick look's shorter LLM training and fewer latency queries over the page's defaults."""
    look = page_defaults(family, kind, has_corpus) | {"seeds": 1}
    quick = demo_config(spec["builtin"], quick=True, model=model) if "builtin" in spec else {
        "budget": LLM_QUICK_BUDGET, "latency_queries": LLM_QUICK_LATENCY_QUERIES}
    look["methods"] = [m for m in quick.get("methods", look["methods"]) if m in offered]
    look["sizes"] = quick.get("sizes", look["sizes"])
    for section in ("budget", "training", "rag"):
        look[section] = {**look[section], **quick.get(section, {})}
    look["max_shots"] = quick.get("llm", {}).get("max_shots", look["max_shots"])
    look["latency_queries"] = quick.get("latency_queries", look["latency_queries"])
    return look
