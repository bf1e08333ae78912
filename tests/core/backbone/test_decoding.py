"""Greedy decoding with rows that stop as they finish: the same answers as plain `model.generate`, one prompt at a
time, and finished rows no longer computed. On the tiny random Llama (tests/decoder_model.py) with a head biased
towards line breaks and the end-of-turn token, so replies end every way a real model's do."""

from __future__ import annotations

import pytest
import torch

from core.backbone.decoding import first_line_closed
from core.backbone.lm import LanguageModel
from core.backbone.models import BaseModel
from core.backbone.prompts import PromptBuilder, PromptParts

QUESTIONS = ["Question one", "A second, longer question with more words", "Third", "Which country is Paris in?",
             "Murphy says", "The sea and the ship", "zippy startrek", "What can go wrong", "Passages: Question",
             "I don't know", "Spock and the sea", "Another example, short"]
MAX_NEW = 24


@pytest.fixture
def answering_lm(tiny_llama):
    """The tiny Llama with an output head (its tied embeddings plus a bias) that writes line breaks and ends turns:
    the random model alone never does. The biases were chosen so these questions end in every way (below)."""
    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    model = base.causal_lm()
    lm = LanguageModel(model, base.tokenizer, base.device, None, batch_size=5, max_new_tokens=MAX_NEW)
    embeddings = model.get_input_embeddings().weight
    head = torch.nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=True)
    with torch.no_grad():
        head.weight.copy_(embeddings)
        head.bias.zero_()
        head.bias[list(lm.line_breaks())] = 2.0
        head.bias[base.tokenizer.convert_tokens_to_ids("<|im_end|>")] = 4.3
    model.lm_head = head
    return lm


def plain_generate(lm: LanguageModel, prompt: str) -> list[int]:
    """transformers alone: greedy `generate` on one prompt, its new tokens up to and with the first stop token."""
    ids = lm.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    out = lm.model.generate(**ids, max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=lm.stop_ids(),
                            pad_token_id=lm.tokenizer.pad_token_id)
    new = out[0, ids.input_ids.shape[1]:].tolist()
    ends = [k for k, t in enumerate(new) if t in lm.stop_ids()]
    return new[:ends[0] + 1] if ends else new


def read(lm: LanguageModel, tokens: list[int], first_line: bool) -> str:
    text = lm.tokenizer.decode([t for t in tokens if t not in lm.stop_ids()], skip_special_tokens=True).strip()
    return text.split("\n")[0].strip() if first_line else text


def ending(lm: LanguageModel, tokens: list[int]) -> tuple[str, int]:
    """How a first-line reply ends and how many tokens it takes: a stop token, the line break closing its first
    line, or max_new_tokens."""
    for k, token in enumerate(tokens):
        if token in lm.stop_ids():
            return "stop", k + 1
        if token in lm.line_breaks() and first_line_closed(lm.tokenizer, tokens[:k + 1]):
            return "line", k + 1
    return "max", len(tokens)


def chat_prompts(lm: LanguageModel) -> list[str]:
    builder = PromptBuilder(lm.tokenizer, budget=10_000)
    return [builder.render(PromptParts("Answer the question.", q, [])) for q in QUESTIONS]


@pytest.mark.parametrize("shared_start", [True, False])
def test_batched_answers_equal_plain_generate_one_prompt_at_a_time(answering_lm, shared_start):
    lm = answering_lm
    prompts = chat_prompts(lm) if shared_start else QUESTIONS
    assert (lm.shared_prefix(lm.encode(prompts)) >= 16) == shared_start
    plain = [plain_generate(lm, p) for p in prompts]
    endings = [ending(lm, tokens) for tokens in plain]
    if shared_start:  # the replies end every way: a stop token, a line break after text, the budget; some lead
        assert {kind for kind, _ in endings} == {"stop", "line", "max"}  # with a line break, which does not end them
        assert any(tokens[0] in lm.line_breaks() for tokens in plain)

    answers, counts = lm.generate(prompts)
    assert answers == [read(lm, tokens, True) for tokens in plain]
    assert counts == [n for _, n in endings]  # a row stops at its closing line break: fewer tokens than plain
    whole, whole_counts = lm.generate(prompts, first_line=False)
    assert whole == [read(lm, tokens, False) for tokens in plain]
    assert whole_counts == [len(tokens) for tokens in plain]


def test_a_finished_row_is_not_computed_again(answering_lm):
    lm = answering_lm
    prompts = chat_prompts(lm)
    rows_run = []
    hook = lm.model.register_forward_pre_hook(lambda _, args, kwargs: rows_run.append(kwargs["input_ids"].shape),
                                              with_kwargs=True)
    try:
        _, counts = lm.generate(prompts, batch_size=len(prompts))
    finally:
        hook.remove()
    prefix, prefill, *steps = rows_run  # the shared start once, the prompts, then one token a row a step
    assert prefix[0] == 1 and prefill[0] == len(prompts)
    # each row is run once for every token it writes after its first: none once it has ended
    assert sum(shape[0] for shape in steps) == sum(n - 1 for n in counts)
    assert len(steps) == max(counts) - 1
