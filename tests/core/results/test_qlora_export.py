"""An exported QLoRA option's load.py where it cannot load its base in 4 bits (no CUDA or no bitsandbytes): one
sentence saying what it needs, not a stack of bitsandbytes errors. Whether it answers as its run did needs a GPU:
bench/qlora_export.py checks that in bench/gpu.py's run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_a_qlora_export_without_cuda_says_what_it_needs_in_one_sentence(tmp_path):
    import torch

    from core.methods.qlora import QUANTIZATION

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: the 4-bit base loads, which bench/qlora_export.py checks")
    folder = tmp_path / "qlora"
    folder.mkdir()
    shutil.copy2(Path("core/results/decoder_load.py").resolve(), folder / "load.py")
    # what core/results/decoder_export.py writes for a qlora run (the base need not exist: the refusal comes first)
    (folder / "adaptlab.json").write_text(json.dumps({
        "base_model": str(tmp_path / "base"), "weights": "adapter", "precision": "bf16", "quantization": QUANTIZATION,
        "labels": ["a", "b"], "kind": "classification"}), encoding="utf-8")
    script = "import runpy, sys; sys.modules['core'] = None; runpy.run_path(sys.argv[1])['load']()"
    done = subprocess.run([sys.executable, "-I", "-c", script, str(folder / "load.py")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                                          "HOME": str(tmp_path)})
    said = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0
    assert said == ("RuntimeError: this QLoRA option answers with its base model loaded in 4 bits by bitsandbytes, "
                    "which needs a CUDA GPU and the bitsandbytes package (pip install bitsandbytes); run it where "
                    "both are")
