"""What every benchmark shares: the machine description, and one JSON record per benchmark run.

Each script compares adaptlab with what a user would run instead, in the same process and on the
same data, and saves bench/results/<name>.json; `python bench/report.py` writes docs/BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    import psutil
    import torch

    info = {"cpu_cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


@contextmanager
def timed():
    """`with timed() as t: ...; t()` seconds, synchronising CUDA at both ends."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    end = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    end.append(time.perf_counter())


def save(name: str, command: str, goal: str, figures: dict, notes: str = "") -> Path:
    """Write one benchmark's record: figures, the command that produced them, machine and date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    hardware = machine()
    suffix = "gpu" if hardware["device"] != "cpu" else "cpu"
    record = {"name": name, "command": command, "goal": goal, "date": dt.date.today().isoformat(),
              "machine": hardware, "figures": figures, "notes": notes}
    path = RESULTS / f"{name}-{suffix}.json"
    path.write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    print(json.dumps(record, indent=2, default=float))
    return path
