"""QLoRA: LoRA adapters over the base model quantised to 4 bits (NF4, bitsandbytes), on a CUDA GPU only.

It trades a little accuracy for about a quarter of the base model's memory. Without CUDA the run is
refused in one sentence before the grid starts. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec
from core.methods.decoder.fits import fit_qlora

SPEC = MethodSpec("qlora", "QLoRA (LoRA on a 4-bit base, CUDA)", None, trains_network=True, decoder_fit=fit_qlora,
                  task_kinds=("classification", "qa"), changes_base_weights=True,
                  shares_base_model=True)
