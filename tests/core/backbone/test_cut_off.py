"""generate() says which answers max_new_tokens stopped before they ended (core/backbone/lm.py), on a tiny Llama."""

from __future__ import annotations

from core.backbone.lm import LanguageModel
from core.backbone.models import BaseModel


def test_generation_says_which_answers_the_token_limit_cut_off(tiny_llama):
    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    prompts = [base.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                  add_generation_prompt=True)
               for text in ("Which country is Paris in?", "Passages: Question", "I don't know", "France")]
    short = LanguageModel(base.causal_lm(), base.tokenizer, base.device, None, batch_size=4, max_new_tokens=3)
    answers, _ = short.generate(prompts)
    long = LanguageModel(base.causal_lm(), base.tokenizer, base.device, None, batch_size=4, max_new_tokens=48)
    whole, _ = long.generate(prompts)
    # greedy, so the long reply starts as the short one: the short one was cut where its first line goes on
    assert short.last_cut_off == [a != w for a, w in zip(answers, whole)]
    assert any(short.last_cut_off)  # a random model rarely ends a turn within 3 tokens
    # every token ends the turn: each reply ends at once, within the limit, so none is cut off
    short.stop_ids = lambda: list(range(len(base.tokenizer)))
    assert short.generate(prompts)[0] == [""] * 4 and short.last_cut_off == [False] * 4
