"""From scratch: the same architecture and tokenizer with random weights, trained on the same budget.

The reference for negative transfer: if this beats an adapted model, pretraining hurt on this task.
"""

from __future__ import annotations

from transformers import set_seed

from core.methods.base import FitContext, MethodSpec
from core.methods.decoder import fits as decoder
from core.training.loop import TrainedClassifier, train_classifier


def fit(ctx: FitContext) -> TrainedClassifier:
    set_seed(ctx.seed)  # the random initial weights are the seed's
    model = ctx.base.classifier(len(ctx.labels), pretrained=False)
    return train_classifier(model, ctx, ctx.config.training.learning_rates.get("scratch", 5e-4))


SPEC = MethodSpec("scratch", "From scratch (same architecture)", fit, trains_network=True,
                  decoder_fit=decoder.fit_scratch, task_kinds=("classification", "qa"))
