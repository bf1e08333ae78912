"""QLoRA: LoRA adapters over the base model quantised to 4 bits (NF4, bitsandbytes), on a CUDA GPU only.

It trades a little accuracy for about a quarter of the base model's memory. Without CUDA the run is
refused in one sentence before the grid starts (its spec's check_machine). Decoder LLMs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.methods.base import FitContext, MethodSpec

if TYPE_CHECKING:
    from core.methods.decoder.predictors import DecoderPredictor


# NF4 with double quantisation, computing in bf16 (QLoRA's recipe); an export's load.py loads its base the same way
QUANTIZATION = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}


def require_cuda_4bit() -> None:
    """QLoRA needs a CUDA GPU and bitsandbytes: refuse in one sentence otherwise, before anything trains."""
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("qlora quantises the base model to 4 bits with bitsandbytes, which needs a CUDA GPU; "
                          "none is visible here, so drop qlora from methods (lora is the same recipe in full "
                          "precision)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError("qlora needs the bitsandbytes package: pip install bitsandbytes") from None


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    require_cuda_4bit()
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, set_seed

    from core.methods.decoder.fits import supervised, with_lora

    set_seed(ctx.seed)
    quantization = BitsAndBytesConfig(**QUANTIZATION, bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(ctx.base.path, quantization_config=quantization,
                                                 use_safetensors=True, trust_remote_code=False,
                                                 device_map={"": ctx.base.device.index or 0})
    model = prepare_model_for_kbit_training(model)
    return supervised(ctx, with_lora(ctx, model), "qlora")


SPEC = MethodSpec("qlora", "QLoRA (LoRA on a 4-bit base, CUDA)", colour="#6BAED6", fits={"decoder": fit_decoder},
                  learning_rates={"decoder": 1e-3}, task_kinds=("classification", "qa"), needs_cuda=True,
                  check_machine=require_cuda_4bit, trains_network=True, early_stops=True, changes_base_weights=True,
                  shares_base_model=True, search={"learning_rate_x": (0.5, 1.0, 2.0)})
