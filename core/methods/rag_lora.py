"""RAG + LoRA: LoRA trained on prompts that carry what retrieval finds (distractors included), then used with
retrieval: the blend the field recommends for knowledge-heavy tasks. Decoder LLMs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    from transformers import set_seed

    from core.methods.decoder.fits import build_retriever, frozen_dtype, supervised, with_lora

    set_seed(ctx.seed)
    retriever = build_retriever(ctx)  # training prompts carry what retrieval finds, distractors included
    return supervised(ctx, with_lora(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx))), "rag_lora", retriever)


SPEC = MethodSpec("rag_lora", "RAG + LoRA (fine-tuned to read passages)", colour="#0B6E7F",
                  fits={"decoder": fit_decoder}, learning_rates={"decoder": 1e-3}, task_kinds=("classification", "qa"),
                  needs_corpus=("qa",), trains_network=True, early_stops=True, changes_base_weights=True,
                  retrieves=True, shares_base_model=True, updates_without_training=True,
                  default_with_corpus=True, dash="dashdot", search={"learning_rate_x": (0.5, 1.0, 2.0)})
