"""From scratch: the same architecture and tokenizer with random weights, trained on the same budget.

The reference for negative transfer: if this beats an adapted model, pretraining hurt on this task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.training.loop import TrainedClassifier


def fit(ctx: FitContext) -> TrainedClassifier:
    from transformers import set_seed

    from core.training.loop import train_classifier

    set_seed(ctx.seed)  # the random initial weights are the seed's
    model = ctx.base.classifier(len(ctx.labels), pretrained=False)
    return train_classifier(model, ctx, ctx.learning_rate("scratch"))


SPEC = MethodSpec("scratch", "From scratch (same architecture)", fit, "#8C564B", trains_network=True, early_stops=True,
                  decoder_fit="core.methods.decoder.fits:fit_scratch", task_kinds=("classification", "qa"), stores_whole_model=True,
                  default_on=("encoder", "decoder"), is_reference=True, learning_rate=5e-4, llm_learning_rate=1e-3, dash="longdash",
                  search={"learning_rate_x": (0.5, 1.0, 2.0)})
