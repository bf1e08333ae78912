"""The registry: every adaptation method, in the order results are shown. One line per method."""

from __future__ import annotations

from core.methods import full, lora, probe, prompt, rag, scratch, tfidf
from core.methods.base import FitContext, Fitted, MethodSpec

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    prompt.SPEC,
    rag.SPEC,
    probe.SPEC,
    lora.SPEC,
    full.SPEC,
    scratch.SPEC,
    tfidf.SPEC,
)}

__all__ = ["METHODS", "FitContext", "Fitted", "MethodSpec"]
