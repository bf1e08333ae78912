"""Does an exported QLoRA option answer as its run did? A tiny QLoRA grid on the GPU, exported, and its load.py run in
a fresh process that cannot import adaptlab (the base loaded in 4 bits there too), compared with the stored answers.

    python bench/qlora_export.py                 # on a CUDA GPU with bitsandbytes: qlora, its base in 4 bits
    python bench/qlora_export.py --dry-run       # anywhere: lora (QLoRA's recipe without the 4-bit base), toy sizes

QLoRA runs on CUDA only (core/methods/qlora.py), so the CPU tests cannot check its export; bench/gpu.py runs this
step on the GPU. Without CUDA it exports lora instead, by the same path, and says so in its record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import decoder_arguments, results_folder, save, timed_grid

GOAL = "an exported QLoRA option's load.py, without adaptlab, answers the test set exactly as the run did"
# the exported folder's predict() with adaptlab unimportable (the test suite's way: tests/core/results)
LOADER = """
import json, runpy, sys
sys.modules["core"] = None
print(json.dumps(runpy.run_path(sys.argv[1])["predict"](json.load(open(sys.argv[2])))))
"""


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8, help="training examples per class")
    decoder_arguments(parser, "one epoch on 4 examples per class of 16 fortunes, lora where there is no CUDA")
    args = parser.parse_args(argv)
    method = "qlora" if torch.cuda.is_available() else "lora"
    size = 4 if args.dry_run else args.size
    config = {"name": "qlora-export", "model": {"name": args.model, "max_length": 48}, "methods": [method],
              "task": {"builtin": "fortunes", "builtin_options": {"per_class": 16 if args.dry_run else 40}},
              "sizes": [size], "seeds": [0], "budget": {"max_epochs": 1, "min_steps": 2},
              "training": {"batch_size": 8}, "keep_artifacts": True, "forgetting": "off",
              "llm": {"context_length": 256, "max_new_tokens": 4}}
    seconds, _ = timed_grid(config, f"{method} on {args.model}")
    answered, expected = exported_answers(config, method, size)
    same = sum(a == e for a, e in zip(answered, expected))
    figures = {"method": method, "test_texts": len(expected), "same_answers": same,
               "reproduced": answered == expected, "grid_seconds": seconds}
    command = ("python bench/qlora_export.py" + (f" --model {args.model}" if args.model != "smollm2" else "")
               + (" --dry-run" if args.dry_run else ""))
    save("qlora_export", command, GOAL, figures, folder=results_folder(args),
         notes="" if method == "qlora" else "no CUDA here: lora exported by the same path (QLoRA needs a GPU)")
    if answered != expected:
        raise SystemExit(f"the exported {method} option answered {len(expected) - same} of {len(expected)} test "
                         "texts differently from its run")


def exported_answers(config: dict, method: str, size: int) -> tuple[list[str], list[str]]:
    """(what the exported load.py answers in a fresh process, what the run stored)."""
    from core.config import parse_config
    from core.results.artifact_export import export_option
    from core.results.store import SqlStore
    from core.task.load import load_task

    home = Path(os.environ["ADAPTLAB_HOME"])
    store = SqlStore(home / "r.db")
    result = export_option(store, "qlora-export", f"{method}@{size}", home / "exported")
    experiment = store.experiment("qlora-export")
    texts = load_task(parse_config(config).task, "qlora-export").test.text.tolist()
    run = store.runs_frame("qlora-export", with_predictions=True).set_index("run_key").loc[result.run_key]
    expected = [experiment["labels"][i] for i in run.predictions]
    listed = home / "texts.json"
    listed.write_text(json.dumps(texts), encoding="utf-8")
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != Path(root)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as elsewhere:  # not the checkout: `core` must not be importable
        done = subprocess.run([sys.executable, "-c", LOADER, str(result.folder / "load.py"), str(listed)],
                              capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the exported load.py failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), expected


if __name__ == "__main__":
    main()
