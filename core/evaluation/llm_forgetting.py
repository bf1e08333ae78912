"""Forgetting on a decoder: what fine-tuning cost the base model's general ability, measured both ways.

- Perplexity on held general English that no task uses: the docstrings of a few Python standard
  library modules (plain technical English, the same on every machine with the same Python).
- General questions the base model answers correctly: a fixed list of everyday facts; the base model's
  correct answers are found once per grid, and a fine-tuned model is scored on those only, so 1.0 means
  nothing it knew was lost.
"""

from __future__ import annotations

import math

import numpy as np

from core.evaluation.metrics import answer_match

TEXT_MODULES = ("argparse", "textwrap", "json", "fractions", "statistics", "calendar")
TEXT_TOKENS = 2048  # perplexity is read over this many tokens: a second on a CPU for a 135M model
WINDOW = 256
GENERAL_QUESTIONS = (
    ("What is the capital of France?", ["Paris"]), ("What is the capital of Italy?", ["Rome"]),
    ("What is the capital of Japan?", ["Tokyo"]), ("What is the capital of Germany?", ["Berlin"]),
    ("What is the capital of Spain?", ["Madrid"]), ("What is the capital of England?", ["London"]),
    ("What is the capital of Russia?", ["Moscow"]), ("What is the capital of Egypt?", ["Cairo"]),
    ("What is the capital of China?", ["Beijing"]), ("What is the capital of Canada?", ["Ottawa"]),
    ("How many days are in a week?", ["7", "seven"]), ("How many legs does a spider have?", ["8", "eight"]),
    ("What color is the sky on a clear day?", ["blue"]), ("What color is grass?", ["green"]),
    ("What is the largest planet in the solar system?", ["Jupiter"]),
    ("What planet do we live on?", ["Earth", "the Earth"]), ("What is frozen water called?", ["ice"]),
    ("What gas do plants absorb from the air?", ["carbon dioxide", "CO2"]),
    ("Who wrote Romeo and Juliet?", ["William Shakespeare", "Shakespeare"]),
    ("What is 2 plus 2?", ["4", "four"]), ("What is 10 times 10?", ["100", "one hundred"]),
    ("What is the chemical symbol for water?", ["H2O"]), ("What is the opposite of hot?", ["cold"]),
    ("How many hours are in a day?", ["24", "twenty-four"]), ("What is the largest ocean?", ["Pacific",
                                                                                           "Pacific Ocean"]),
    ("What animal is known as the king of the jungle?", ["lion", "the lion"]),
    ("Which month comes after January?", ["February"]), ("What do bees make?", ["honey"]),
    ("What is the boiling point of water in Celsius?", ["100", "100 degrees", "100 degrees Celsius"]),
    ("In which continent is Kenya?", ["Africa"]),
)
INSTRUCTION = "Answer the question with a short answer: a name, a word or a number, not a sentence."


def general_text() -> str:
    import importlib

    parts = []
    for name in TEXT_MODULES:
        module = importlib.import_module(name)
        parts.append(module.__doc__ or "")
        parts.extend((getattr(module, attr).__doc__ or "") for attr in sorted(dir(module))
                     if not attr.startswith("_") and callable(getattr(module, attr)))
    return "\n\n".join(" ".join(p.split()) for p in parts if p.strip())


def perplexity(lm) -> float:
    """exp(mean negative log-likelihood per token) over TEXT_TOKENS tokens of general English, in windows."""
    ids = lm.encode([general_text()])[0][:TEXT_TOKENS]
    tokenizer = lm.tokenizer
    windows = [tokenizer.decode(ids[i:i + WINDOW]) for i in range(0, len(ids), WINDOW)]
    # each window is scored as a continuation of a one-token prompt, so every one of its tokens counts
    prompts = [tokenizer.decode(lm.encode([w])[0][:1]) for w in windows]
    rests = [tokenizer.decode(lm.encode([w])[0][1:]) for w in windows]
    total = lm.loglikelihoods(prompts, rests)
    tokens = sum(len(lm.encode([r])[0]) for r in rests)
    return float(math.exp(-total.sum() / max(tokens, 1)))


def general_answers(fitted) -> list[bool]:
    from core.backbone.prompts import PromptParts

    prompts = [fitted.prompts.render(PromptParts(INSTRUCTION, question)) for question, _ in GENERAL_QUESTIONS]
    answers, _ = fitted.lm.generate(prompts)
    return [answer_match(answer, aliases) for answer, (_, aliases) in zip(answers, GENERAL_QUESTIONS)]


def base_predictor(fitted, base):
    """The same prompting as `fitted`, on the untouched base model (bf16 where that runs natively)."""
    from dataclasses import replace

    import torch

    dtype = torch.bfloat16 if base.autocast_dtype == torch.bfloat16 else torch.float32
    return replace(fitted, lm=replace(fitted.lm, model=base.causal_lm(dtype=dtype).to(base.device).eval()),
                   retriever=None, shots=[])


def decoder_forgetting(fitted, base, baseline: dict) -> dict:
    """Perplexity and general answers before (the base model, measured once per grid) and after fine-tuning."""
    if "decoder_perplexity" not in baseline:
        base_fitted = base_predictor(fitted, base)
        baseline["decoder_perplexity"] = perplexity(base_fitted.lm)
        baseline["decoder_known"] = general_answers(base_fitted)
    known = np.array(baseline["decoder_known"])
    after = np.array(general_answers(fitted))
    kept = float(after[known].mean()) if known.any() else None
    ppl = perplexity(fitted.lm)
    return {"probe": "general English perplexity and general questions", "perplexity_base": baseline[
        "decoder_perplexity"], "perplexity_after": ppl,
            "perplexity_increase": ppl / baseline["decoder_perplexity"] - 1,
            "general_known_base": int(known.sum()), "general_kept": kept,
            "general_questions": len(GENERAL_QUESTIONS)}
