"""LLM evaluation: adaptlab's batched decoder against a plain transformers `pipeline("text-generation")` loop.

    python bench/llm_eval.py [--questions 128] [--texts 64] [--repeats 2] [--precision auto|fp32]
    python bench/llm_eval.py --dry-run            # seconds: 4 questions, 4 texts, 4 new tokens

The same rendered prompts (SmolLM2's chat template: the QA instruction, one passage stating the fact,
the question; open-book questions about ISO 3166-2 subdivisions from the geo-qa scenario, as RAG
would put them) go to three answerers with the same greedy settings (max_new_tokens, the same stop
tokens, first line kept):
- adaptlab: `fit_prompt`'s DecoderPredictor, as a run uses it (bf16 weights and autocast where the
  CPU computes bf16 natively; batches sorted by length, left-padded, KV cache, stop at end of turn);
- the pipeline at its defaults: one prompt at a time, in the dtype the model's folder holds (fp32 for
  SmolLM2's conversion);
- the pipeline at its best documented CPU setting: `batch_size=` with left padding, and
  `dtype=torch.bfloat16` where the CPU has native bf16 (fp32 otherwise).
Reported: seconds and the ratio to each, and the share of answers identical to each (bf16 and fp32
round differently, so a few answers may differ) and each side's exact match. Goal on the CPU:
at least 3x the pipeline loop.

Second record (`llm_label_scoring`): classifying fortunes on the LLM, adaptlab's label scoring by
likelihood (each label's words after one shared prompt pass) against generating an answer and
parsing the label from it: seconds and accuracy of each, and how many answers named no label.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
from common import decoder_arguments, decoder_context, precision, results_folder, save, timed

EVAL_GOAL = "adaptlab's batched evaluation >= 3x a plain transformers pipeline loop on the CPU, same answers"
LABEL_GOAL = ("adaptlab's label scoring by likelihood at least as fast as transformers alone at its fastest (each "
              "prompt once with a KV cache, the labels after it), same labels; and what it saves over generating then "
              "parsing")


def qa_questions(count: int, seed: int = 0) -> tuple[list[str], list[str], list[list[str]]]:
    """(question, passage that answers it, accepted answers) for `count` geo-qa questions that have a passage."""
    import pandas as pd

    from core.task.scenarios import geo_qa

    task = geo_qa.build()
    questions = pd.concat([task.train, task.validation], ignore_index=True)
    passages = task.corpus.set_index("id").text
    questions = questions[questions.passage_id.isin(passages.index)]
    chosen = questions.iloc[np.random.default_rng(seed).permutation(len(questions))[:count]]
    return chosen.text.tolist(), passages[chosen.passage_id].tolist(), chosen.aliases.tolist()


def prompt_method(base, config, kind: str, labels: list[str]):
    """The `prompt` method's fitted predictor, exactly as a run of the grid builds it."""
    from core.methods.prompt import fit_decoder

    return fit_decoder(decoder_context(base, config, kind, labels))


def text_generation_pipeline(base, best: bool):
    """What a user runs instead: the pipeline at its defaults, or batched with left padding and bf16 (best)."""
    import torch
    from transformers import pipeline

    bf16 = best and base.autocast_dtype == torch.bfloat16
    pipe = pipeline("text-generation", model=str(base.path), device=base.device,
                    **({"dtype": torch.bfloat16} if bf16 else {}))
    if best:
        pipe.tokenizer.padding_side = "left"  # the documented set-up for batched generation with a decoder-only model
    if pipe.tokenizer.pad_token is None:
        pipe.tokenizer.pad_token = pipe.tokenizer.eos_token
    return pipe, str(pipe.model.dtype).removeprefix("torch.")


def pipeline_answers(pipe, prompts: list[str], lm, batch_size: int | None) -> list[str]:
    """The pipeline's greedy answers, read back the way adaptlab reads its own (first line, stripped)."""
    settings = {"max_new_tokens": lm.max_new_tokens, "do_sample": False, "return_full_text": False,
                "eos_token_id": lm.stop_ids(), "pad_token_id": lm.tokenizer.pad_token_id}
    if batch_size is None:  # defaults: one prompt at a time, as a loop over questions is usually written
        outputs = [pipe(prompt, **settings) for prompt in prompts]
    else:
        outputs = pipe(prompts, batch_size=batch_size, **settings)
    return [out[0]["generated_text"].strip().split("\n")[0].strip() for out in outputs]


