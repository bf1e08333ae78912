"""Full fine-tuning: every weight of the pretrained model trains (and must be stored per task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.training.loop import TrainedClassifier


def fit(ctx: FitContext) -> TrainedClassifier:
    from transformers import set_seed

    from core.training.loop import train_classifier

    set_seed(ctx.seed)
    model = ctx.base.classifier(len(ctx.labels), pretrained=True)
    return train_classifier(model, ctx, ctx.learning_rate("full"))


SPEC = MethodSpec("full", "Full fine-tune", fit, "#FF7F0E", trains_network=True, early_stops=True,
                  decoder_fit="core.methods.decoder.fits:fit_full",
                  task_kinds=("classification", "qa"), changes_base_weights=True, stores_whole_model=True,
                  default_on=("encoder", "decoder"), learning_rate=1e-4, llm_learning_rate=5e-5, dash="dash",
                  search={"learning_rate_x": (0.5, 1.0, 2.0)})
