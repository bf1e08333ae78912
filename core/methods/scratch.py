"""From scratch: the same architecture and tokenizer with random weights, trained on the same budget.

The reference for negative transfer: if this beats an adapted model, pretraining hurt on this task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor
    from core.training.loop import TrainedClassifier


def fit(ctx: FitContext) -> TrainedClassifier:
    from transformers import set_seed

    from core.training.loop import train_classifier

    set_seed(ctx.seed)  # the random initial weights are the seed's
    model = ctx.base.classifier(len(ctx.labels), pretrained=False)
    return train_classifier(model, ctx, ctx.learning_rate("scratch"))



def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """On an LLM: the same architecture and tokenizer with random weights, fine-tuned on the same budget."""
    from transformers import set_seed

    from core.methods.decoder.fits import supervised

    set_seed(ctx.seed)  # the random initial weights
    return supervised(ctx, ctx.base.causal_lm(pretrained=False), "scratch")


SPEC = MethodSpec("scratch", "From scratch (same architecture)", colour="#8C564B",
                  fits={"encoder": fit, "decoder": fit_decoder}, learning_rates={"encoder": 5e-4, "decoder": 1e-3},
                  task_kinds=("classification", "qa"), trains_network=True, early_stops=True, stores_whole_model=True,
                  default_on=("encoder", "decoder"), is_reference=True, dash="longdash",
                  search={"learning_rate_x": (0.5, 1.0, 2.0)})