def compare_generation(base, config, args) -> dict:
    from core.evaluation.metrics import exact_match

    questions, passages, aliases = qa_questions(args.questions)
    fitted = prompt_method(base, config, "qa", [])
    prompts = fitted.render(questions, passages)
    batch = fitted.lm.batch_size
    default_pipe, default_precision = text_generation_pipeline(base, best=False)
    best_pipe, best_precision = text_generation_pipeline(base, best=True)
    sides = {"adaptlab": lambda: fitted.answer(questions, passages),
             "pipeline": lambda: pipeline_answers(default_pipe, prompts, fitted.lm, None),
             "pipeline_batched": lambda: pipeline_answers(best_pipe, prompts, fitted.lm, batch)}
    fitted.answer(questions[:2], passages[:2])  # warm-up: first calls pay one-off set-up (allocation, kernels)
    pipeline_answers(default_pipe, prompts[:2], fitted.lm, None)
    pipeline_answers(best_pipe, prompts[:2], fitted.lm, batch)
    seconds = {name: [] for name in sides}
    answers = {}
    for repeat in range(args.repeats):  # interleaved, so drift in machine load hits every side alike
        for name, run in sides.items():
            if name == "pipeline" and repeat:  # the one-prompt loop is timed once: 5x slower, it is not the peer
                continue
            with timed() as t:
                answers[name] = run()
            seconds[name].append(t())
    median = {name: float(np.median(times)) for name, times in seconds.items()}
    generated = int(np.sum(fitted.generated_tokens))
    return {
        "questions": len(questions), "repeats": args.repeats, "max_new_tokens": fitted.lm.max_new_tokens,
        "batch_size": batch,
        "mean_prompt_tokens": float(np.mean(fitted.prompt_tokens)), "adaptlab_generated_tokens": generated,
        "adaptlab_seconds": median["adaptlab"], "pipeline_seconds": median["pipeline"],
        "pipeline_batched_seconds": median["pipeline_batched"],
        "speedup_vs_pipeline": median["pipeline"] / median["adaptlab"],
        "speedup_vs_pipeline_batched": median["pipeline_batched"] / median["adaptlab"],
        "identical_share_vs_pipeline": _same(answers["adaptlab"], answers["pipeline"]),
        "identical_share_vs_pipeline_batched": _same(answers["adaptlab"], answers["pipeline_batched"]),
        "exact_match": {name: float(np.mean([exact_match(a, ok) for a, ok in zip(found, aliases)]))
                        for name, found in answers.items()},
        "precision": {"adaptlab": {**precision(base.device, base.autocast_dtype),
                                   "weights": str(fitted.lm.model.dtype).removeprefix("torch.")},
                      "pipeline": default_precision,
                      "pipeline_batched": best_precision},
        # the question, not its prompt: the report prints figures as table rows, one line each
        "example": {"question": questions[0], **{name: found[0] for name, found in answers.items()},
                    "accepted": ", ".join(aliases[0])},
    }


def _same(ours: list[str], theirs: list[str]) -> float:
    return float(np.mean([a == b for a, b in zip(ours, theirs)]))


def transformers_label_scores(lm, prompts: list[str], labels: list[str], batch_size: int) -> np.ndarray:
    """The fastest way transformers alone scores labels (log P(label | prompt), summed over the label's tokens):
    each batch of prompts runs once, left-padded, with positions from the mask and a KV cache; the cache is repeated
    once per label and only the labels' tokens run after it (the label runs with its prompt in one forward: L
    labels cost one prompt pass, not L)."""
    import torch

    model, tokenizer = lm.model, copy.copy(lm.tokenizer)
    tokenizer.padding_side = "left"  # the documented set-up for a decoder-only model's batches
    label_ids = [tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
    width = max(len(ids) for ids in label_ids)
    tail = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in label_ids])
    tail_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in label_ids])
    scores = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], padding=True, add_special_tokens=False,
                              return_tensors="pt")
            positions = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
            out = model(**batch, position_ids=positions, use_cache=True, logits_to_keep=1)
            rows, count = len(batch.input_ids), len(labels)
            first = torch.log_softmax(out.logits[:, -1].float(), -1)[:, tail[:, 0]]  # (rows, labels)
            cache = out.past_key_values
            cache.batch_repeat_interleave(count)
            mask = torch.cat([batch.attention_mask.repeat_interleave(count, 0), tail_mask[:, :-1].repeat(rows, 1)], 1)
            later_positions = positions[:, -1:].repeat_interleave(count, 0) + 1 + torch.arange(width - 1)
            ids = tail.repeat(rows, 1)
            logits = model(input_ids=ids[:, :-1], attention_mask=mask, position_ids=later_positions,
                           past_key_values=cache).logits.float()
            later = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None]).squeeze(2)
            later = later * tail_mask[:, 1:].repeat(rows, 1)
            scores.append((first + later.sum(1).view(rows, count)).numpy())
    return np.concatenate(scores)


