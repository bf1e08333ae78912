"""The registry: every adaptation method, in the order results are shown. One line per method."""

from __future__ import annotations

from core.methods import corpus_ft, fewshot, full, lora, probe, prompt, qlora, rag, rag_lora, scratch, tfidf
from core.methods.base import FitContext, Fitted, MethodSpec

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    prompt.SPEC,
    fewshot.SPEC,
    rag.SPEC,
    probe.SPEC,
    lora.SPEC,
    full.SPEC,
    scratch.SPEC,
    tfidf.SPEC,
    corpus_ft.SPEC,
    rag_lora.SPEC,
    qlora.SPEC,
)}

__all__ = ["METHODS", "FitContext", "Fitted", "MethodSpec"]
