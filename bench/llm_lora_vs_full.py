"""LoRA against full fine-tuning of the built-in LLM (SmolLM2-135M-Instruct): step time and peak memory.

    python bench/llm_lora_vs_full.py [--batch 16] [--steps 4] [--warmup 1] [--repeats 3]
    python bench/llm_lora_vs_full.py --dry-run       # seconds: batch 2, one step, one repeat

The training step of a run (core/training/sft.py: the loss on the answer tokens, batches cut into
micro-batches by length, bf16 autocast where native, fused AdamW, gradient clipping, the schedule)
on the same batches for both: fortunes texts in the prompt method's chat prompt, the label as the
answer, as `adaptlab demo fortunes --model smollm2` trains. Each model is built as its method builds
it: full = every weight in fp32; LoRA = `core.methods.decoder.fits.with_lora` over the frozen base (bf16
where native). Each measurement runs in a fresh process, so one's memory never shows in the
other's peak; full and LoRA alternate for `--repeats` rounds and the medians count.

Reported: median step time and peak memory of each (on a CPU the process's resident memory, also
net of what the process held before the model loaded; on CUDA the allocator's peak), their ratios,
trainable parameters and tokens per second; on CUDA also MFU (core/training/throughput.py). The same
command gives the GPU figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import decoder_arguments, decoder_context, precision, results_folder, save

GOAL = ("issue 15 sets no number: LoRA's step time and peak memory as ratios of full fine-tuning's at the same "
        "batch (on the ~1B decoder of row 3 the goal is <= 0.55x memory and <= 0.5x step time)")


def training_batches(base, config, batch: int, count: int, seed: int = 0) -> tuple:
    """The run's context, token ids and answer-only labels of fortunes training examples, `count` index batches."""
    import numpy as np

    from core.backbone.prompts import PromptBuilder
    from core.methods.decoder.fits import sft_examples
    from core.task.scenarios import build_scenario
    from core.training.sft import encode_examples

    task = build_scenario("fortunes")
    ctx = decoder_context(base, config, "classification", task.labels)
    rng = np.random.default_rng(seed)
    chosen = task.train.iloc[rng.permutation(len(task.train))[:batch * count]]
    prompts = PromptBuilder(ctx.base.tokenizer, ctx.base.max_length - ctx.config.llm.max_new_tokens)
    examples = sft_examples(ctx, prompts, zip(chosen.text, chosen.label, [""] * len(chosen)))
    ids, labels = encode_examples(ctx.base.tokenizer, examples, ctx.base.max_length, prompts.answer_suffix())
    return ctx, ids, labels, [np.arange(i * batch, (i + 1) * batch) for i in range(count)]


def memory_now(device) -> float:
    """Megabytes held before the model loads: process RSS on a CPU, allocated CUDA memory on a GPU."""
    import os

    import psutil
    import torch

    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def measure(kind: str, model_name: str, batch: int, steps: int, warmup: int, max_length: int | None) -> dict:
    """One fresh process: build the model as the method does, take warmup + steps training steps, time them."""
    import numpy as np
    import torch
    from transformers import get_linear_schedule_with_warmup

    from core.backbone.models import BaseModel
    from core.config import parse_config
    from core.evaluation.measure import track_peak_memory
    from core.methods.decoder.fits import frozen_dtype, with_lora
    from core.training.loop import MicroBatchStepper, _optimizer
    from core.training.sft import right_padded
    from core.training.throughput import throughput

    config = parse_config({"name": "bench-llm-lora-vs-full", "task": {"builtin": "fortunes"},
                           "model": {"name": model_name, **({"max_length": max_length} if max_length else {})},
                           "training": {"batch_size": batch}})
    base = BaseModel.from_spec(config.model)
    base.max_length = config.llm.context_length  # as a run sets it: prompt plus answer
    ctx, ids, labels, batches = training_batches(base, config, batch, warmup + steps)
    settings = config.training
    before = memory_now(base.device)
    with track_peak_memory(base.device) as peak:
        if kind == "lora":
            model = with_lora(ctx, base.causal_lm(dtype=frozen_dtype(ctx)))
        else:
            model = base.causal_lm()
        model.to(base.device).train()
        optimizer = _optimizer(model, ctx.learning_rate(kind), settings.weight_decay, base.device)
        schedule = get_linear_schedule_with_warmup(optimizer, 0, warmup + steps)
        stepper = MicroBatchStepper(model, base, ids, None, batch,
                                    collate=lambda chunk: right_padded(base.tokenizer, [ids[i] for i in chunk],
                                                                       [labels[i] for i in chunk]))
        times, counted = [], None
        for step, batch_idx in enumerate(batches):
            if step == warmup:  # throughput counts the timed steps only
                counted = (stepper.tokens, stepper.padded_tokens, stepper.sequences)
            if base.device.type == "cuda":
                torch.cuda.synchronize()
            tick = time.perf_counter()
            stepper.step(batch_idx)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            if base.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - tick)
    timed = times[warmup:]
    rates = throughput(model, base, stepper.tokens - counted[0], stepper.padded_tokens - counted[1],
                       stepper.sequences - counted[2], sum(timed))
    # on the CPU the peak is the rise over the resident memory at the block's start: add it back for the process's
    # highest resident memory (on CUDA the baseline is 0 and the allocator's peak is whole)
    highest = peak.megabytes + peak.baseline_megabytes
    return {"median_step_seconds": statistics.median(timed), "step_seconds": timed,
            "peak_memory_mb": highest, "memory_before_model_mb": before,
            "training_memory_mb": highest - before, "memory_kind": peak.kind,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "parameters": sum(p.numel() for p in model.parameters()),
            "mean_tokens_per_example": float(np.mean([len(row) for row in ids])),
            "micro_batches_per_step": stepper.record().get("micro_batches_per_step"),
            "tokens_per_second": rates["tokens_per_second"], "mfu": rates["mfu"],
            "achieved_tflops": rates.get("achieved_tflops"),
            "precision": precision(base.device, base.autocast_dtype), "device": str(base.device)}


