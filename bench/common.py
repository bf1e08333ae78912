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
# where records go; bench/gpu.py --dry-run points its children elsewhere, so a smoke run never replaces a figure
RESULTS = Path(os.environ.get("ADAPTLAB_BENCH_RESULTS") or ROOT / "bench" / "results")


def machine() -> dict:
    import psutil
    import torch

    info = {"cpu_cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": "cpu", "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    from core.backbone.models import native_bf16, pick_device

    # the precision adaptlab computes in here by default (`precision: auto`): bf16 autocast where bf16 is native
    info["precision"] = "bf16 autocast" if native_bf16(pick_device("auto")) else "fp32 (no native bf16)"
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


def timed_grid(config: dict, what: str) -> tuple[float, object]:
    """Run the grid of `config` (a config mapping) in a fresh ADAPTLAB_HOME and store, timed from the first run's
    start to the last run's end; stops the benchmark when a run fails (`what` names the side in that message)."""
    import tempfile

    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    home = tempfile.mkdtemp(prefix=f"{config['name']}-")
    os.environ["ADAPTLAB_HOME"] = home
    parsed = parse_config(config)
    with timed() as t:
        result = run_experiment(parsed, SqlStore(os.path.join(home, "r.db")))
    if result.failed:
        raise SystemExit(f"{result.failed} run(s) failed with {what}")
    return t(), result.runs


def save(name: str, command: str, goal: str, figures: dict, notes: str = "", folder: Path = RESULTS,
         machine_changes: dict | None = None) -> Path:
    """Write one benchmark's record: figures, the command that produced them, machine and date.

    folder: bench/results; a dry run writes elsewhere, so a smoke test never replaces a measured figure.
    machine_changes: what the run changed about this machine (an emulated CPU capability, say)."""
    folder.mkdir(parents=True, exist_ok=True)
    hardware = {**machine(), **(machine_changes or {})}
    suffix = "gpu" if hardware["device"] != "cpu" else "cpu"
    record = {"name": name, "command": command, "goal": goal, "date": dt.date.today().isoformat(),
              "machine": hardware, "figures": figures, "notes": notes}
    path = folder / f"{name}-{suffix}.json"
    path.write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    print(json.dumps(record, indent=2, default=float))
    return path


def merged(config: dict, changes: dict) -> dict:
    """`config` with `changes` laid over it, section by section."""
    out = dict(config)
    for key, value in changes.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def decoder_arguments(parser, dry_run_does: str) -> None:
    """What the decoder benchmarks share: which LLM, a dry run that shrinks everything, where the record goes."""
    parser.add_argument("--model", default="smollm2",
                        help="the decoder: smollm2 (built in), or a local causal-LM folder (the tests use a tiny one)")
    parser.add_argument("--dry-run", action="store_true", help=f"a smoke run in seconds: {dry_run_does}; its "
                        "record goes to a temporary folder unless --results says where")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder for the record (default bench/results; a dry run: a temporary folder)")


def results_folder(args) -> Path:
    """bench/results for a real run; a dry run never replaces a measured record."""
    if args.results is not None:
        return args.results
    if args.dry_run:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="bench-dry-run-"))
    return RESULTS


def precision(device, autocast_dtype) -> dict:
    """What the arithmetic ran in: the CPU's vector capability, whether bf16 is native, the autocast dtype."""
    import torch

    from core.backbone.models import native_bf16

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16(device),
            "autocast": str(autocast_dtype).removeprefix("torch.") if autocast_dtype else "off"}


def decoder_context(base, config, kind: str = "classification", labels: list[str] = ()):
    """A FitContext with no training data, for calling a decoder method's pieces as a run of the grid calls them."""
    import numpy as np

    from core.methods.base import FitContext

    empty = np.zeros(0, dtype=int)
    return FitContext(labels=list(labels), train_texts=[], train_labels=empty, val_texts=[], val_labels=empty,
                      corpus=None, base=base, embedder=None, config=config, seed=0, kind=kind)
