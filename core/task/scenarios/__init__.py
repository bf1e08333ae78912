"""Built-in scenarios from real data that installs with the package: no network at run time.

Each scenario module exposes CARD (what it is, where it comes from) and build(**options) -> Task.
"""

from __future__ import annotations

import inspect

from pydantic import ConfigDict, ValidationError, validate_call

from core.errors import ConfigError
from core.task.data import Task
from core.task.scenarios import fortunes, geo, geo_qa, kaomoji, streamlit_docs

SCENARIOS = {module.CARD["name"]: module for module in (fortunes, kaomoji, geo, geo_qa, streamlit_docs)}


def build_scenario(name: str, **options) -> Task:
    if name not in SCENARIOS:
        raise ConfigError(f"no built-in scenario '{name}'; choose from {sorted(SCENARIOS)}")
    accepted = inspect.signature(SCENARIOS[name].build).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"scenario '{name}' has no option(s) {unknown}; it takes {sorted(accepted)}")
    try:  # the options' types and ranges, from build()'s signature: "many" or -5 per class is a sentence
        build = validate_call(SCENARIOS[name].build, config=ConfigDict(allow_inf_nan=False))
        return build(**options)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc'])} {item['input']!r}: {item['msg']}"
                             for item in error.errors())
        raise ConfigError(f"task.builtin_options of scenario '{name}': {problems}") from None


def scenario_cards() -> list[dict]:
    return [module.CARD for module in SCENARIOS.values()]


# `--quick` on an LLM: every step fine-tunes 135M+ parameters, and the default budget (at least 50 steps) spends
# most of a few-shot run re-reading 30 examples; the quick look trains at most 3 epochs, at least 16 steps
LLM_QUICK_BUDGET = {"max_epochs": 3, "min_steps": 16}
# and times 8 questions answered one at a time, not 16: each is a whole generation (16 took ~570 s of a documents
# prompt run on a loaded 2-core CPU), for a noisier 95th percentile
LLM_QUICK_LATENCY_QUERIES = 8


def demo_config(name: str, quick: bool = False, label_noise: float = 0.0, model: str | None = None,
                seeds: int | None = None) -> dict:
    """The default grid of a scenario as an experiment config (a dict for core.config.parse_config).

    quick: the two smallest sizes and one seed, for a first look in a couple of minutes on a CPU (on an LLM,
    with LLM_QUICK_BUDGET's shorter training); a scenario's QUICK_OPTIONS override that.
    model: another model than the scenario's default; a decoder LLM ('smollm2') gets the scenario's
    LLM grid (LLM_DEMO_GRID: fewer, smaller sizes, since every run fine-tunes or prompts an LLM).
    seeds: run seeds 0..seeds-1 instead of the grid's. Seeds only add runs, so the name stays: a stored
    demo grows to more seeds and keeps the runs it has."""
    if name not in SCENARIOS:
        raise ConfigError(f"no built-in scenario '{name}'; choose from {sorted(SCENARIOS)}")
    scenario = SCENARIOS[name]
    llm = model is not None and model != "default"
    grid = dict(getattr(scenario, "LLM_DEMO_GRID", scenario.DEMO_GRID) if llm else scenario.DEMO_GRID)
    if quick:
        grid.update(sizes=grid["sizes"][:2], seeds=grid["seeds"][:1])
        if llm or "model" in grid:  # a first look at an LLM trains fewer steps (the full grid keeps the default)
            grid["budget"] = {**grid.get("budget", {}), **LLM_QUICK_BUDGET}
            grid["latency_queries"] = LLM_QUICK_LATENCY_QUERIES
        grid.update(getattr(scenario, "QUICK_OPTIONS", {}))  # the scenario's own quick look, last: it knows best
    if seeds is not None:
        if not 1 <= seeds <= 100:
            raise ConfigError(f"--seeds must be between 1 and 100, not {seeds}")
        grid["seeds"] = list(range(seeds))
    suffix = ("-" + _model_tag(model) if llm else "") + ("-quick" if quick else "") + \
        (f"-noise{round(label_noise * 100)}" if label_noise else "")
    task = {"builtin": name, "label_noise": label_noise, **grid.pop("task", {})}
    config = {"name": f"demo-{name}{suffix}", "task": task, **grid}
    if model is not None:
        config["model"] = {**config.get("model", {}), "name": model}
    return config


def _model_tag(model: str) -> str:
    """A model name as it may appear in an experiment name: 'smollm2', 'Qwen2.5-0.5B' from 'Qwen/Qwen2.5-0.5B'."""
    import re

    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/").split("/")[-1]).strip("-._")
    return tag.removesuffix(".gguf")[:40] or "model"
