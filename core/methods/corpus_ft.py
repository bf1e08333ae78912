"""Corpus fine-tuning: continued pre-training of LoRA adapters on the corpus passages, then closed-book.

"Teach it the documents", as people try it (the unsupervised fine-tuning of Ovadia et al., EMNLP 2024).
It uses no labelled examples, so one run serves every training-set size. Decoder LLMs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError
from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """Continued pre-training on the corpus passages (every token), then asked the questions closed-book."""
    from transformers import set_seed

    from core.methods.decoder.fits import epoch_end, frozen_dtype, trained, with_lora
    from core.training.sft import Example, train_decoder

    if ctx.corpus is None or not len(ctx.corpus):
        raise ConfigError("corpus_ft trains on the task's corpus, and this task has none; add task.corpus")
    set_seed(ctx.seed)
    model = with_lora(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx)))
    passages = ctx.corpus.text.tolist()
    order = np.random.default_rng(ctx.seed).permutation(len(passages))
    held = max(1, len(passages) // 20)  # early stopping watches the loss on passages it does not train on
    validation = [Example("", passages[i]) for i in order[:held]]
    train = [Example("", passages[i]) for i in order[held:]] or validation
    details = train_decoder(model, ctx, train, validation, ctx.learning_rate("corpus_ft"),
                            ctx.base.tokenizer.eos_token or "", epoch_end(ctx, model))
    details["passages_trained"] = len(train)
    return trained(ctx, model, details)


SPEC = MethodSpec("corpus_ft", "Corpus fine-tuning (documents into the weights)", colour="#E377C2",
                  fits={"decoder": fit_decoder}, learning_rates={"decoder": 1e-3}, task_kinds=("classification", "qa"),
                  needs_corpus=("classification", "qa"), uses_training_data=False, trains_network=True,
                  early_stops=True, changes_base_weights=True, shares_base_model=True, default_with_corpus=True,
                  dash="dash")
