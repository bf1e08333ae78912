"""QLoRA: LoRA adapters over the base model quantised to 4 bits (NF4, bitsandbytes), on a CUDA GPU only.

It trades a little accuracy for about a quarter of the base model's memory. Without CUDA the run is
refused in one sentence before the grid starts. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec

SPEC = MethodSpec("qlora", "QLoRA (LoRA on a 4-bit base, CUDA)", None, "#6BAED6", trains_network=True, early_stops=True,
                  decoder_fit="core.methods.decoder.fits:fit_qlora",
                  task_kinds=("classification", "qa"), changes_base_weights=True,
                  shares_base_model=True, llm_learning_rate=1e-3)
