"""Few-shot (in-context learning): the run's labelled examples go into the prompt; no weight changes.

Decoder LLMs only. The training-set size is the number of examples available; up to `llm.max_shots`
of them are shown (classes taking turns), and a prompt that would overflow the context loses its
oldest shots first (counted in the run's details).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor


def choose_shots(ctx: FitContext) -> list[tuple[str, str]]:
    """Up to llm.max_shots training examples, classes taking turns so none is left out, in a seeded order."""
    from core.methods.decoder.fits import training_pairs

    rng = np.random.default_rng(ctx.seed)
    train, _ = training_pairs(ctx)
    order = rng.permutation(len(train))
    if ctx.kind == "classification":
        by_class: dict[str, list[int]] = {}
        for i in order:
            by_class.setdefault(train[i][1], []).append(int(i))
        queues = list(by_class.values())
        order = [queue[turn] for turn in range(max(map(len, queues), default=0)) for queue in queues
                 if turn < len(queue)]
    picked = [train[i] for i in order[:ctx.config.llm.max_shots]]
    rng.shuffle(picked)
    return [(question if not context else f"{context}\n\n{question}", answer) for question, answer, context in picked]


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    from core.methods.decoder.fits import frozen_dtype, predictor

    shots = choose_shots(ctx)
    return predictor(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx)), shots,
                     details={"shots_available": len(ctx.train_texts)})


SPEC = MethodSpec("fewshot", "Few-shot prompt (examples in context)", colour="#3E4C59", fits={"decoder": fit_decoder},
                  task_kinds=("classification", "qa"), shares_base_model=True, updates_without_training=True,
                  default_on=("decoder",), dash="dot")
