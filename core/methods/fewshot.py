"""Few-shot (in-context learning): the run's labelled examples go into the prompt; no weight changes.

Decoder LLMs only. The training-set size is the number of examples available; up to `llm.max_shots`
of them are shown, chosen by `llm.shot_selection`: `balanced` shows the same shots to every question
(classes taking turns, in a seeded order); `similar` shows each question the training examples nearest
to it by the retrieval encoder's embeddings (Liu et al. 2022, "What Makes Good In-Context Examples for
GPT-3?"). A prompt that would overflow the context loses its oldest shots first (counted in the run's
details). Under `tuning`, the number of shots and the selection are searched like any method's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    import faiss

    from core.backbone.embeddings import Embedder
    from core.methods.decoder.predictors import DecoderPredictor


def shot_count(ctx: FitContext) -> int:
    """Shots shown per question: llm.max_shots, times the search's factor under `tuning`."""
    return max(1, round(ctx.config.llm.max_shots * ctx.hyper.get("shots_x", 1.0)))


def shot_pairs(ctx: FitContext) -> tuple[list[str], list[tuple[str, str]]]:
    """(each training example's question, the (input, answer) pair shown for it: a question's own context first)."""
    from core.methods.decoder.fits import training_pairs

    train, _ = training_pairs(ctx)
    return ([question for question, _, _ in train],
            [(question if not context else f"{context}\n\n{question}", answer) for question, answer, context in train])


def choose_shots(ctx: FitContext, count: int) -> list[tuple[str, str]]:
    """Up to `count` training examples, classes taking turns so none is left out, in a seeded order."""
    rng = np.random.default_rng(ctx.seed)
    _, pairs = shot_pairs(ctx)
    order = rng.permutation(len(pairs))
    if ctx.kind == "classification":
        by_class: dict[str, list[int]] = {}
        for i in order:
            by_class.setdefault(pairs[i][1], []).append(int(i))
        queues = list(by_class.values())
        order = [queue[turn] for turn in range(max(map(len, queues), default=0)) for queue in queues
                 if turn < len(queue)]
    picked = [pairs[i] for i in order[:count]]
    rng.shuffle(picked)
    return picked


SHOT_INDEX = "shots.faiss"


@dataclass
class SimilarShots:
    """Per question, the `count` training examples whose questions embed nearest to it (cosine, exact search)."""

    embedder: Embedder
    pool: list[tuple[str, str]]  # (input, answer) shown for each training example
    index: faiss.Index  # the training questions' unit vectors
    count: int

    def pick(self, questions: list[str]) -> list[list[tuple[str, str]]]:
        if not questions or not self.pool:
            return [[] for _ in questions]
        _, ids = self.index.search(self.embedder.encode(questions), min(self.count, len(self.pool)))
        # nearest last: it sits next to the question, and a full context drops the oldest (least similar) shots first
        return [[self.pool[i] for i in row[::-1] if i >= 0] for row in ids]

    def save(self, folder: Path) -> None:
        """shots.faiss: the training questions' vectors (row i is pool[i]), so an export picks as the run did."""
        from core.backbone.vector_index import save_index

        save_index(self.index, folder / SHOT_INDEX)


def similar_shots(ctx: FitContext, count: int) -> SimilarShots:
    from core.backbone.vector_index import build_index
    from core.errors import ConfigError

    if ctx.retrieval is None:
        raise ConfigError("llm.shot_selection: similar embeds the questions with the retrieval encoder; set "
                          "llm.retriever (default: the built-in encoder)")
    questions, pairs = shot_pairs(ctx)
    vectors = ctx.retrieval.encode(questions)
    return SimilarShots(ctx.retrieval, pairs, build_index(vectors, "flat", 0), count)


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    from core.methods.decoder.fits import frozen_dtype, predictor

    count, selection = shot_count(ctx), ctx.hyper.get("selection", ctx.config.llm.shot_selection)
    picker = similar_shots(ctx, count) if selection == "similar" else None
    shots = [] if picker is not None else choose_shots(ctx, count)
    details = {"shots_available": len(ctx.train_texts), "shot_selection": selection,
               "shots": min(count, len(ctx.train_texts))}
    return predictor(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx)), shots, details=details, shot_picker=picker)


# under `tuning`: half, the configured and twice llm.max_shots (a full context still drops the oldest), by either
# selection; the first of each setting's middle values is the configured one (core/running/search.py)
SPEC = MethodSpec("fewshot", "Few-shot prompt (examples in context)", colour="#3E4C59", fits={"decoder": fit_decoder},
                  task_kinds=("classification", "qa"), shares_base_model=True, updates_without_training=True,
                  default_on=("decoder",), dash="dot",
                  search={"shots_x": (0.5, 1.0, 2.0), "selection": ("balanced", "similar")})
