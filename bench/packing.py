"""Packing: the same trained grid one run at a time, then N runs at once on the same device.

    python bench/packing.py [--parallel 4] [--sizes 32 128] [--seeds 0 1] [--methods lora full scratch]

The peer is adaptlab itself without packing (`parallel_runs: 1`), which is how Hugging Face
`Trainer` runs a grid too: one job after another. Same config, same fresh store for each side.
Reported: the grid's wall time each way (the ratio is the packing gain), mean test accuracy each
way (packing must not change what a run learns), and the grid-level model FLOPs utilisation: all
training FLOPs of the grid over its wall time and the device's peak bf16 rate (GPU only).
Goal on an H100: MFU at least 25% with packed runs (bench/mfu.py measures one run alone).
"""

from __future__ import annotations

import argparse
import os

from common import save, timed_grid


def grid(args, parallel: int) -> tuple[float, object]:
    return timed_grid({"name": f"bench-packing-{parallel}", "task": {"builtin": "fortunes"},
                       "methods": args.methods, "sizes": args.sizes, "seeds": args.seeds,
                       "budget": {"max_epochs": args.epochs, "min_steps": 0, "patience": 100},
                       "forgetting": "off", "parallel_runs": parallel}, f"parallel_runs {parallel}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--methods", nargs="+", default=["lora", "full", "scratch"])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    import torch

    from core.backbone.models import device_name, pick_device
    from core.training.throughput import peak_flops

    alone_seconds, alone = grid(args, 1)
    packed_seconds, packed = grid(args, args.parallel)
    device = pick_device("auto")
    peak = peak_flops(device, device_name(device)) if device.type == "cuda" else None

    def utilisation(runs, seconds: float) -> dict:
        flops = sum(record["details"].get("train_flops") or 0 for record in runs.record)
        return {"achieved_tflops": flops / seconds / 1e12, "mfu": flops / seconds / peak if peak else None}

    save("packing",
         f"python bench/packing.py --parallel {args.parallel} --sizes {' '.join(map(str, args.sizes))} "
         f"--seeds {' '.join(map(str, args.seeds))} --methods {' '.join(args.methods)} --epochs {args.epochs}",
         "packed runs: a shorter grid with the same accuracy; on an H100 grid-level MFU >= 25%",
         {"runs": len(packed), "parallel_runs": args.parallel, "one_at_a_time_seconds": alone_seconds,
          "packed_seconds": packed_seconds, "speedup": alone_seconds / packed_seconds,
          "one_at_a_time_accuracy": float(alone.accuracy.mean()), "packed_accuracy": float(packed.accuracy.mean()),
          "one_at_a_time": utilisation(alone, alone_seconds), "packed": utilisation(packed, packed_seconds),
          "threads_per_process": max(1, (os.cpu_count() or 1) // args.parallel) if device.type == "cpu" else None,
          "torch_threads_alone": torch.get_num_threads()},
         notes="same config both ways (early stopping off, so both train the same steps); fresh store each; "
               "grid MFU = all training FLOPs / grid wall time / peak bf16")


if __name__ == "__main__":
    main()
