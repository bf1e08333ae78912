"""Built-in scenarios from real data that installs with the package: no network at run time.

Each scenario module exposes CARD (what it is, where it comes from) and build(**options) -> Task.
"""

from __future__ import annotations

from core.data import Task
from core.errors import ConfigError
from core.scenarios import fortunes

SCENARIOS = {module.CARD["name"]: module for module in (fortunes,)}


def build_scenario(name: str, **options) -> Task:
    if name not in SCENARIOS:
        raise ConfigError(f"no built-in scenario '{name}'; choose from {sorted(SCENARIOS)}")
    try:
        return SCENARIOS[name].build(**options)
    except TypeError as error:
        raise ConfigError(f"scenario '{name}': {error}") from None


def scenario_cards() -> list[dict]:
    return [module.CARD for module in SCENARIOS.values()]
