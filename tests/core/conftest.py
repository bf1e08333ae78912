"""Fixtures of the engine's tests: a method's inputs on a small slice of real data."""

from __future__ import annotations

import pytest

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.config import parse_config
from core.methods import FitContext
from core.running.grid import subset_indices
from tests.conftest import tiny_config


@pytest.fixture()
def make_context(base_model, fortunes_small, tmp_path):
    """make(per_class=8, seed=0, corpus=None, **config overrides) -> the FitContext a run of that size would get."""
    labels = fortunes_small.labels
    index = {label: i for i, label in enumerate(labels)}
    y = fortunes_small.train.label.map(index).to_numpy()

    def make(per_class=8, seed=0, corpus=None, **overrides):
        config = parse_config(tiny_config(**overrides))
        chosen = subset_indices(y, per_class, "per_class", seed)
        return FitContext(
            labels=labels, train_texts=fortunes_small.train.text.iloc[chosen].tolist(), train_labels=y[chosen],
            val_texts=fortunes_small.validation.text.tolist(),
            val_labels=fortunes_small.validation.label.map(index).to_numpy(), corpus=corpus, base=base_model,
            embedder=Embedder(base_model, EmbeddingCache(tmp_path / "emb.db")), config=config, seed=seed)
    return make
