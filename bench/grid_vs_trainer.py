"""The trained part of a grid: adaptlab against Hugging Face `Trainer` run one job after another.

    python bench/grid_vs_trainer.py [--sizes 8 32 128] [--methods lora full scratch] [--epochs 4] [--seeds 0 1 2]
        [--run adaptlab --reuse bench/results/grid_vs_trainer-cpu.json]   # one side again, the others from a record
        [--validation refit|from_budget|separate]   # where adaptlab's stop is chosen (default: the config's)

Same model (all-MiniLM-L6-v2), data (the fortunes scenario), subsets, epochs, batch size, learning
rates, warmup and weight decay. The peer uses Trainer's documented text-classification set-up
(DataCollatorWithPadding, no evaluation during training, no checkpoints), twice in the same run: at its
defaults (fp32 on a CPU, random batches, PyTorch's AdamW) and at its best documented settings for speed
(`bf16=True` where bf16 is native, `train_sampling_strategy="group_by_length"`, transformers 5's
name for `group_by_length=True`, and `optim="adamw_torch_fused"`). adaptlab's early stopping
is switched off (patience 100): it trains the whole plan and keeps its best-scoring weights; with
`validation: refit` (the default) it then trains again on every example for the best step's count. Its
time includes what it does beyond the peer (validation checks, the refit, latency and size measurements).
Reported: wall time and test accuracy of each, as a ratio. Goals: at least 5x faster on an H100 with accuracy within one
point; at least 1.5x on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from common import save, timed

SIDES = ("adaptlab", "trainer", "trainer-best")  # Trainer at its defaults, and at its best documented settings


def peer_run(method: str, base, texts, labels, test_texts, test_labels, num_labels, lr, epochs, batch, seed,
             best: bool = False) -> float:
    """One Trainer run; best: its documented speed settings (bf16 where native, length-grouped batches, fused AdamW)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from core.backbone.models import native_bf16, pick_device

    set_seed(seed)
    if method == "scratch":
        config = base.config.__class__.from_dict({**base.config.to_dict(), "num_labels": num_labels})
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(base.path, num_labels=num_labels)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1,
                                                 target_modules=["query", "value"]))
    tokenizer = base.tokenizer

    def tokenize(batch_texts, batch_labels):  # a list of feature dicts is a valid Trainer dataset
        encoded = tokenizer(batch_texts, truncation=True, max_length=base.max_length)
        return [{"input_ids": ids, "attention_mask": mask, "labels": label}
                for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], batch_labels)]

    train, test = tokenize(texts, labels), tokenize(test_texts, test_labels)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=batch,
                                 per_device_eval_batch_size=64, learning_rate=lr, warmup_steps=0.1, weight_decay=0.01,
                                 eval_strategy="no", save_strategy="no", report_to="none", seed=seed,
                                 bf16=torch.cuda.is_available() or (best and native_bf16(pick_device("auto"))),
                                 use_cpu=not torch.cuda.is_available(), disable_tqdm=True, logging_strategy="no",
                                 **({"train_sampling_strategy": "group_by_length", "optim": "adamw_torch_fused"}
                                    if best else {}))
        trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
        # scored against the labels predict() hands back: with group_by_length, transformers 5 also groups the test
        # set by length, so its predictions come in another order than the texts went in
        output = trainer.predict(test)
    return float((np.argmax(output.predictions, axis=1) == np.asarray(output.label_ids)).mean())


def reusable(earlier: dict, grid: str, cells: list[str], epochs: int, path) -> bool:
    """Whether `earlier` holds every cell of this grid (at the same epochs; a cell's subset depends only on its size
    and seed, so a larger grid's record holds the same cells); True where it is the very same grid, so its seconds
    hold too. Stops the benchmark, before anything is trained, where a cell or the epochs differ."""
    command = earlier["command"].split()
    if command[command.index("--epochs") + 1] != str(epochs):
        raise SystemExit(f"--reuse {path} trained another number of epochs ({earlier['command']}), not {grid}")
    missing = [key for key in cells if key not in earlier["figures"]["per_run"]]
    if missing:
        raise SystemExit(f"--reuse {path} lacks the cells {', '.join(missing)} ({earlier['command']}); reuse a record "
                         f"of a grid that holds {grid}")
    # the grid's own options, up to the first other one (--validation, --run, ...): "--seeds 0 1" is not "--seeds 0 1 2"
    grid_options = ("--sizes", "--methods", "--epochs", "--seeds")
    end = next((i for i, token in enumerate(command) if token.startswith("--") and token not in grid_options),
               len(command))
    return " ".join(command[:end]) == grid