def in_fresh_process(kind: str, args) -> dict:
    """Run `measure` in a new interpreter: resident memory only grows, so one process per measurement."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, kind, args.model, args.batch, args.steps, args.warmup, args.max_length).result()


def summary(runs: list[dict]) -> dict:
    """Medians over the repeats, and the first repeat's facts that do not vary."""
    first = runs[0]
    return {"median_step_seconds": statistics.median(r["median_step_seconds"] for r in runs),
            "peak_memory_mb": statistics.median(r["peak_memory_mb"] for r in runs),
            "training_memory_mb": statistics.median(r["training_memory_mb"] for r in runs),
            "tokens_per_second": _median([r["tokens_per_second"] for r in runs]),
            "mfu": _median([r["mfu"] for r in runs]),
            "achieved_tflops": _median([r["achieved_tflops"] for r in runs]),
            "step_seconds_per_repeat": [r["median_step_seconds"] for r in runs],
            **{key: first[key] for key in ("trainable_parameters", "parameters", "memory_kind",
                                           "micro_batches_per_step", "mean_tokens_per_example", "precision", "device")}}


def _median(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="examples per step (training.batch_size's default)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (allocation, kernel selection)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of full then LoRA, each in fresh processes")
    parser.add_argument("--max-length", type=int, default=None, help="model.max_length: the text's tokens in a "
                                                                     "prompt (default the config's, 128)")
    decoder_arguments(parser, "batch 2, one warm-up and one timed step, one repeat, texts cut to 32 tokens")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.batch, args.steps, args.warmup, args.repeats, args.max_length = 2, 1, 1, 1, 32
    folder = results_folder(args)
    runs = {"full": [], "lora": []}
    for _ in range(args.repeats):
        for kind in runs:
            runs[kind].append(in_fresh_process(kind, args))
    full, lora = summary(runs["full"]), summary(runs["lora"])
    command = (f"python bench/llm_lora_vs_full.py --batch {args.batch} --steps {args.steps} --warmup {args.warmup} "
               f"--repeats {args.repeats}" + (f" --max-length {args.max_length}" if args.max_length else "")
               + (f" --model {args.model}" if args.model != "smollm2" else "") + (" --dry-run" if args.dry_run else ""))
    save("llm_lora_vs_full", command, GOAL,
         {"batch": args.batch, "full": full, "lora": lora,
          "step_time_ratio": lora["median_step_seconds"] / full["median_step_seconds"],
          "peak_memory_ratio": lora["peak_memory_mb"] / full["peak_memory_mb"],
          "training_memory_ratio": lora["training_memory_mb"] / full["training_memory_mb"]},
         folder=folder,
         notes="same batches for both (fortunes, the prompt method's chat prompt, the label as answer); LoRA as "
               "config.lora sets it (all linear projections by default) over a bf16 frozen base where bf16 is "
               "native, full in fp32 under bf16 autocast; AdamW fused; medians of the timed steps, then of the "
               "repeats; each measurement in its own process; training_memory = peak minus the process's memory "
               "before the model loaded")


if __name__ == "__main__":
    main()
