"""The one shape every adaptation method has: fit(context) -> Fitted.

A method gets the same inputs as every other (task labels, the training subset, the base model, the
budget, the seed) and returns a predictor. The runner, not the method, measures time, memory,
latency and bytes stored, so every method is measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from core.backbone.embeddings import Embedder
from core.backbone.models import BaseModel
from core.config import ExperimentConfig

ProgressFn = Callable[[float, dict], None]  # (fraction done, details such as {"loss": 0.4})


@dataclass
class FitContext:
    labels: list[str]  # class i is labels[i]
    train_texts: list[str]
    train_labels: np.ndarray  # int class indices
    val_texts: list[str]
    val_labels: np.ndarray
    corpus: pd.DataFrame | None  # knowledge documents (text, label) for RAG
    base: BaseModel
    embedder: Embedder
    config: ExperimentConfig
    seed: int
    progress: ProgressFn = field(default=lambda fraction, info: None)
    kind: str = "classification"  # or "qa" (decoders only): labels are then the reference answers
    train_frame: pd.DataFrame | None = None  # the training subset's rows (QA: answers, aliases, context)
    val_frame: pd.DataFrame | None = None
    retrieval: Embedder | None = None  # the encoder a decoder's RAG retrieves with (an encoder's own otherwise)


class Fitted(Protocol):
    trainable_parameters: int
    total_parameters: int
    details: dict  # method-specific facts worth recording (epochs run, index type, ...)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""

    def save(self, folder: Path) -> None:
        """Write what a deployment of this method must store (adapter, model, index...)."""


@dataclass(frozen=True)
class MethodSpec:
    name: str  # the key used in configs and results
    title: str  # what the dashboard shows
    fit: Callable[[FitContext], Fitted] | None  # on a sentence encoder; None: not offered there
    uses_training_data: bool = True  # False: one run serves every training-set size
    uses_embeddings: bool = False  # True: reads the shared embedding cache
    trains_network: bool = False  # True: LoRA, full and scratch: the shared training loop
    decoder_fit: Callable[[FitContext], Fitted] | None = None  # on a decoder LLM; None: not offered there
    task_kinds: tuple[str, ...] = ("classification",)  # "qa" needs a decoder that generates
    changes_base_weights: bool = False  # LoRA, full: the adapted model may forget what the base knew
    retrieves: bool = False  # on a decoder: passages retrieved into the prompt (needs the retrieval encoder)
    # its deployment keeps the frozen base model beside a small per-task part (adapter, head, index, prompt), so
    # N task variants store the base once; full, scratch store a whole model each, TF-IDF needs no base at all
    shares_base_model: bool = False
    updates_without_training: bool = False  # takes new data without training (a prompt, or indexing documents)

    def fit_for(self, family: str) -> Callable[[FitContext], Fitted] | None:
        """The fit for a backbone family ("encoder", "decoder"); None when the method has none there."""
        return self.decoder_fit if family == "decoder" else self.fit

    def supports(self, family: str, kind: str) -> bool:
        """Whether this method runs on that backbone family for that task kind (QA needs a decoder)."""
        if self.fit_for(family) is None:
            return False
        return kind == "classification" or (family == "decoder" and kind in self.task_kinds)


def count_parameters(module) -> tuple[int, int]:
    """(trainable, total) parameter counts of a torch module."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total


def in_label_order(probs: np.ndarray, classes: np.ndarray, num_labels: int) -> np.ndarray:
    """scikit-learn gives columns only for the classes it saw in training; put them back in label order."""
    full = np.zeros((len(probs), num_labels), dtype=np.float32)
    full[:, classes] = probs
    return full


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = scores / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)
