"""Model FLOPs utilisation of one full fine-tuning run of the default model (for a GPU).

    python bench/mfu.py [--per-class 128] [--batch 64]

Runs the engine's own training loop (full fine-tune, fortunes, one seed) and reports the MFU and
tokens per second it records (core/training/throughput.py). Goal on an H100: at least 10% single.
On a CPU there is no peak rate to divide by, so only throughput is reported.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from common import save


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    home = tempfile.mkdtemp(prefix="bench-mfu-")
    os.environ["ADAPTLAB_HOME"] = home
    config = parse_config({"name": "bench-mfu", "task": {"builtin": "fortunes"}, "methods": ["full"],
                           "sizes": [args.per_class], "seeds": [0], "training": {"batch_size": args.batch},
                           "budget": {"max_epochs": args.epochs, "min_steps": 0, "patience": 100}})
    record = run_experiment(config, SqlStore(os.path.join(home, "r.db"))).runs.record.iloc[0]
    details = record["details"]
    save("mfu", f"python bench/mfu.py --per-class {args.per_class} --batch {args.batch} --epochs {args.epochs}",
         "MFU >= 10% for one run on an H100 (>= 25% with packed runs)",
         {key: details.get(key) for key in ("mfu", "tokens_per_second", "padded_tokens_per_second", "achieved_tflops",
                                            "flops_per_token", "steps", "micro_batch_size")}
         | {"train_seconds": record["train_seconds"], "accuracy": record["accuracy"]})


if __name__ == "__main__":
    main()
