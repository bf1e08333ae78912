"""Prompt-only (zero-shot): no training examples; each input goes to the label whose text it is closest to.

The "prompt" is the text each label is turned into (`prompt.template`, or a description per label
in `prompt.descriptions`); a user edits it to steer the model without any training.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, field_validator

from core.methods.base import FitContext, MethodSpec, softmax
from core.schema import Strict

if TYPE_CHECKING:
    from core.backbone.embeddings import Embedder
    from core.methods.decoder.predictors import DecoderPredictor



MAX_PROMPT_CHARS = 2000  # a label's text is a phrase or a sentence; this bounds every text the template makes


class PromptSettings(Strict):
    """The `prompt:` section of a config."""

    # how a label name becomes the text compared with each input
    template: str = Field("{label}", max_length=MAX_PROMPT_CHARS)
    # per-label text, overrides the template
    descriptions: dict[str, Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]] = Field(default_factory=dict,
                                                                                       max_length=10_000)

    @field_validator("template")
    @classmethod
    def _fills_in(cls, value: str) -> str:
        return check_template(value)


def check_template(template: str) -> str:
    """A template str.format can fill with the label alone, and whose text is no longer than it looks.

    Checked when the config is read (the CLI's YAML and the dashboard's text field alike), not when a run fills
    it in: '{label} {0}' or '{label}}' would fail every run, and a format spec such as '{label:>3000000000}'
    would build a 3 GB string per label."""
    example = "e.g. 'A text about {label}.' (write {{ and }} for a brace itself)"
    try:
        fields = [(name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:  # "Single '}' encountered in format string"
        raise ValueError(f"the prompt template cannot be filled in ({error}); {example}") from None
    for name, conversion, spec in fields:
        if name != "label" or conversion or spec:
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"the prompt template has {written}; it may only use {{label}}, as it is, {example}")
    if not fields:
        raise ValueError(f"the prompt template must contain {{label}}, {example}")
    return template


TEMPERATURE = 0.05  # cosine similarities span a narrow range; sharpen them into usable probabilities


def label_texts(labels: list[str], template: str, descriptions: dict[str, str]) -> list[str]:
    return [descriptions.get(label) or template.format(label=label) for label in labels]


@dataclass
class PromptClassifier:
    embedder: Embedder
    label_vectors: np.ndarray  # (classes, dim), unit length
    prompts: list[str]
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.label_vectors.T

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.similarities(self.embedder.encode(texts)), TEMPERATURE)

    def save(self, folder: Path) -> None:
        np.save(folder / "label_vectors.npy", self.label_vectors)
        (folder / "prompts.txt").write_text("\n".join(self.prompts), encoding="utf-8")


def build(embedder: Embedder, labels: list[str], template: str, descriptions: dict[str, str]) -> PromptClassifier:
    prompts = label_texts(labels, template, descriptions)
    total = sum(p.numel() for p in embedder.base.encoder().parameters())
    return PromptClassifier(embedder, embedder.encode(prompts), prompts, total_parameters=total,
                            details={"prompts": dict(zip(labels, prompts))})


def fit(ctx: FitContext) -> PromptClassifier:
    return build(ctx.embedder, ctx.labels, ctx.config.prompt.template, ctx.config.prompt.descriptions)


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """On an LLM: the instruction and the question, nothing learnt."""
    from core.methods.decoder.fits import frozen_dtype, predictor

    return predictor(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx)))


SPEC = MethodSpec("prompt", "Prompt-only (zero-shot)", colour="#7B8794", fits={"encoder": fit, "decoder": fit_decoder},
                  task_kinds=("classification", "qa"), uses_training_data=False, uses_embeddings=True,
                  shares_base_model=True, updates_without_training=True,
                  default_on=("encoder", "decoder"), settings=PromptSettings, dash="dot")
