"""Built-in scenarios from real data that installs with the package: no network at run time.

Each scenario module exposes CARD (what it is, where it comes from) and build(**options) -> Task.
"""

from __future__ import annotations

import inspect

from core.data import Task
from core.errors import ConfigError
from core.scenarios import fortunes, geo, kaomoji

SCENARIOS = {module.CARD["name"]: module for module in (fortunes, kaomoji, geo)}


def build_scenario(name: str, **options) -> Task:
    if name not in SCENARIOS:
        raise ConfigError(f"no built-in scenario '{name}'; choose from {sorted(SCENARIOS)}")
    accepted = inspect.signature(SCENARIOS[name].build).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"scenario '{name}' has no option(s) {unknown}; it takes {sorted(accepted)}")
    return SCENARIOS[name].build(**options)


def scenario_cards() -> list[dict]:
    return [module.CARD for module in SCENARIOS.values()]


def demo_config(name: str, quick: bool = False, label_noise: float = 0.0) -> dict:
    """The default grid of a scenario as an experiment config (a dict for core.config.parse_config).

    quick: the two smallest sizes and one seed, for a first look in a couple of minutes on a CPU."""
    if name not in SCENARIOS:
        raise ConfigError(f"no built-in scenario '{name}'; choose from {sorted(SCENARIOS)}")
    grid = dict(SCENARIOS[name].DEMO_GRID)
    if quick:
        grid.update(sizes=grid["sizes"][:2], seeds=grid["seeds"][:1])
    suffix = ("-quick" if quick else "") + (f"-noise{round(label_noise * 100)}" if label_noise else "")
    return {"name": f"demo-{name}{suffix}", "task": {"builtin": name, "label_noise": label_noise}, **grid}
