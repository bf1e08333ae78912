"""The decoder path on a tiny random Llama: scoring, generation, prompts, fine-tuning, method choice, a grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.backbone.lm import LanguageModel
from core.backbone.models import BaseModel
from core.backbone.prompts import PromptBuilder, PromptParts
from core.config import parse_config
from core.errors import ConfigError, ModelLoadError
from core.training.sft import IGNORE, Example, encode_examples


@pytest.fixture
def tiny_base(tiny_llama):
    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 256
    return base


@pytest.fixture
def tiny_lm(tiny_base):
    return LanguageModel(tiny_base.causal_lm(), tiny_base.tokenizer, tiny_base.device, None, batch_size=4,
                         max_new_tokens=5)


def test_a_decoder_loads_as_a_decoder(tiny_base):
    assert tiny_base.family == "decoder"
    assert type(tiny_base.causal_lm()).__name__ == "LlamaForCausalLM"


def test_an_encoder_refuses_to_be_a_language_model(base_model):
    with pytest.raises(ModelLoadError, match="encoder"):
        base_model.causal_lm()


def test_batched_loglikelihoods_equal_one_at_a_time(tiny_lm):
    """Left padding with positions from the mask: a padded row scores what it scores alone."""
    prompts = ["A short prompt", "A much longer prompt with many more words in it than the first", "Mid size one"]
    continuations = [" yes", " no way at all", " maybe"]
    batched = tiny_lm.loglikelihoods(prompts, continuations)
    alone = [tiny_lm.loglikelihoods([p], [c])[0] for p, c in zip(prompts, continuations)]
    np.testing.assert_allclose(batched, alone, atol=1e-4)
    assert (batched < 0).all()


def test_loglikelihood_matches_a_plain_forward_pass(tiny_lm):
    prompt, continuation = "Which label", " sports"
    ids = tiny_lm.encode([prompt + continuation])[0]
    n = len(tiny_lm.encode([continuation])[0])
    with torch.no_grad():
        logits = tiny_lm.model(torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits, -1)
    expected = sum(logprobs[t - 1, ids[t]].item() for t in range(len(ids) - n, len(ids)))
    assert tiny_lm.loglikelihoods([prompt], [continuation])[0] == pytest.approx(expected, abs=1e-4)


def test_batched_generation_equals_one_at_a_time(tiny_lm):
    prompts = ["Question one", "A second, longer question with more words", "Third"]
    batched, counts = tiny_lm.generate(prompts)
    alone = [tiny_lm.generate([p], batch_size=1)[0][0] for p in prompts]
    assert batched == alone
    assert len(counts) == len(prompts) and all(0 <= c <= tiny_lm.max_new_tokens for c in counts)


def few_shot_prompts(tiny_base, questions: list[str]) -> list[str]:
    """Prompts as a few-shot run renders them: the same instruction and examples, then each question."""
    builder = PromptBuilder(tiny_base.tokenizer, budget=10_000)
    shots = [("A long example text about the sea and the ship", "startrek"), ("Another example, short", "zippy"),
             ("Murphy says what can go wrong will go wrong", "murphy")]
    return [builder.render(PromptParts("Classify the text. Answer with one label.", q, shots)) for q in questions]


def test_prompts_that_start_alike_share_one_cache_and_score_what_they_score_alone(tiny_lm, tiny_base):
    questions = ["Which label", "A much longer question with many more words in it than the first", "Third one"]
    prompts = few_shot_prompts(tiny_base, questions)
    shared = tiny_lm.shared_prefix(tiny_lm.encode(prompts))
    assert shared >= 16  # the instruction and the shots: the shared-start path runs
    choices = [[" zippy", " startrek", " murphy"]] * len(prompts)
    together = tiny_lm.choice_loglikelihoods(prompts, choices)
    pairwise = [tiny_lm.loglikelihoods([p] * len(c), c) for p, c in zip(prompts, choices)]
    for row, expected in zip(together, pairwise):
        np.testing.assert_allclose(row, expected, atol=1e-4)
    # and without a shared start (different instructions), the same scores as pairwise
    plain = tiny_lm.choice_loglikelihoods(["Short one", "Another prompt entirely"], [[" yes", " no"]] * 2)
    np.testing.assert_allclose(plain[1], tiny_lm.loglikelihoods(["Another prompt entirely"] * 2, [" yes", " no"]),
                               atol=1e-4)


def test_generation_after_a_shared_start_equals_each_prompt_alone(tiny_lm, tiny_base):
    prompts = few_shot_prompts(tiny_base, ["Question one", "A second, longer question with more words", "Third"])
    assert tiny_lm.shared_prefix(tiny_lm.encode(prompts)) >= 16
    batched, counts = tiny_lm.generate(prompts)
    alone = [tiny_lm.generate([p], batch_size=1) for p in prompts]  # one prompt: no shared start, the plain path
    assert batched == [a[0][0] for a in alone] and counts == [a[1][0] for a in alone]


def test_the_shared_start_leaves_each_prompt_a_token_and_ignores_short_ones():
    from core.backbone.lm import PREFIX_MIN_TOKENS, LanguageModel

    start = list(range(100, 100 + PREFIX_MIN_TOKENS))
    assert LanguageModel.shared_prefix([start + [1, 2], start + [1, 3]]) == PREFIX_MIN_TOKENS + 1
    # the shorter row keeps one token of its own, which leaves a shared start under the minimum
    assert LanguageModel.shared_prefix([start, start + [5]]) == 0
    assert LanguageModel.shared_prefix([start[:5] + [1], start[:5] + [2]]) == 0  # too short to be worth a cache
    assert LanguageModel.shared_prefix([start + [1]]) == 0  # a single prompt has nothing to share


def test_a_prompt_over_budget_loses_passages_first_and_is_counted(tiny_base):
    builder = PromptBuilder(tiny_base.tokenizer, budget=10_000)
    parts = PromptParts("Answer.", "Which country is Paris in?", shots=[("q", "a")],
                        passages=["Paris is in France.", "Lyon is a city. " * 40])
    full = builder.render(parts)
    assert "Lyon" in full and builder.cut == 0
    builder.budget = builder.length(full) - 20
    cut = builder.render(parts)
    assert "Paris is in France." in cut and "Lyon" not in cut  # the less relevant (later) passage went first
    assert "q" in cut and builder.cut == 1


def test_a_model_without_chat_template_uses_the_plain_layout(tmp_path, monkeypatch):
    from tests.decoder_model import build_tiny_llama

    folder = build_tiny_llama(tmp_path / "plain", ["Question Answer plain text"], chat=False)
    monkeypatch.setenv("ADAPTLAB_MODEL_ROOTS", str(tmp_path))
    base = BaseModel.load(str(folder), device="cpu")
    builder = PromptBuilder(base.tokenizer, 500)
    assert not builder.chat
    assert builder.render(PromptParts("Answer.", "Why?")).endswith("Question: Why?\nAnswer:")


def test_sft_labels_mask_the_prompt_and_keep_the_answer(tiny_base):
    ids, labels = encode_examples(tiny_base.tokenizer, [Example("The prompt words", "answer")], 256, "<|im_end|>")
    answer = tiny_base.tokenizer("answer<|im_end|>", add_special_tokens=False)["input_ids"]
    assert ids[0][-len(answer):] == answer and labels[0][-len(answer):] == answer
    prompt_labels = labels[0][:-len(answer)]
    assert prompt_labels and all(label == IGNORE for label in prompt_labels)
    # too long: the prompt loses its start, the answer stays whole
    ids, labels = encode_examples(tiny_base.tokenizer, [Example("word " * 300, "answer")], 32, "<|im_end|>")
    assert len(ids[0]) == 32 and ids[0][-len(answer):] == answer


def _config(folder, **overrides) -> dict:
    config = {"name": "tiny-llm", "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
              "model": {"name": str(folder), "precision": "fp32"}, "sizes": [4], "seeds": [0],
              "budget": {"max_epochs": 1, "min_steps": 2}, "training": {"batch_size": 8},
              "llm": {"context_length": 256, "max_new_tokens": 4}}
    config.update(overrides)
    return config


def test_decoder_default_methods_and_refusals(tiny_llama, base_model, fortunes_small):
    from core.running.runner import choose_methods

    config = parse_config(_config(tiny_llama))
    assert choose_methods(config, "decoder", fortunes_small) == ["prompt", "fewshot", "rag", "lora", "full", "scratch"]
    assert "probe" in choose_methods(parse_config(_config("default")), "encoder", fortunes_small)
    with pytest.raises(ConfigError, match="probe do not run on a decoder LLM"):
        choose_methods(parse_config(_config(tiny_llama, methods=["prompt", "probe"])), "decoder", fortunes_small)
    with pytest.raises(ConfigError, match="fewshot do not run on a sentence encoder"):
        choose_methods(parse_config(_config("default", methods=["fewshot"])), "encoder", fortunes_small)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal that happens without CUDA")
def test_qlora_without_cuda_is_refused_in_one_sentence(tiny_llama, fortunes_small):
    from core.running.runner import choose_methods

    with pytest.raises(ConfigError, match="needs a CUDA GPU") as refused:
        choose_methods(parse_config(_config(tiny_llama, methods=["qlora"])), "decoder", fortunes_small)
    assert "\n" not in str(refused.value)


def test_lora_sft_lowers_the_loss_on_its_examples(tiny_llama):
    from core.methods.base import FitContext
    from core.methods.decoder import fits as decoder
    from core.training.sft import mean_loss

    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 128
    # a random 2-layer model learns slowly: a large step makes 30 steps enough to see it learn
    config = parse_config(_config(tiny_llama, budget={"max_epochs": 30, "min_steps": 30, "patience": 100},
                                  llm={"learning_rates": {"lora": 2e-2}, "context_length": 256}))
    texts = ["first text here", "second text here", "third one", "fourth one"]
    ctx = FitContext(labels=["a", "b"], train_texts=texts, train_labels=np.array([0, 1, 0, 1]), val_texts=texts,
                     val_labels=np.array([0, 1, 0, 1]), corpus=None, base=base, embedder=None, config=config, seed=0)
    prompts = PromptBuilder(base.tokenizer, 100)
    examples = decoder.sft_examples(ctx, prompts, decoder.training_pairs(ctx)[0])
    ids, labels = encode_examples(base.tokenizer, examples, 128, "<|im_end|>")
    model = decoder.with_lora(ctx, base.causal_lm())
    before = mean_loss(model, base, ids, labels, 8)
    fitted = decoder.supervised(ctx, model, "lora")
    after = mean_loss(fitted.lm.model, base, ids, labels, 8)
    assert after < before - 0.5
    assert 0 < fitted.trainable_parameters < fitted.total_parameters
    assert fitted.details["steps"] >= 30


def test_a_decoder_grid_runs_every_default_method(tiny_llama):
    from core.running.runner import run_experiment

    result = run_experiment(parse_config(_config(tiny_llama)))
    runs = result.runs.set_index("method")
    assert set(runs.index) == {"prompt", "fewshot", "rag", "lora", "full", "scratch"}
    assert (runs.status == "finished").all(), runs.get("error")
    assert runs.loc["prompt", "trainable_parameters"] == 0
    assert runs.loc["lora", "trainable_parameters"] < runs.loc["full", "trainable_parameters"]
    record = result.runs.set_index("method").loc["rag"]
    assert record.total_parameters > runs.loc["prompt", "total_parameters"]  # the retrieval encoder counts


def test_qa_on_a_sentence_encoder_is_refused_in_one_sentence(tmp_path):
    import json

    from core.running.runner import choose_methods
    from core.task.qa import load_qa_task

    rows = [{"question": f"Question {i}?", "answer": f"answer {i}"} for i in range(30)]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    config = parse_config({"name": "qa", "task": {"path": str(tmp_path / "qa.jsonl"), "kind": "qa"},
                           "sizes": [8], "seeds": [0]})
    task = load_qa_task(config.task)
    for settings in (config, parse_config({**config.model_dump(mode="json"), "methods": ["prompt"]})):
        with pytest.raises(ConfigError, match="needs a model that generates answers") as refused:
            choose_methods(settings, "encoder", task)
        assert "\n" not in str(refused.value)


def test_a_qa_grid_records_answers_coverage_retrieval_update_and_forgetting(tiny_llama):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    config = parse_config(_config(tiny_llama, name="tiny-geo-qa",
                                  task={"builtin": "geo-qa", "kind": "qa", "builtin_options": {"quick": True}},
                                  methods=["prompt", "rag", "lora", "corpus_ft"], sizes=[16], rag={"k": 2}))
    store = SqlStore()
    result = run_experiment(config, store)
    runs = store.runs_frame(config.name, with_predictions=True).set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    stored = store.experiment(config.name)
    questions = stored["task"]["questions"]
    assert stored["test_labels"] == [1] * len(questions) and stored["task"]["kind"] == "qa"
    for method, run in runs.iterrows():
        record = run.record
        assert len(record["answers"]) == len(questions) and len(run.predictions) == len(questions)
        assert run.accuracy == pytest.approx(sum(run.predictions) / len(questions))  # EM is the quality axis
        assert set(record["by_coverage"]) == {"covered", "uncovered"}
        assert 0 <= record["abstention_rate"] <= 1 and 0 <= record["wrong_answer_rate"] <= 1
        assert record["knowledge_update"]["examples"] > 0
    rag = runs.loc["rag"].record
    assert 0 <= rag["retrieval_recall"] <= 1 and len(rag["retrieved"]) == len(questions)
    assert all(len(found) == 2 for found in rag["retrieved"])
    assert all(passage in stored["task"]["passages"] for found in rag["retrieved"] for passage in found)
    assert rag["knowledge_update"]["how"] == "indexed the new documents"
    assert runs.loc["lora"].record["knowledge_update"]["how"] == "continued training on the new passages"
    assert runs.loc["prompt"].record["knowledge_update"]["updatable"] is False
    assert {"perplexity_base", "perplexity_after", "general_kept"} <= set(runs.loc["lora"].record["forgetting"])
    assert "forgetting" not in runs.loc["prompt"].record
    assert result.executed == 4 and runs.loc["corpus_ft", "size"] == "0"  # uses no labelled examples: one run


@pytest.mark.parametrize("method", [m for m, spec in __import__("core.methods", fromlist=["METHODS"]).METHODS.items()
                                    if spec.offered_on("decoder") and m not in ("qlora", "tfidf")])
def test_each_decoder_method_fits_classifies_and_saves(method, tiny_llama, fortunes_small, tmp_path):
    import pandas as pd

    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.methods import METHODS
    from core.methods.base import FitContext

    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 256
    labels = fortunes_small.labels
    index = {label: i for i, label in enumerate(labels)}
    train = fortunes_small.train.groupby("label").head(2)
    config = parse_config(_config(tiny_llama, budget={"max_epochs": 1, "min_steps": 2}))
    corpus = pd.DataFrame({"text": ["A limerick has five lines.", "Zippy the pinhead speaks."], "label": "",
                           "id": ["a", "b"]})
    retrieval = Embedder(BaseModel.load("default", device="cpu", max_length=64), EmbeddingCache(tmp_path / "e.db"))
    ctx = FitContext(labels=labels, train_texts=train.text.tolist(), train_labels=train.label.map(index).to_numpy(),
                     val_texts=train.text.tolist()[:4], val_labels=train.label.map(index).to_numpy()[:4],
                     corpus=corpus, base=base, embedder=retrieval, config=config, seed=0, train_frame=train,
                     val_frame=train.head(4), retrieval=retrieval)
    fitted = METHODS[method].fit_for("decoder")(ctx)
    texts = fortunes_small.test.text.tolist()[:6]
    probs = fitted.predict_proba(texts)
    assert probs.shape == (6, len(labels)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    folder = tmp_path / "saved"
    folder.mkdir()
    fitted.save(folder)
    assert (folder / "prompt.json").is_file()
    trains = METHODS[method].trains_network
    assert (fitted.trainable_parameters > 0) == trains
    assert any(folder.glob("*.safetensors")) == trains  # an adapter or the whole model, as safetensors


def test_prompts_cut_are_counted_once_though_options_render_them_again(tiny_base):
    import pandas as pd

    from core.evaluation.qa import evaluate_qa
    from core.methods.decoder.predictors import DecoderPredictor

    lm = LanguageModel(tiny_base.causal_lm(), tiny_base.tokenizer, tiny_base.device, None, max_new_tokens=2)
    fitted = DecoderPredictor(lm, PromptBuilder(tiny_base.tokenizer, 40), "qa", "Answer.")
    test = pd.DataFrame({"text": ["word " * 60] * 3, "label": ["a", "b", "c"], "aliases": [["a"], ["b"], ["c"]],
                         "options": [["a", "b"], ["b", "c"], ["c", "a"]]})
    metrics, correct, shown = evaluate_qa(fitted, test)
    assert metrics["prompts_cut"] == 3 and len(correct) == 3 and len(shown["answers"]) == 3
