"""Linear probe: frozen base-model embeddings, logistic regression on top (scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.methods.base import FitContext, MethodSpec, in_label_order

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

    from core.backbone.embeddings import Embedder


@dataclass
class ProbeClassifier:
    embedder: Embedder
    model: LogisticRegression
    num_labels: int
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        probs = self.model.predict_proba(self.embedder.encode(texts))
        return in_label_order(probs, self.model.classes_, self.num_labels)

    def save(self, folder: Path) -> None:
        np.savez(folder / "probe.npz", coef=self.model.coef_, intercept=self.model.intercept_,
                 classes=self.model.classes_)


def fit(ctx: FitContext) -> ProbeClassifier:
    from sklearn.linear_model import LogisticRegression

    features = ctx.embedder.encode(ctx.train_texts)
    model = LogisticRegression(max_iter=2000, C=ctx.hyper.get("C", 1.0), random_state=ctx.seed).fit(
        features, ctx.train_labels)
    trainable = model.coef_.size + model.intercept_.size
    total = trainable + sum(p.numel() for p in ctx.embedder.base.encoder().parameters())
    return ProbeClassifier(ctx.embedder, model, len(ctx.labels), trainable, total,
                           details={"iterations": int(np.max(model.n_iter_))})


SPEC = MethodSpec("probe", "Linear probe (frozen)", colour="#9467BD", fits={"encoder": fit}, uses_embeddings=True,
                  shares_base_model=True, default_on=("encoder",), fit_time_per_example=True,
                  search={"C": (0.1, 1.0, 10.0)})
