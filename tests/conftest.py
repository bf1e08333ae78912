"""Shared fixtures: every test is offline, on the CPU, and writes only under its own temp folder."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def adaptlab_home(tmp_path, monkeypatch):
    """Results, caches and artifacts go to a fresh folder per test."""
    home = tmp_path / "adaptlab-home"
    monkeypatch.setenv("ADAPTLAB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def base_model():
    from core.models import BaseModel

    return BaseModel.load("default", device="cpu", max_length=64)


@pytest.fixture(scope="session")
def fortunes_small():
    """A small slice of real data: 40 fortunes per collection (26 train, 4 validation, 10 test each)."""
    from core.scenarios import build_scenario

    return build_scenario("fortunes", per_class=40)


def tiny_config(name: str = "tiny", **overrides) -> dict:
    """A config that trains for seconds: for tests of the plumbing, not of accuracy."""
    config = {
        "name": name,
        "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
        "model": {"max_length": 48},
        "methods": ["prompt", "probe", "tfidf"],
        "sizes": [4, 8],
        "seeds": [0],
        "budget": {"max_epochs": 1, "min_steps": 2},
        "training": {"batch_size": 8},
    }
    config.update(overrides)
    return config
