"""Few-shot on the tiny random Llama: shots chosen per question by similarity, batched like fixed ones."""

from __future__ import annotations

import numpy as np
import pytest

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.backbone.models import BaseModel
from core.config import parse_config
from core.methods import fewshot
from core.methods.base import FitContext

# one training example per topic: a question about a topic has exactly one near neighbour among them
TOPICS = {
    "sport": "The striker scored two goals and the football team won the league final.",
    "cooking": "Whisk the eggs with sugar and flour, then bake the cake in a hot oven.",
    "space": "The rocket carried the astronauts into orbit around the Earth and the Moon.",
    "money": "The central bank raised interest rates to slow inflation and the currency rose.",
}
QUESTIONS = {
    "space": "How long did the astronauts stay in orbit after the rocket launch?",
    "sport": "Which football team scored the winning goal in the final?",
    "cooking": "How long should the cake bake in the oven?",
}


@pytest.fixture
def context(tiny_llama, base_model, tmp_path):
    def make(**llm) -> FitContext:
        base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
        base.max_length = 512
        config = parse_config({"name": "shots", "task": {"builtin": "fortunes"},
                               "model": {"name": str(tiny_llama), "precision": "fp32"},
                               "llm": {"context_length": 512, "max_new_tokens": 4, **llm}})
        labels = list(TOPICS)
        embedder = Embedder(base_model, EmbeddingCache(tmp_path / "emb.db"))
        return FitContext(labels=labels, train_texts=list(TOPICS.values()), train_labels=np.arange(len(labels)),
                          val_texts=[], val_labels=np.array([], dtype=int), corpus=None, base=base, embedder=embedder,
                          config=config, seed=0, retrieval=embedder)
    return make


def test_similar_selection_shows_each_question_its_nearest_training_examples(context):
    fitted = fewshot.fit_decoder(context(shot_selection="similar", max_shots=1))
    picked = fitted.shot_picker.pick(list(QUESTIONS.values()))
    assert [[answer for _, answer in shots] for shots in picked] == [[topic] for topic in QUESTIONS]
    assert picked[0] == [(TOPICS["space"], "space")]
    assert fitted.details["shot_selection"] == "similar" and fitted.details["shots"] == 1
    # with two shots the nearest comes last, next to the question (a full context drops the first shot first)
    two = fewshot.fit_decoder(context(shot_selection="similar", max_shots=2))
    assert [shots[-1][1] for shots in two.shot_picker.pick(list(QUESTIONS.values()))] == list(QUESTIONS)
    prompt = fitted.render([QUESTIONS["cooking"]])[0]
    assert TOPICS["cooking"] in prompt and TOPICS["sport"] not in prompt


def test_prompts_that_differ_per_question_still_batch(context):
    """Each question's own shots, scored in one batch, give what each question scores alone."""
    fitted = fewshot.fit_decoder(context(shot_selection="similar", max_shots=2))
    fitted.lm.batch_size = 3
    questions = list(QUESTIONS.values())
    prompts = fitted.render(questions)
    assert len(set(prompts)) == len(questions)  # the shots differ, so the prompts do
    batched = fitted.predict_proba(questions)
    alone = np.vstack([fitted.predict_proba([q]) for q in questions])
    np.testing.assert_allclose(batched, alone, atol=1e-4)


def test_balanced_selection_keeps_the_same_shots_for_every_question(context):
    fitted = fewshot.fit_decoder(context(max_shots=4))
    assert fitted.shot_picker is None and len(fitted.shots) == 4
    assert fitted.details["shot_selection"] == "balanced"
    assert sorted(answer for _, answer in fitted.shots) == sorted(TOPICS)  # classes take turns
