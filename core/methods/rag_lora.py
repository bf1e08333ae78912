"""RAG + LoRA: LoRA trained on prompts that carry what retrieval finds (distractors included), then used with
retrieval: the blend the field recommends for knowledge-heavy tasks. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec
from core.methods.decoder.fits import fit_rag_lora

SPEC = MethodSpec("rag_lora", "RAG + LoRA (fine-tuned to read passages)", None, trains_network=True,
                  decoder_fit=fit_rag_lora, task_kinds=("classification", "qa"), changes_base_weights=True,
                  retrieves=True,
                  shares_base_model=True, updates_without_training=True)