def compare_label_scoring(base, config, args) -> dict:
    """Fortunes classified by label likelihood (adaptlab, and transformers alone at its fastest) and by generating
    then parsing: time and accuracy of each; the sides interleaved, medians reported."""
    from core.task.scenarios import build_scenario

    task = build_scenario("fortunes")
    test = task.test.sample(n=min(args.texts, len(task.test)), random_state=0)
    texts, truth = test.text.tolist(), test.label.map({label: i for i, label in enumerate(task.labels)}).to_numpy()
    fitted = prompt_method(base, config, "classification", list(task.labels))
    prompts = fitted.render(texts)
    batch = fitted.lm.batch_size
    sides = {"likelihood": lambda: fitted.predict_proba(texts).argmax(axis=1),
             "transformers": lambda: transformers_label_scores(fitted.lm, prompts, list(task.labels),
                                                               batch).argmax(axis=1),
             "generating": lambda: fitted.generated_labels(texts)}
    for run in sides.values():  # warm-up
        run()
    seconds = {name: [] for name in sides}
    found = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits every side alike
        for name, run in sides.items():
            with timed() as t:
                found[name] = run()
            seconds[name].append(t())
    median = {name: float(np.median(times)) for name, times in seconds.items()}
    scored, peer, parsed = found["likelihood"], found["transformers"], found["generating"]
    return {"texts": len(texts), "labels": len(task.labels), "batch_size": batch, "repeats": args.repeats,
            "likelihood_seconds": median["likelihood"], "transformers_likelihood_seconds": median["transformers"],
            "generate_and_parse_seconds": median["generating"],
            "speedup_vs_transformers_likelihood": median["transformers"] / median["likelihood"],
            "speedup_of_likelihood": median["generating"] / median["likelihood"],
            "same_label_as_transformers": _same(list(scored), list(peer)),
            "likelihood_accuracy": float(np.mean(scored == truth)),
            "generated_accuracy": float(np.mean([p is not None and p == t for p, t in zip(parsed, truth)])),
            "generated_unparsed": int(sum(p is None for p in parsed)),
            "agreement": float(np.mean([p == s for p, s in zip(parsed, scored)])),
            "precision": precision(base.device, base.autocast_dtype)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=128, help="QA prompts answered by each side")
    parser.add_argument("--texts", type=int, default=64, help="fortunes classified for the label-scoring record "
                                                              "(0: skip it)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings per side; the median counts")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the config's llm.max_new_tokens")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="model.precision for adaptlab (fp32: every side computes in fp32, so answers must match)")
    decoder_arguments(parser, "4 questions, 4 texts, 4 new tokens, one repeat")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.questions, args.texts, args.repeats, args.max_new_tokens = 4, min(args.texts, 4), 1, 4
    folder = results_folder(args)

    from core.backbone.models import BaseModel
    from core.config import parse_config

    llm = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
    config = parse_config({"name": "bench-llm-eval", "task": {"builtin": "fortunes"},
                           "model": {"name": args.model, "precision": args.precision}, "llm": llm})
    base = BaseModel.from_spec(config.model)
    base.max_length = config.llm.context_length  # as a run sets it: prompt plus answer
    command = (f"python bench/llm_eval.py --questions {args.questions} --texts {args.texts} --repeats {args.repeats}"
               + (f" --max-new-tokens {args.max_new_tokens}" if args.max_new_tokens else "")
               + (f" --precision {args.precision}" if args.precision != "auto" else "")
               + (f" --model {args.model}" if args.model != "smollm2" else "") + (" --dry-run" if args.dry_run else ""))
    save("llm_eval", command, EVAL_GOAL, compare_generation(base, config, args), folder=folder,
         notes=f"{base.name}; geo-qa questions with the passage that answers them in the prompt; greedy, the same "
               "stop tokens and max_new_tokens on every side; the median of the interleaved repeats (the one-prompt "
               "loop timed once); adaptlab stops each row at its stop token or at the line break closing its first "
               "line (the only line read), the batched pipeline runs every row until the last one ends; the "
               "pipeline's batch size is adaptlab's (training.eval_batch_size)")
    if args.texts:
        save("llm_label_scoring", command, LABEL_GOAL, compare_label_scoring(base, config, args), folder=folder,
             notes=f"{base.name}; fortunes test texts (cut to model.max_length tokens), the prompt method's "
                   "instruction; generated answers parsed as a run parses them (DecoderPredictor.generated_labels)")


if __name__ == "__main__":
    main()
