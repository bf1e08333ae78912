"""The LLM quick look's steps, before and after, in one process: a LoRA training step, a validation check, a RAG query.

    python bench/llm_quick_steps.py                  # SmolLM2, fortunes, batch 16, 3 rounds
    python bench/llm_quick_steps.py --dry-run        # seconds: batch 4, one round

Each pair runs on the same model and the same examples, alternating, so load on a shared machine falls on both:
- a LoRA step (forward and backward, the quick look's batch of fortunes prompts): micro-batches cut by length,
  full logits (the previous code, still the fallback) against packed rows with logits only at answer tokens
  (core/training/sft.py);
- a validation check (the loss over 64 validation examples): padded, full logits, against packed;
- a RAG query (fortunes, 8 labelled passages, label scoring): whole passages against passages cut to
  rag.passage_tokens (core/backbone/prompts.py), with the prompt tokens of each.
Reported: medians of each arm and the ratio after/before (below 1 is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import decoder_context, precision, results_folder, save

GOAL = ("issue 28 row 10: the LLM quick look within 15 minutes through faster steps, not fewer; these are the "
        "steps, before and after, as ratios in one process")


def _step_arms(base, ctx, ids, labels, batches, rounds: int) -> dict:
    import numpy as np
    import torch

    from core.methods.decoder.fits import frozen_dtype, with_lora
    from core.training.sft import packed_decoder, right_padded
    from core.training.stepper import MicroBatchStepper

    model = with_lora(ctx, base.causal_lm(dtype=frozen_dtype(ctx))).to(base.device).train()
    packer, batching = packed_decoder(model, base, ids, labels)
    assert packer is not None, batching

    def collate(chunk):
        return right_padded(base.tokenizer, [ids[i] for i in chunk], [labels[i] for i in chunk])

    steppers = {"micro-batches": MicroBatchStepper(model, base, ids, None, len(batches[0]), collate=collate),
                "packed": MicroBatchStepper(model, base, ids, None, len(batches[0]), collate=collate,
                                            packer=lambda: (packer, batching))}
    for stepper in steppers.values():
        stepper.pack()
    times = {name: [] for name in steppers}
    for _ in range(rounds):
        for turn, batch_idx in enumerate(batches):
            order = list(steppers) if turn % 2 == 0 else list(steppers)[::-1]  # neither arm always goes first
            for name in order:
                tick = time.perf_counter()
                steppers[name].step(np.asarray(batch_idx))
                times[name].append(time.perf_counter() - tick)
                print(name, round(times[name][-1], 2), flush=True)  # partial figures survive a killed run
                model.zero_grad(set_to_none=True)
    out = {name: {"median_step_seconds": statistics.median(t), "step_seconds": t, **steppers[name].record()}
           for name, t in times.items()}
    out["step_time_ratio"] = out["packed"]["median_step_seconds"] / out["micro-batches"]["median_step_seconds"]
    del torch
    return out, model


def _validation_arms(model, base, ids, labels, rounds: int, batch_size: int) -> dict:
    from core.training.sft import mean_loss

    times = {"padded": [], "packed": []}
    values = {}
    for _ in range(rounds):
        for name in times:
            tick = time.perf_counter()  # the padded check goes first: it also takes the warm-up
            values[name] = mean_loss(model, base, ids, labels, batch_size, packed=name == "packed")
            times[name].append(time.perf_counter() - tick)
    out = {name: {"median_seconds": statistics.median(t), "seconds": t, "loss": values[name]}
           for name, t in times.items()}
    out["check_time_ratio"] = out["packed"]["median_seconds"] / out["padded"]["median_seconds"]
    return out


def _rag_arms(base, config, task, train, queries: int, rounds: int) -> dict:
    """Label scoring by RAG on fortunes (8 labelled examples in each prompt): passages whole against cut."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import numpy as np

    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.backbone.models import BaseModel as Loader
    from core.methods.base import FitContext
    from core.methods.rag import fit_decoder

    index = {label: i for i, label in enumerate(task.labels)}
    retrieval = Embedder(Loader.load("default"), EmbeddingCache(Path(tempfile.mkdtemp()) / "embeddings.db"))
    ctx = FitContext(labels=list(task.labels), train_texts=train.text.tolist(),
                     train_labels=train.label.map(index).to_numpy(), val_texts=[], val_labels=np.zeros(0, dtype=int),
                     corpus=None, base=base, embedder=retrieval, config=config, seed=0, retrieval=retrieval)
    test = task.test.iloc[:queries]
    truth = test.label.map(index).to_numpy()
    arms = {"whole": 8192, f"cut to model.max_length ({config.model.max_length})": None, "cut to 64": 64}
    fitted = {}
    for name, tokens in arms.items():
        rag = config.rag.model_copy(update={"passage_tokens": tokens})
        fitted[name] = fit_decoder(dataclasses.replace(ctx, config=config.model_copy(update={"rag": rag})))
    times = {name: [] for name in arms}
    out = {}
    for _ in range(rounds):
        for name, predictor in fitted.items():
            tick = time.perf_counter()
            probs = predictor.predict_proba(test.text.tolist())
            times[name].append((time.perf_counter() - tick) / len(test))
            out[name] = {"mean_prompt_tokens": float(np.mean(predictor.prompt_tokens)),
                         "accuracy_on_these_queries": float((probs.argmax(1) == truth).mean())}
    for name in arms:
        out[name].update(median_seconds_per_query=statistics.median(times[name]), seconds_per_query=times[name])
    whole = out["whole"]["median_seconds_per_query"]
    out["query_time_ratios"] = {name: out[name]["median_seconds_per_query"] / whole for name in arms}
    out["queries"], out["training_examples_indexed"] = len(test), len(train)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--validation", type=int, default=64)
    parser.add_argument("--queries", type=int, default=40, help="RAG: test texts scored per arm and round")
    parser.add_argument("--parts", nargs="+", default=["steps", "validation", "rag"])
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.dry_run:
        args.batch, args.rounds, args.validation = 4, 1, 4
    import numpy as np
    import torch

    from core.backbone.models import BaseModel
    from core.backbone.prompts import PromptBuilder
    from core.config import parse_config
    from core.methods.decoder.fits import sft_examples
    from core.task.scenarios import build_scenario
    from core.training.sft import encode_examples

    torch.manual_seed(0)
    config = parse_config({"name": "bench-llm-quick-steps", "task": {"builtin": "fortunes"},
                           "model": {"name": args.model}, "training": {"batch_size": args.batch}})
    base = BaseModel.from_spec(config.model)
    base.max_length = config.llm.context_length
    task = build_scenario("fortunes")
    ctx = decoder_context(base, config, "classification", task.labels)
    rng = np.random.default_rng(0)
    chosen = task.train.iloc[rng.permutation(len(task.train))[:args.batch * 2 + args.validation]]
    prompts = PromptBuilder(base.tokenizer, base.max_length - config.llm.max_new_tokens)
    examples = sft_examples(ctx, prompts, zip(chosen.text, chosen.label, [""] * len(chosen)))
    ids, labels = encode_examples(base.tokenizer, examples, base.max_length, prompts.answer_suffix())
    figures = {"batch": args.batch, "rounds": args.rounds,
               "mean_tokens_per_example": float(np.mean(list(map(len, ids)))),
               "precision": precision(base.device, base.autocast_dtype)}
    train_ids, train_labels = ids[:args.batch * 2], labels[:args.batch * 2]
    batches = [list(range(0, args.batch)), list(range(args.batch, 2 * args.batch))]
    model = None
    if "steps" in args.parts or "validation" in args.parts:
        figures["steps"], model = _step_arms(base, ctx, train_ids, train_labels, batches,
                                             args.rounds if "steps" in args.parts else 0)
        print("steps", {k: v for k, v in figures["steps"].items() if k != "step_time_ratio"},
              figures["steps"]["step_time_ratio"], flush=True)
    if "validation" in args.parts:
        figures["validation"] = _validation_arms(model.eval(), base, ids[args.batch * 2:], labels[args.batch * 2:],
                                                 args.rounds, config.training.eval_batch_size)
        print("validation", figures["validation"], flush=True)
    if "rag" in args.parts:
        indexed = task.train.groupby("label").head(8)  # the quick look's smaller size: 8 labelled examples per class
        figures["rag"] = _rag_arms(base, config, task, indexed, 6 if args.dry_run else args.queries, args.rounds)
        print("rag", figures["rag"], flush=True)
    save("llm_quick_steps", "python bench/llm_quick_steps.py", GOAL, figures, folder=results_folder(args),
         notes="same model, same examples, the arms alternating; 2 shared cores under load: read the ratios")


if __name__ == "__main__":
    main()
