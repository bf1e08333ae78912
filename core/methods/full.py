"""Full fine-tuning: every weight of the pretrained model trains (and must be stored per task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor
    from core.training.loop import TrainedClassifier


def fit(ctx: FitContext) -> TrainedClassifier:
    from transformers import set_seed

    from core.training.loop import train_classifier

    set_seed(ctx.seed)
    model = ctx.base.classifier(len(ctx.labels), pretrained=True)
    return train_classifier(model, ctx, ctx.learning_rate("full"))



def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """On an LLM: the same supervised fine-tuning as LoRA's, every weight."""
    from core.methods.decoder.fits import supervised

    return supervised(ctx, ctx.base.causal_lm(), "full")


SPEC = MethodSpec("full", "Full fine-tune", colour="#FF7F0E", fits={"encoder": fit, "decoder": fit_decoder},
                  learning_rates={"encoder": 1e-4, "decoder": 5e-5}, task_kinds=("classification", "qa"),
                  trains_network=True, early_stops=True, changes_base_weights=True, stores_whole_model=True,
                  default_on=("encoder", "decoder"), dash="dash", search={"learning_rate_x": (0.5, 1.0, 2.0)})
