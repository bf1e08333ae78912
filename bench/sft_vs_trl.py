"""Supervised fine-tuning of the built-in LLM: adaptlab's LoRA against TRL's `SFTTrainer`, same data and budget.

    python bench/sft_vs_trl.py [--sizes 8 32] [--seeds 0] [--test 100] [--steps 12 --batch 4 --max-length 32]
    python bench/sft_vs_trl.py --dry-run [--model tests/tiny-llama-folder]   # seconds: 2 per class, 3 steps

Fortunes classified by SmolLM2-135M-Instruct (loaded from its GGUF as adaptlab loads it), each text a chat prompt
with the `lora` method's instruction as the system turn and the label as the answer: the training subset of
`adaptlab demo fortunes --model smollm2` at each size and seed. Three sides train LoRA on it, in turn (the side
that goes first rotates from cell to cell, so no side always meets a cold or a warm machine):

- adaptlab: `core.methods.lora.fit_decoder`'s path (`with_lora`, then `supervised`: packed rows, loss on the
  answer tokens, core/training/loop.py) for exactly the budget's steps on every example (the refit's mode, so
  nothing is held out and nothing early-stops: the same examples and steps as the peer);
- TRL at its defaults: `SFTTrainer` on a conversational prompt-completion dataset (its chat template applied by
  TRL; the loss on the completion only, TRL's default for such a dataset), `peft_config` the same LoRA;
- TRL at its best documented settings for speed on this job: gradient checkpointing off (TRL turns it on by default
  to save memory; a 135M model needs none of that), `optim="adamw_torch_fused"`, and batches grouped by length
  (`train_sampling_strategy="group_by_length"`), or `padding_free=True` where the model runs FlashAttention (TRL
  documents padding-free for FlashAttention only; under sdpa, the CPU's attention, it lets each example attend to
  the ones before it in the batch). Packing is left out: it would put more examples in a step than the budget's
  batch.

The same budget for all: steps (adaptlab's plan for the subset, max_epochs 6 and at least 50 steps, or --steps),
batch 16 (or --batch; on 2 shared cores the plan's 51 steps of 16 take each side half an hour), learning rate 1e-3
(adaptlab's default for LoRA on an LLM; TRL's own default, 2e-5, is a full-fine-tuning rate), linear warmup 0.1 then
decay, weight decay 0.01, clipping 1.0, LoRA r 8, alpha 16, dropout 0.1, every linear layer, the seed. Precision:
bf16 where the CPU has it natively, else fp32 for every side (TRL's default `bf16=True` would emulate bf16 on an
AVX2-only CPU, a precision choice and not the method's). Each trained model is then decoded through one path,
adaptlab's `DecoderPredictor` (greedy, the same prompts, stop tokens and max_new_tokens), so only the training
differs: answer match is the share of test texts whose generated answer names the right label; the label's
likelihood accuracy is beside it. Train time counts the LoRA wrapping, the data preparation and the steps of each
side (not the model load, not the decoding).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile

import numpy as np
from common import decoder_arguments, decoder_context, results_folder, save, timed

SIDES = ("adaptlab", "trl", "trl-best")
GOAL = ("issue 27: answer match within 1 point of TRL's SFTTrainer on the same data and budget, and the train-time "
        "ratio")


def setup(model: str, dry_run: bool, batch: int | None = None, max_length: int | None = None, load: bool = True):
    """The config (the demo's, lora only, at `batch` and `max_length` where given), the base model as a run sets it
    up (None unless `load`), the task."""
    from core.backbone.models import BaseModel
    from core.config import parse_config
    from core.task.scenarios import build_scenario

    config = parse_config({"name": "bench-sft-vs-trl", "task": {"builtin": "fortunes"}, "methods": ["lora"],
                           "model": {"name": model, **({"max_length": 32} if dry_run else
                                                       {"max_length": max_length} if max_length else {})},
                           # a dry run: a few steps (not the budget's 50) of small batches, short answers
                           **({"llm": {"max_new_tokens": 4}, "training": {"batch_size": 4},
                               "budget": {"max_epochs": 1, "min_steps": 3}} if dry_run else
                              {"training": {"batch_size": batch}} if batch else {})})
    if not load:
        return config, None, build_scenario("fortunes")
    base = BaseModel.from_spec(config.model)
    base.max_length = config.llm.context_length  # as a run sets it: prompt plus answer
    return config, base, build_scenario("fortunes")


def run_context(base, config, labels, texts, classes, seed: int, steps: int):
    """The FitContext a run of the grid builds for this subset, in the refit's mode: exactly `steps` steps on every
    example, nothing held out (the validation split a grid run would also hold is not used by a fixed-step fit)."""
    ctx = decoder_context(base, config, "classification", labels)
    ctx.train_texts, ctx.train_labels, ctx.seed, ctx.refit_steps = list(texts), np.asarray(classes), seed, steps
    return ctx


def adaptlab_fit(ctx):
    """adaptlab's own decoder LoRA fit, as `core.methods.lora.fit_decoder` runs it; returns (seconds, model, facts)."""
    from transformers import set_seed

    from core.methods.decoder.fits import frozen_dtype, supervised, with_lora

    set_seed(ctx.seed)
    model = ctx.base.causal_lm(dtype=frozen_dtype(ctx))
    with timed() as seconds:
        fitted = supervised(ctx, with_lora(ctx, model), "lora")
    facts = {key: fitted.details.get(key) for key in ("steps", "batching", "padding_efficiency")}
    return seconds(), fitted.lm.model, {**facts, "final_loss": fitted.details["losses"][-1]}


def trl_dataset(ctx):
    """The training subset as TRL's conversational prompt-completion rows: the system instruction and the (cut)
    text as the prompt, the label as the assistant's completion."""
    from datasets import Dataset

    from core.backbone.prompts import shorten, user_turn
    from core.methods.decoder.fits import instruction

    told = instruction(ctx)
    texts = shorten(ctx.base.tokenizer, ctx.train_texts, ctx.config.model.max_length)  # as sft_examples cuts them
    return Dataset.from_list([{"prompt": [{"role": "system", "content": told},
                                          {"role": "user", "content": user_turn(text, [], "")}],
                               "completion": [{"role": "assistant", "content": ctx.labels[label]}]}
                              for text, label in zip(texts, ctx.train_labels)])


def trl_fit(ctx, best: bool):
    """SFTTrainer on the same subset and budget (best: its documented speed settings): (seconds, model, facts)."""
    import torch
    from peft import LoraConfig, TaskType
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from core.backbone.models import native_bf16

    settings, lora = ctx.config.training, ctx.config.lora
    rank, alpha = ctx.lora_rank_and_alpha()
    set_seed(ctx.seed)
    model = ctx.base.causal_lm()
    # padding-free batches are one row of examples told apart by their position ids, which only FlashAttention's
    # kernels read: under sdpa or eager attention each example would attend to the ones before it (checked: the
    # second of two packed examples got other logits), so without FlashAttention its best is length-grouped batches
    flash = model.config._attn_implementation.startswith("flash_attention")
    with tempfile.TemporaryDirectory() as out, timed() as seconds:
        args = SFTConfig(output_dir=out, max_steps=ctx.refit_steps, per_device_train_batch_size=settings.batch_size,
                         learning_rate=ctx.learning_rate("lora"), lr_scheduler_type="linear",
                         warmup_steps=settings.warmup_ratio, weight_decay=settings.weight_decay,
                         max_grad_norm=settings.max_grad_norm, seed=ctx.seed,
                         bf16=native_bf16(ctx.base.device), use_cpu=not torch.cuda.is_available(),
                         save_strategy="no", eval_strategy="no", report_to="none", logging_strategy="no",
                         disable_tqdm=True,
                         max_length=None if best and flash else ctx.base.max_length,
                         **(best_speed(flash) if best else {}))
        peft = LoraConfig(task_type=TaskType.CAUSAL_LM, r=rank, lora_alpha=alpha, lora_dropout=lora.dropout,
                          target_modules=lora.target_modules or "all-linear")
        # a copy: TRL may set the tokenizer's pad token, and the base's tokenizer decodes every side afterwards
        trainer = SFTTrainer(model=model, args=args, train_dataset=trl_dataset(ctx),
                             processing_class=copy.deepcopy(ctx.base.tokenizer), peft_config=peft)
        output = trainer.train()
    facts = {"steps": trainer.state.global_step, "final_loss": output.training_loss, "optim": named(args.optim),
             "gradient_checkpointing": args.gradient_checkpointing, "padding_free": args.padding_free,
             "group_by_length": named(args.train_sampling_strategy) == "group_by_length",
             **token_check(ctx, trainer.train_dataset)}
    return seconds(), trainer.model, facts


def best_speed(flash: bool) -> dict:
    """TRL's documented speed settings that apply to this job (module docstring: why padding-free needs flash)."""
    grouping = {"padding_free": True} if flash else {"train_sampling_strategy": "group_by_length"}
    return {"gradient_checkpointing": False, "optim": "adamw_torch_fused", **grouping}


def named(setting) -> str:
    """An enum setting of TrainingArguments by its value ("adamw_torch_fused"), a string as it is."""
    return str(getattr(setting, "value", setting))


def token_check(ctx, prepared) -> dict:
    """Whether TRL trains on adaptlab's tokens: the share of examples whose TRL tokens begin with adaptlab's own, the
    trained (answer) positions the same, and the mean count of tokens TRL adds after them (the chat template's
    newline after the end-of-turn token, which TRL trains on as part of the completion)."""
    from core.backbone.prompts import PromptBuilder
    from core.methods.decoder.fits import sft_examples
    from core.training.sft import IGNORE, encode_examples

    prompts = PromptBuilder(ctx.base.tokenizer, ctx.base.max_length - ctx.config.llm.max_new_tokens)
    rows = zip(ctx.train_texts, [ctx.labels[i] for i in ctx.train_labels], [""] * len(ctx.train_texts))
    ids, labels = encode_examples(ctx.base.tokenizer, sft_examples(ctx, prompts, rows), ctx.base.max_length,
                                  prompts.answer_suffix())
    same, extra = [], []
    for row, ours, target in zip(prepared, ids, labels):
        theirs, trained = list(row["input_ids"]), [label != IGNORE for label in row["labels"]]
        same.append(theirs[:len(ours)] == ours and trained[:len(ours)] == [t != IGNORE for t in target]
                    and all(trained[len(ours):]))
        extra.append(len(theirs) - len(ours))
    return {"same_tokens_as_adaptlab": float(np.mean(same)), "extra_trained_tokens": float(np.mean(extra))}


def decoded(ctx, model, test) -> dict:
    """Answer match and likelihood accuracy of a trained model, decoded by adaptlab's one predictor path."""
    from core.methods.decoder.fits import trained

    predictor = trained(ctx, model, {})
    truth = test.label.map({label: i for i, label in enumerate(ctx.labels)}).to_numpy()
    generated = predictor.generated_labels(test.text.tolist())
    likely = predictor.predict_proba(test.text.tolist()).argmax(axis=1)
    return {"answer_match": float(np.mean([g == t for g, t in zip(generated, truth)])),
            "likelihood_accuracy": float(np.mean(likely == truth)),
            "unparsed_answers": sum(g is None for g in generated), "generated": generated}


def subset_context(config, base, task, size: int, seed: int, steps: int | None):
    """The run context of one (size, seed) for `steps` steps (default: adaptlab's plan for the subset)."""
    from core.running.grid import subset_indices
    from core.training.loop import plan_steps

    labels = task.labels
    y = task.train.label.map({label: i for i, label in enumerate(labels)}).to_numpy()
    chosen = subset_indices(y, size, "per_class", seed)
    steps = steps or plan_steps(len(chosen), config.training.batch_size, config.budget.max_epochs,
                                config.budget.min_steps).total_steps
    return run_context(base, config, labels, task.train.text.iloc[chosen], y[chosen], seed, steps)


def one_side(side: str, ctx, test) -> dict:
    """Train one side, then decode its model by the shared predictor."""
    fits = {"adaptlab": adaptlab_fit, "trl": lambda c: trl_fit(c, best=False), "trl-best": lambda c: trl_fit(c, True)}
    seconds, model, facts = fits[side](ctx)
    return {"train_seconds": seconds, **facts, **decoded(ctx, model, test), "examples": len(ctx.train_texts)}


def side_in_process(side: str, args, size: int, seed: int) -> dict:
    """`one_side` in a fresh interpreter, from the model load on (--parallel)."""
    config, base, task = setup(args.model, args.dry_run, args.batch, args.max_length)
    return one_side(side, subset_context(config, base, task, size, seed, args.steps), test_texts(task, args.test))


def cell(config, base, task, size: int, seed: int, test, first: int, args) -> dict:
    """One (size, seed): the three sides in the order that starts at `first`, each trained then decoded; with
    --parallel all three at once, each in its own process (on a CPU shared with other work, each side then meets the
    same load, and the three together get three processes' share of the cores)."""
    out = {"order": "at once" if args.parallel else list(SIDES[first:] + SIDES[:first])}
    if args.parallel:  # the model loads in each side's process, not here
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(len(SIDES), mp_context=multiprocessing.get_context("spawn")) as pool:
            running = {side: pool.submit(side_in_process, side, args, size, seed) for side in SIDES}
            out.update({side: job.result() for side, job in running.items()})
    else:
        ctx = subset_context(config, base, task, size, seed, args.steps)
        for side in out["order"]:
            out[side] = one_side(side, ctx, test)
    out.update(examples=[out[side].pop("examples") for side in SIDES][0], steps=out["adaptlab"]["steps"])
    answers = {side: out[side].pop("generated") for side in SIDES}
    out["same_answer_adaptlab_vs_trl"] = float(np.mean([a == b for a, b in zip(answers["adaptlab"], answers["trl"])]))
    for side in SIDES[1:]:
        out[f"answer_match_gap_vs_{side}_points"] = (out["adaptlab"]["answer_match"] - out[side]["answer_match"]) * 100
        out[f"speedup_vs_{side}"] = out[side]["train_seconds"] / out["adaptlab"]["train_seconds"]
    return out


def test_texts(task, count: int):
    """A fixed random sample of the fortunes test set (0: all of it)."""
    return task.test if not count else task.test.sample(n=count, random_state=0).sort_index()


def summary(cells: dict) -> dict:
    """Means over the cells of the gaps, total train seconds per side and their ratios."""
    totals = {side: sum(c[side]["train_seconds"] for c in cells.values()) for side in SIDES}
    return {**{f"{side}_train_seconds": totals[side] for side in SIDES},
            **{f"speedup_vs_{side}": totals[side] / totals["adaptlab"] for side in SIDES[1:]},
            **{f"mean_answer_match_gap_vs_{side}_points":
               statistics.mean(c[f"answer_match_gap_vs_{side}_points"] for c in cells.values()) for side in SIDES[1:]},
            **{f"mean_answer_match_{side}": statistics.mean(c[side]["answer_match"] for c in cells.values())
               for side in SIDES}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32], help="training examples per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--test", type=int, default=100, help="test texts decoded per side (a fixed random "
                                                              "sample of the fortunes test set; 0: all 250)")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps for every side (default: adaptlab's "
                        "plan for the subset: max_epochs 6, at least 50 steps)")
    parser.add_argument("--batch", type=int, default=None, help="examples per step (default training.batch_size, 16)")
    parser.add_argument("--max-length", type=int, default=None, help="model.max_length: the text's tokens in a "
                                                                     "prompt (default the config's, 128)")
    parser.add_argument("--parallel", action="store_true", help="the three sides at once, each in its own process")
    decoder_arguments(parser, "2 per class, batch 4, 3 steps, 5 test texts, answers of 4 tokens")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.sizes, args.seeds, args.test = [2], [0], 5
    folder = results_folder(args)
    config, base, task = setup(args.model, args.dry_run, args.batch, args.max_length, load=not args.parallel)
    test = test_texts(task, args.test)
    import trl

    cells = {}
    for i, (seed, size) in enumerate((seed, size) for seed in args.seeds for size in args.sizes):
        cells[f"{size}|{seed}"] = cell(config, base, task, size, seed, test, first=i % len(SIDES), args=args)
        record(args, folder, test, cells, trl.__version__)  # after every cell: a stopped run keeps what it measured


