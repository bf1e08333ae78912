"""The registry: every adaptation method, in the order results are shown. One line per method.

Everything else about a method (its colour, its default learning rate, its config section, the backbones
and task kinds it runs on, whether it is in a default grid) is on its spec; the config, the grid, the
estimate, the pages, the charts and the report read it from here. Importing this module imports no torch.
"""

from __future__ import annotations

from core.methods import (
    corpus_ft,
    fewshot,
    full,
    lora,
    probe,
    prompt,
    qlora,
    rag,
    rag_bm25,
    rag_hybrid,
    rag_lora,
    scratch,
    setfit,
    tfidf,
)
from core.methods.base import FAMILIES, FitContext, Fitted, MethodSpec

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    prompt.SPEC,
    fewshot.SPEC,
    rag.SPEC,
    rag_bm25.SPEC,
    rag_hybrid.SPEC,
    probe.SPEC,
    lora.SPEC,
    full.SPEC,
    setfit.SPEC,
    scratch.SPEC,
    tfidf.SPEC,
    corpus_ft.SPEC,
    rag_lora.SPEC,
    qlora.SPEC,
)}


def default_methods(family: str, kind: str = "classification", has_corpus: bool = False) -> list[str]:
    """The grid run when a config names no methods: the backbone's defaults that apply to this task
    (on a decoder with a document corpus, the knowledge-injection methods join; a method that needs a corpus for this
    task kind, as RAG on QA, is left out without one)."""
    chosen = []
    for name, spec in METHODS.items():
        wanted = family in spec.default_on or (family == "decoder" and has_corpus and spec.default_with_corpus)
        if wanted and spec.supports(family, kind) and (has_corpus or kind not in spec.needs_corpus):
            chosen.append(name)
    return chosen


DEFAULT_REFERENCE = "scratch"  # what negative transfer is measured against when a config does not say


def references() -> list[str]:
    """The from-scratch references negative transfer can be measured against."""
    return [name for name, spec in METHODS.items() if spec.is_reference]


def learning_rates(family: str) -> dict[str, float]:
    """Default learning rates of the methods that train on this backbone family."""
    return {name: spec.learning_rate_on(family) for name, spec in METHODS.items()
            if spec.learning_rate_on(family) is not None}


__all__ = ["DEFAULT_REFERENCE", "FAMILIES", "METHODS", "FitContext", "Fitted", "MethodSpec", "default_methods",
           "learning_rates", "references"]
