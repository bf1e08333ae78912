"""What differs between model families, in one place: LoRA targets, pooling, padding, prompting.

Encoders (the BERT family) are supported end to end today. Decoder LLMs get a profile here too, so
adding one is a table row, not a change to every method.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchitectureProfile:
    family: str  # "encoder" or "decoder"
    lora_targets: tuple[str, ...]  # module names peft wraps by default
    pooling: str  # "mean" over tokens (encoders), or "last" token (decoders, which read left to right)
    padding_side: str = "right"
    prompt_template: str = "{text}"  # how an input is framed before embedding (decoders want an instruction)


_ENCODER_QV = ArchitectureProfile("encoder", ("query", "value"), "mean")
_DECODER_QV = ArchitectureProfile(
    "decoder", ("q_proj", "v_proj"), "last", padding_side="left",
    prompt_template='This text: "{text}" means in one word:',
)

PROFILES: dict[str, ArchitectureProfile] = {
    "bert": _ENCODER_QV,
    "roberta": _ENCODER_QV,
    "xlm-roberta": _ENCODER_QV,
    "electra": _ENCODER_QV,
    "camembert": _ENCODER_QV,
    "distilbert": ArchitectureProfile("encoder", ("q_lin", "v_lin"), "mean"),
    "deberta-v2": ArchitectureProfile("encoder", ("query_proj", "value_proj"), "mean"),
    "mpnet": ArchitectureProfile("encoder", ("q", "v"), "mean"),
    "modernbert": ArchitectureProfile("encoder", ("Wqkv",), "mean"),
    "llama": _DECODER_QV,
    "mistral": _DECODER_QV,
    "qwen2": _DECODER_QV,
    "qwen3": _DECODER_QV,
    "gemma": _DECODER_QV,
    "phi3": ArchitectureProfile("decoder", ("qkv_proj",), "last", padding_side="left",
                                prompt_template=_DECODER_QV.prompt_template),
    "gpt2": ArchitectureProfile("decoder", ("c_attn",), "last", padding_side="left",
                                prompt_template=_DECODER_QV.prompt_template),
}


def profile_for(model_type: str) -> ArchitectureProfile:
    """The profile for a transformers `model_type`; unknown types fail with the supported list."""
    try:
        return PROFILES[model_type]
    except KeyError:
        from core.errors import ModelLoadError

        raise ModelLoadError(
            f"model type '{model_type}' has no architecture profile yet; supported: {sorted(PROFILES)}. "
            "Add a row to PROFILES in core/backbone/architectures.py with its LoRA target modules and pooling"
        ) from None