def record(args, folder, test, cells: dict, trl_version: str) -> None:
    """The record of the cells measured so far, with the command that measures exactly those."""
    sizes = sorted({int(key.split("|")[0]) for key in cells}, key=args.sizes.index)
    seeds = sorted({int(key.split("|")[1]) for key in cells}, key=args.seeds.index)
    command = (f"python bench/sft_vs_trl.py --sizes {' '.join(map(str, sizes))} --seeds {' '.join(map(str, seeds))} "
               f"--test {args.test}" + (f" --steps {args.steps}" if args.steps else "")
               + (f" --batch {args.batch}" if args.batch else "")
               + (f" --max-length {args.max_length}" if args.max_length else "")
               + (" --parallel" if args.parallel else "")
               + (f" --model {args.model}" if args.model != "smollm2" else "") + (" --dry-run" if args.dry_run else ""))
    save("sft_vs_trl", command, GOAL,
         {"test_texts": len(test), "trl_version": trl_version, **summary(cells), "per_cell": cells},
         folder=folder,
         notes="same subsets, steps, batch, learning rate, warmup 0.1, weight decay 0.01, clipping 1.0, LoRA r 8 alpha "
               "16 dropout 0.1 on every linear layer, seed; adaptlab in the refit's mode (every example, the plan's "
               "steps, nothing held out); TRL on a conversational prompt-completion dataset (completion-only loss, "
               "its default); TRL at its best: no gradient checkpointing, adamw_torch_fused, group_by_length "
               "(padding_free only under FlashAttention); fp32 where bf16 is not native; every model decoded "
               "greedily by adaptlab's DecoderPredictor"
               + ("; --parallel: the three sides at once, each in its own process (the same load on each)"
                  if args.parallel else ""))

if __name__ == "__main__":
    main()
