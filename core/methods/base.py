"""The one shape every adaptation method has: fit(context) -> Fitted.

A method gets the same inputs as every other (task labels, the training subset, the base model, the
budget, the seed) and returns a predictor. The runner, not the method, measures time, memory,
latency and bytes stored, so every method is measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the registry imports no torch: a method's heavy imports happen when it fits
    # a config section, and the experiment's config itself (core.config.ExperimentConfig): config.py builds its
    # sections from this registry, so the methods sit below it and name it by its pydantic base only
    from pydantic import BaseModel as Settings

    from core.backbone.embeddings import Embedder
    from core.backbone.models import BaseModel

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
    config: Settings  # the experiment's ExperimentConfig (core/config.py)
    seed: int
    progress: ProgressFn = field(default=lambda fraction, info: None)
    kind: str = "classification"  # or "qa" (decoders only): labels are then the reference answers
    train_frame: pd.DataFrame | None = None  # the training subset's rows (QA: answers, aliases, context)
    val_frame: pd.DataFrame | None = None
    retrieval: Embedder | None = None  # the encoder a decoder's RAG retrieves with (an encoder's own otherwise)
    max_steps: int | None = None  # at most this many optimiser steps (the estimate times a few, then stops)
    hyper: dict = field(default_factory=dict)  # a setting under trial in the run's search (MethodSpec.search)
    # `validation: refit`'s second training: exactly this many optimiser steps on every example, nothing validated
    refit_steps: int | None = None
    # QA with the known-facts pass: what the run answers at a few epoch ends (core/evaluation/learning_epochs.py)
    epoch_checkpoints: object | None = None

    def learning_rate(self, method: str) -> float:
        """The method's configured learning rate (the LLM's table on a decoder), times the search's factor."""
        rates = self.config.llm.learning_rates if self.base.family == "decoder" else self.config.training.learning_rates
        return rates[method] * self.hyper.get("learning_rate_x", 1.0)

    def lora_rank_and_alpha(self) -> tuple[int, int]:
        """LoRA's rank and alpha: the configured ones, the rank times the search's `rank_x` when it is under trial,
        and alpha scaled with it, so alpha / rank stays as configured (2 by default, as Biderman et al. 2024 set it)
        and a trial changes the adapter's capacity, not its effective learning rate."""
        settings = self.config.lora
        rank = max(1, round(settings.r * self.hyper.get("rank_x", 1.0)))
        return rank, max(1, round(settings.alpha * rank / settings.r))


class Fitted(Protocol):
    trainable_parameters: int
    total_parameters: int
    details: dict  # method-specific facts worth recording (epochs run, index type, ...)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""

    def save(self, folder: Path) -> None:
        """Write what a deployment of this method must store (adapter, model, index...)."""


FitFn = Callable[[FitContext], Fitted]
FAMILIES = ("encoder", "decoder")  # a sentence encoder classifies; a decoder LLM generates


@dataclass(frozen=True)
class MethodSpec:
    """Every fact about a method, in one place: the config, the grid, the estimate, the pages, the charts and
    the report read them from here (core/methods/__init__.py lists the specs)."""

    name: str  # the key used in configs and results
    title: str  # what the dashboard shows
    colour: str  # its colour in every chart, one per method; never red, which says "transfer hurts"
    # its fit on each backbone family it runs on ("encoder", "decoder"), a function of its own module whose heavy
    # imports happen inside it (so the registry stays light); a family left out: not offered there
    fits: Mapping[str, FitFn]
    # its default learning rate on each family it trains on (training.learning_rates, llm.learning_rates)
    learning_rates: Mapping[str, float] = field(default_factory=dict)
    task_kinds: tuple[str, ...] = ("classification",)  # "qa" needs a decoder that generates
    needs_corpus: tuple[str, ...] = ()  # the task kinds on which it has nothing to work with without a document corpus
    needs_cuda: bool = False  # runs on a CUDA GPU only (qlora): a cluster without GPUs cannot run it
    # refuses in one sentence, before anything loads or trains, where this machine cannot run it (qlora: no CUDA)
    check_machine: Callable[[], None] | None = None
    uses_training_data: bool = True  # False: one run serves every training-set size
    uses_embeddings: bool = False  # True: reads the shared embedding cache
    trains_network: bool = False  # True: LoRA, full and scratch: the shared training loop
    early_stops: bool = False  # stops on validation examples (taken from the run's training budget by default)
    changes_base_weights: bool = False  # LoRA, full: the adapted model may forget what the base knew
    retrieves: bool = False  # on a decoder: passages retrieved into the prompt (needs the retrieval encoder)
    # its deployment keeps the frozen base model beside a small per-task part (adapter, head, index, prompt), so
    # N task variants store the base once; full, scratch store a whole model each, TF-IDF needs no base at all
    shares_base_model: bool = False
    stores_whole_model: bool = False  # each task variant stores a whole copy of the network (full, scratch)
    updates_without_training: bool = False  # takes new data without training (a prompt, or indexing documents)
    default_on: tuple[str, ...] = ()  # the backbone families whose default grid includes it
    default_with_corpus: bool = False  # joins a decoder's default grid when the task has a document corpus
    is_reference: bool = False  # from scratch, no pretraining: what negative transfer is measured against
    fit_time_per_example: bool = False  # the estimate times its fit on a sample and charges it per example
    # the run's search when `tuning: true`: each setting's candidates, tried on the same validation examples
    # (learning_rate_x multiplies the configured learning rate); the best is kept, the search counts as training
    search: dict[str, tuple] = field(default_factory=dict)
    decoder_search: dict[str, tuple] | None = None  # on a decoder, where its search differs (RAG: the retriever too)
    dash: str = "solid"  # its line in charts: methods of about the same cost would hide each other otherwise
    # optimiser steps of a run on this many examples, for the estimate; None: the shared loop's plan
    steps: Callable[[int, Settings], int] | None = None
    settings: type[Settings] | None = None  # its own config section, named after it (`lora:`, `rag:`, `prompt:`)

    def fit_for(self, family: str) -> FitFn | None:
        """The fit for a backbone family ("encoder", "decoder"); None when the method has none there."""
        return self.fits.get(family)

    def offered_on(self, family: str) -> bool:
        return family in self.fits

    def supports(self, family: str, kind: str) -> bool:
        """Whether this method runs on that backbone family for that task kind (QA needs a decoder)."""
        if not self.offered_on(family):
            return False
        return kind == "classification" or (family == "decoder" and kind in self.task_kinds)

    def search_on(self, family: str) -> dict[str, tuple]:
        """The settings `tuning` searches on that backbone family, each with its candidates."""
        return self.decoder_search if family == "decoder" and self.decoder_search is not None else self.search

    def learning_rate_on(self, family: str) -> float | None:
        return self.learning_rates.get(family)


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
