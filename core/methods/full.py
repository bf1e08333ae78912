"""Full fine-tuning: every weight of the pretrained model trains (and must be stored per task)."""

from __future__ import annotations

from transformers import set_seed

from core.methods.base import FitContext, MethodSpec
from core.methods.decoder import fits as decoder
from core.training.loop import TrainedClassifier, train_classifier


def fit(ctx: FitContext) -> TrainedClassifier:
    set_seed(ctx.seed)
    model = ctx.base.classifier(len(ctx.labels), pretrained=True)
    return train_classifier(model, ctx, ctx.config.training.learning_rates.get("full", 1e-4))


SPEC = MethodSpec("full", "Full fine-tune", fit, trains_network=True, decoder_fit=decoder.fit_full,
                  task_kinds=("classification", "qa"), changes_base_weights=True)
