"""RAG + LoRA: LoRA trained on prompts that carry what retrieval finds (distractors included), then used with
retrieval: the blend the field recommends for knowledge-heavy tasks. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec

SPEC = MethodSpec("rag_lora", "RAG + LoRA (fine-tuned to read passages)", None, "#0B6E7F", trains_network=True, early_stops=True,
                  decoder_fit="core.methods.decoder.fits:fit_rag_lora", task_kinds=("classification", "qa"), changes_base_weights=True,
                  retrieves=True,
                  shares_base_model=True, updates_without_training=True,
                  default_with_corpus=True, llm_learning_rate=1e-3, dash="dashdot")
