"""SetFit: a real contrastive fine-tune of the default encoder on a tiny, clearly separable task."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.config import parse_config
from core.methods import setfit
from core.methods.base import FitContext
from tests.conftest import tiny_config

LABELS = ["animals", "weather", "cooking"]
TRAIN = {
    "animals": ["The dog chased the cat around the garden.", "A horse galloped across the field.",
                "The kitten purred on the sofa.", "Wolves howled at the moon all night."],
    "weather": ["Heavy rain is expected tomorrow afternoon.", "It will be sunny and warm this weekend.",
                "A thunderstorm rolled in over the hills.", "Snow fell all morning and the roads froze."],
    "cooking": ["Simmer the onions in butter until golden.", "Bake the bread at 200 degrees for half an hour.",
                "Whisk the eggs with sugar and flour.", "Season the soup with salt and pepper."],
}
HELD_OUT = {
    "animals": ["The puppy wagged its tail at the children.", "An eagle caught a fish in the river.",
                "Cows were grazing in the meadow."],
    "weather": ["Strong winds and hail are forecast tonight.", "Fog covered the valley until noon.",
                "Temperatures will drop below freezing on Monday."],
    "cooking": ["Chop the garlic and fry it in olive oil.", "Stir the sauce and let it reduce slowly.",
                "Knead the dough and let it rise for an hour."],
}


def _texts(split):
    texts = [text for label in LABELS for text in split[label]]
    labels = np.array([i for i, label in enumerate(LABELS) for _ in split[label]])
    return texts, labels


@pytest.fixture(scope="module")
def make_context(base_model, tmp_path_factory):
    cache = EmbeddingCache(tmp_path_factory.mktemp("emb") / "emb.db")

    def make(seed=0, progress=None, **overrides):
        texts, labels = _texts(TRAIN)
        ctx = FitContext(labels=LABELS, train_texts=texts, train_labels=labels, val_texts=[],
                         val_labels=np.array([], dtype=int), corpus=None, base=base_model,
                         embedder=Embedder(base_model, cache), config=parse_config(tiny_config(**overrides)), seed=seed)
        if progress is not None:
            ctx.progress = progress
        return ctx
    return make


@pytest.fixture(scope="module")
def fitted(make_context):
    ticks = []
    model = setfit.fit(make_context(progress=lambda fraction, info: ticks.append((fraction, info))))
    return model, ticks


def test_setfit_fits_predicts_and_beats_chance(fitted):
    model, ticks = fitted
    texts, y = _texts(HELD_OUT)
    probs = model.predict_proba(texts)
    assert probs.shape == (len(texts), len(LABELS))
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4) and (probs >= 0).all()
    accuracy = (probs.argmax(1) == y).mean()
    assert accuracy >= 0.75, f"{accuracy:.2f} on separable texts (chance is 0.33)"
    assert model.predict_proba([]).shape == (0, len(LABELS))
    # 12 examples: 30 positive and 48 negative pairs (with replacement), oversampled to 2 * 48
    assert model.details["pairs"] == setfit.oversampled_pairs(_texts(TRAIN)[1]) == 96
    assert model.details["steps"] == 96 // setfit.BATCH_SIZE and not model.details["stopped_by_budget"]
    assert model.trainable_parameters == model.total_parameters > 20_000_000  # the whole body trains
    assert ticks and ticks[-1][0] == 1.0 and [info["step"] for _, info in ticks[:-1]] == list(range(1, 7))


def test_setfit_exposes_its_fine_tuned_encoder_to_the_forgetting_probe(fitted, base_model):
    from core.evaluation.forgetting import hidden_embeddings

    model, _ = fitted
    texts = ["Paris is the capital of France.", "Whisk the eggs."]
    adapted = hidden_embeddings(model.model, base_model.tokenizer, texts, base_model.device, 64)
    before = hidden_embeddings(base_model.encoder(), base_model.tokenizer, texts, base_model.device, 64)
    assert adapted.shape == before.shape and not np.allclose(adapted, before, atol=1e-4)  # the body did train


def test_setfit_is_deterministic_for_a_seed(make_context, monkeypatch):
    monkeypatch.setattr(setfit, "MAX_PAIRS", 2 * setfit.BATCH_SIZE)  # two steps each: seeding, not learning
    first, again, other = (setfit.fit(make_context(seed=seed)) for seed in (0, 0, 1))
    assert first.details["steps"] == 2
    texts, _ = _texts(HELD_OUT)
    assert np.allclose(first.predict_proba(texts), again.predict_proba(texts), atol=1e-6)
    assert not np.allclose(first.predict_proba(texts), other.predict_proba(texts), atol=1e-6)  # the seed counts


def test_setfit_saves_safetensors_and_no_pickles(fitted, tmp_path, base_model):
    model, _ = fitted
    model.save(tmp_path)
    files = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()}
    assert "body/model.safetensors" in files and "head.npz" in files
    assert not [f for f in files if f.endswith((".bin", ".pkl", ".pt", ".pth", ".joblib"))], files
    head = np.load(tmp_path / "head.npz", allow_pickle=False)
    assert head["coef"].shape == (len(LABELS), base_model.config.hidden_size)
    assert head["classes"].tolist() == [0, 1, 2]


def test_setfit_stops_at_the_time_budget(make_context):
    model = setfit.fit(make_context(budget={"max_train_seconds": 0.001}))
    assert model.details["stopped_by_budget"] and model.details["steps"] == 1
    assert model.predict_proba(["Rain and wind tonight."]).shape == (1, len(LABELS))


def test_pairs_are_capped_for_large_training_sets():
    assert setfit.oversampled_pairs(np.array([0, 0, 1, 1])) == 12  # 6 positive pairs (3 + 3), 4 negative
    rows, steps = setfit.plan_pairs(np.repeat(np.arange(5), 8), seed=0)  # 8 per class: SetFit's own epoch
    assert len(rows) == 40 and steps == setfit.oversampled_pairs(np.repeat(np.arange(5), 8)) // setfit.BATCH_SIZE
    labels = np.repeat(np.arange(5), 2000)
    assert setfit.oversampled_pairs(labels) > 1000 * setfit.MAX_PAIRS  # why the caps exist
    rows, steps = setfit.plan_pairs(labels, seed=0)
    assert len(rows) == setfit.MAX_PAIR_TEXTS == len(set(rows.tolist()))
    assert steps == setfit.MAX_PAIRS // setfit.BATCH_SIZE
    assert np.array_equal(rows, setfit.plan_pairs(labels, seed=0)[0])
    assert not np.array_equal(rows, setfit.plan_pairs(labels, seed=1)[0])


def test_importing_setfit_method_imports_no_torch():
    code = ("import sys, core.methods.setfit; heavy = [m for m in ('torch', 'setfit', 'sentence_transformers', "
            "'datasets', 'transformers') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


def test_setfit_runs_in_a_grid_with_the_cli_progress_bars(tmp_path):
    # the CLI's bars format the loss the run reports; SetFit knows none before its first log
    from core.cli import CliProgress
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from tests.conftest import tiny_config

    config = parse_config(tiny_config("setfit-grid", methods=["setfit"], sizes=[4],
                                      budget={"max_epochs": 1, "min_steps": 2, "max_train_seconds": 3}))
    with CliProgress() as progress:
        result = run_experiment(config, SqlStore(tmp_path / "results.db"), progress)
    record = result.runs.record.iloc[0]
    assert result.runs.status.tolist() == ["finished"], record.get("error")
    assert record["details"]["stopped_by_budget"] and record["accuracy"] > 0
