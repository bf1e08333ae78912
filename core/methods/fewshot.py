"""Few-shot (in-context learning): the run's labelled examples go into the prompt; no weight changes.

Decoder LLMs only. The training-set size is the number of examples available; up to `llm.max_shots`
of them are shown (classes taking turns), and a prompt that would overflow the context loses its
oldest shots first (counted in the run's details).
"""

from __future__ import annotations

from core.methods.base import MethodSpec

SPEC = MethodSpec("fewshot", "Few-shot prompt (examples in context)", None, "#3E4C59", decoder_fit="core.methods.decoder.fits:fit_fewshot",
                  task_kinds=("classification", "qa"),
                  shares_base_model=True, updates_without_training=True, default_on=("decoder",), dash="dot")
