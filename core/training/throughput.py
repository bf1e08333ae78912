"""Training throughput and model FLOPs utilisation (MFU), recorded with every trained run.

FLOPs per token follow the usual accounting (Kaplan et al. 2020; PaLM, appendix B):
6 x non-embedding parameters (forward + backward matmuls) plus an attention term,
12 x layers x hidden size x sequence length (the QK^T and AV products, forward + backward).
MFU = achieved FLOPs per second / the device's peak dense bf16 rate.
"""

from __future__ import annotations

import torch

# Peak dense bf16 FLOP/s by GPU name fragment (vendor data sheets; no sparsity).
PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card is 756e12 and reads "H100 PCIe"
    "H100 PCIe": 756e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
}


def peak_flops(device: torch.device, name: str) -> float | None:
    """The device's peak dense bf16 rate, or None where it is not known (CPUs, unlisted GPUs)."""
    if device.type != "cuda":
        return None
    matches = [key for key in PEAK_BF16 if key.lower() in name.lower()]
    return PEAK_BF16[max(matches, key=len)] if matches else None  # longest match: "H100 PCIe" beats "H100"


def non_embedding_parameters(model: torch.nn.Module) -> int:
    embedding_ids = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embedding_ids)


def flops_per_token(non_embedding: int, layers: int, hidden: int, sequence_length: float) -> float:
    return 6 * non_embedding + 12 * layers * hidden * sequence_length


def throughput(model: torch.nn.Module, base, tokens: int, padded_tokens: int, sequences: int,
               seconds: float) -> dict:
    """Tokens per second and MFU for a finished training loop.

    tokens: real tokens trained on; padded_tokens: what the device computed on (batches are padded),
    which is the work MFU counts; sequences: examples seen, for the mean padded length."""
    if seconds <= 0 or tokens == 0 or sequences == 0:
        return {"tokens_per_second": None, "mfu": None}
    config = base.config
    per_token = flops_per_token(non_embedding_parameters(model), getattr(config, "num_hidden_layers", 0),
                                getattr(config, "hidden_size", 0), padded_tokens / sequences)
    achieved = per_token * padded_tokens / seconds
    peak = peak_flops(base.device, torch.cuda.get_device_name(base.device) if base.device.type == "cuda" else "")
    return {"tokens_per_second": tokens / seconds, "padded_tokens_per_second": padded_tokens / seconds,
            "flops_per_token": per_token, "train_flops": per_token * padded_tokens, "achieved_tflops": achieved / 1e12,
            "mfu": achieved / peak if peak else None}