def ratio(seconds: float | None, ours: float | None) -> float | None:
    """A speed-up, or None where either time is of another grid (reused from a record of a larger one)."""
    return None if seconds is None or ours is None else seconds / ours


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--methods", nargs="+", default=["lora", "full", "scratch"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--validation", choices=("refit", "from_budget", "separate"), default=None,
                        help="adaptlab's `validation:` (default: the config's default); Trainer never validates")
    parser.add_argument("--results", type=Path, default=None, help="folder for the record (default bench/results)")
    parser.add_argument("--run", nargs="+", choices=SIDES, default=list(SIDES),
                        help="the sides measured now (default all three); the others come from --reuse")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier record holding every cell of this grid (the same grid, or a larger one at "
                             "the same epochs), for the sides not in --run (its date is kept in the notes)")
    args = parser.parse_args()
    earlier = json.loads(args.reuse.read_text(encoding="utf-8")) if args.reuse else None
    grid = (f"python bench/grid_vs_trainer.py --sizes {' '.join(map(str, args.sizes))} --methods "
            f"{' '.join(args.methods)} --epochs {args.epochs} --seeds {' '.join(map(str, args.seeds))}")
    command = grid + (f" --validation {args.validation}" if args.validation else "")
    cells = [f"{method}|{size}|{seed}" for seed in args.seeds for size in args.sizes for method in args.methods]
    # checked before anything loads or trains; Trainer's sides do not depend on adaptlab's validation, and its
    # seconds only hold for the very same grid
    same_grid = earlier is not None and reusable(earlier, grid, cells, args.epochs, args.reuse)
    if set(SIDES) - set(args.run) and earlier is None:
        raise SystemExit(f"--run without {', '.join(sorted(set(SIDES) - set(args.run)))} needs --reuse RECORD for it")

    from core.backbone.models import BaseModel
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.grid import subset_indices
    from core.running.runner import run_experiment
    from core.task.scenarios import build_scenario

    config = parse_config({"name": "bench-vs-trainer", "task": {"builtin": "fortunes"}, "methods": args.methods,
                           "sizes": args.sizes, "seeds": args.seeds,
                           "budget": {"max_epochs": args.epochs, "min_steps": 0, "patience": 100}, "forgetting": "off",
                           **({"validation": args.validation} if args.validation else {})})
    if "adaptlab" not in args.run:
        ours_seconds = earlier["figures"]["adaptlab_seconds"] if same_grid else None
        our_accuracy = {key: run["adaptlab_accuracy"] for key, run in earlier["figures"]["per_run"].items()}
    else:
        home = tempfile.mkdtemp(prefix="bench-adaptlab-")
        os.environ["ADAPTLAB_HOME"] = home
        with timed() as ours:
            result = run_experiment(config, SqlStore(os.path.join(home, "r.db")))
        ours_seconds = ours()
        our_accuracy = result.runs.set_index("run_key").accuracy.to_dict()

    task = build_scenario("fortunes")
    labels = task.labels
    index = {label: i for i, label in enumerate(labels)}
    y = task.train.label.map(index).to_numpy()
    test_texts, test_labels = task.test.text.tolist(), task.test.label.map(index).tolist()
    base = BaseModel.load("default", max_length=config.model.max_length)

    def peer_grid(best: bool) -> tuple[float, dict[str, float]]:
        accuracy = {}
        with timed() as theirs:
            for seed in args.seeds:
                for size in args.sizes:
                    chosen = subset_indices(y, size, "per_class", seed)
                    for method in args.methods:
                        accuracy[f"{method}|{size}|{seed}"] = peer_run(
                            method, base, task.train.text.iloc[chosen].tolist(), y[chosen].tolist(), test_texts,
                            test_labels, len(labels), config.training.learning_rates[method], args.epochs,
                            config.training.batch_size, seed, best)
        return theirs(), accuracy

    def reused(side: str, seconds: str) -> tuple[float | None, dict[str, float]]:
        return (earlier["figures"][seconds] if same_grid else None,
                {key: earlier["figures"]["per_run"][key][side] for key in cells})

    defaults_seconds, defaults = peer_grid(best=False) if "trainer" in args.run else \
        reused("trainer_accuracy", "trainer_seconds")
    best_seconds, best = peer_grid(best=True) if "trainer-best" in args.run else \
        reused("trainer_best_accuracy", "trainer_best_seconds")
    runs = {key: {"adaptlab_accuracy": float(our_accuracy[key]), "trainer_accuracy": defaults[key],
                  "trainer_best_accuracy": best[key]} for key in cells}

    def gap(side: str) -> float:  # mean over cells of each cell's mean over seeds: points adaptlab is ahead
        return float(np.mean([r["adaptlab_accuracy"] - r[side] for r in runs.values()])) * 100

    kept = [side for side in SIDES if side not in args.run]
    rerun = "" if not kept else f" --run {' '.join(args.run)} --reuse {args.reuse}"
    save("grid_vs_trainer", command + rerun + (f" --results {args.results}" if args.results else ""),
         "adaptlab >= 5x faster than Trainer at its best on an H100 (accuracy within 1 point); >= 1.5x on the 2-core "
         "CPU",
         {"runs": len(runs), "seeds": args.seeds, "adaptlab_seconds": ours_seconds,
          "trainer_seconds": defaults_seconds, "trainer_best_seconds": best_seconds,
          "speedup": ratio(defaults_seconds, ours_seconds), "speedup_vs_best": ratio(best_seconds, ours_seconds),
          "mean_accuracy_gap_points": gap("trainer_accuracy"),
          "mean_accuracy_gap_vs_best_points": gap("trainer_best_accuracy"), "per_run": runs},
         notes="same subsets, epochs, batch 16, learning rates, warmup 0.1, weight decay 0.01; adaptlab early "
               f"stopping off; adaptlab's validation: {config.validation}; its time includes its validation checks, "
               "the refit where it refits, latency and size measurements; "
               "Trainer at its best: bf16 where native, group_by_length, adamw_torch_fused"
               + ("" if not kept else f"; {', '.join(kept)} from the record of {earlier['date']} "
                  f"({'the same grid' if same_grid else 'its cells of a larger grid: ' + earlier['command']}), "
                  f"{', '.join(args.run)} measured now"),
         **({"folder": args.results} if args.results else {}))


if __name__ == "__main__":
    main()
