"""Known and unknown facts read from a stored experiment (core/results/known_facts.py): the split on hand-made
runs, the sentence on Gekhman et al.'s finding, and the section in `adaptlab show`, the report and the Knowledge
page, including for experiments stored before the pass existed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.results.known_facts import known_facts_finding, known_facts_table
from core.results.store import SqlStore
from tests.dashboard.conftest import assert_clean, fake_qa_experiment, open_page, qa_questions

QUESTIONS = [{"question": f"q{i}", "answer": answer, "aliases": []} for i, answer in
             enumerate(["Paris", "Rome", "Oslo", "Lima"])]
# q0 known greedily, q1 known only by sampling (its greedy answer is made up), q2 and q3 unknown
PASS = {"samples": 2, "temperature": 0.5, "seconds": 3.5, "questions": [
    {"split": "test", "row": 0, "question": "q0", "greedy": "Paris", "sampled": [], "category": "HighlyKnown"},
    {"split": "test", "row": 1, "question": "q1", "greedy": "Milan", "sampled": ["Rome"], "category": "WeaklyKnown"},
    {"split": "test", "row": 2, "question": "q2", "greedy": "", "sampled": [], "category": "Unknown"},
    {"split": "test", "row": 3, "question": "q3", "greedy": "Bern", "sampled": [], "category": "Unknown"}]}


def run(method, size, seed, answers, unknown_share=None, fit=None) -> dict:
    details = {} if unknown_share is None else {"unknown_share": unknown_share}
    return {"method": method, "size": size, "seed": seed, "status": "finished",
            "record": {"answers": answers, "details": details, **({"known_facts_fit": fit} if fit else {})}}


def test_answer_match_and_made_up_answers_on_known_and_unknown_questions():
    fit = {"known": {"right": 2, "questions": 2}, "unknown": {"right": 1, "questions": 4}}
    runs = pd.DataFrame([
        run("prompt", "0", 0, ["Paris", "Milan", "", "Bern"]),
        run("lora", "8", 0, ["Lyon", "Rome", "Oslo", "I don't know"], 0.5, fit),  # q0 now made up
        run("lora", "8", 1, ["Paris", "Naples", "x", ""], 0.7, fit),  # q1 made up
        {**run("lora", "8", 2, ["Paris"] * 4, 0.6, fit), "status": "failed"}])  # a failed run counts for nothing
    table = known_facts_table(runs, PASS, QUESTIONS).set_index("method")
    prompt, lora = table.loc["prompt"], table.loc["lora"]
    assert (prompt.known_questions, prompt.unknown_questions) == (2, 2)
    assert prompt.match_known == 0.5 and prompt.match_unknown == 0.0
    assert prompt.made_up_known == 0.5 == prompt.base_made_up_known  # it answers as the pass did
    assert np.isnan(prompt.unknown_share) and np.isnan(prompt.fit_known)
    assert lora.seeds == 2 and lora.unknown_share == pytest.approx(0.6)
    assert lora.match_known == 0.5 and lora.match_unknown == 0.25  # Oslo, once in four answers
    assert lora.made_up_known == 0.5  # Lyon and Naples; "I don't know" and "" are not made up
    assert lora.fit_known == 1.0 and lora.fit_known_questions == 4 and lora.fit_unknown == 0.25


def test_the_finding_says_whether_it_holds_with_the_numbers_and_when_the_evidence_is_thin():
    fit = {"known": {"right": 2, "questions": 2}, "unknown": {"right": 1, "questions": 4}}
    runs = pd.DataFrame([run("prompt", "0", 0, ["Paris", "Milan", "", "Bern"]),
                         run("lora", "8", 0, ["Lyon", "Naples", "Oslo", ""], 0.5, fit)])
    finding = known_facts_finding(known_facts_table(runs, PASS, QUESTIONS))
    assert finding.startswith("Gekhman et al.'s finding, in shape, holds here")
    assert "1/4 (25%) of the Unknown facts they trained on against 2/2 (100%)" in finding
    assert "100% of the test questions the base model knew against 50% for the base model (raised" in finding
    assert "too thin to conclude (2 known test question(s), 4 Unknown training fact(s) over 1 run(s), one seed)" \
        in finding

    # forty known questions, two seeds, many Unknown training facts, no more made up than the base: does not hold
    questions = [{"question": f"q{i}", "answer": "Paris", "aliases": []} for i in range(40)]
    stored = {"questions": [{"split": "test", "row": i, "question": f"q{i}", "greedy": "Paris", "sampled": [],
                             "category": "HighlyKnown"} for i in range(40)]}
    even = {"known": {"right": 10, "questions": 20}, "unknown": {"right": 10, "questions": 20}}
    runs = pd.DataFrame([run("lora", "32", seed, ["Paris"] * 40, 0.5, even) for seed in (0, 1)])
    finding = known_facts_finding(known_facts_table(runs, stored, questions))
    assert finding.startswith("Gekhman et al.'s finding, in shape, does not hold here")
    assert "not learned more slowly" in finding and "not raised" in finding and "too thin" not in finding


def test_without_a_fine_tuning_run_the_finding_says_it_cannot_be_told():
    runs = pd.DataFrame([run("prompt", "0", 0, ["Paris", "Milan", "", "Bern"])])
    assert known_facts_finding(known_facts_table(runs, PASS, QUESTIONS)).startswith("No fine-tuning run trained")


def with_pass(store: SqlStore, name: str = "geo-qa-fake") -> None:
    """The fake QA grid, as the pass would have left it: each question's category, lora's share of Unknown facts."""
    fake_qa_experiment(store, name)
    categories = ["HighlyKnown" if i % 3 else "Unknown" for i in range(len(qa_questions()))]
    store.add_task_facts(name, known_facts={"samples": 2, "temperature": 0.5, "seconds": 12.0, "questions": [
        {"split": "test", "row": i, "question": q["question"], "greedy": q["answer"] if c != "Unknown" else "",
         "sampled": [], "category": c} for i, (q, c) in enumerate(zip(qa_questions(), categories))]})
    with store.engine.begin() as db:  # the lora runs trained on a quarter of Unknown facts
        for key in ("lora|32|0", "lora|128|0"):
            record = store.runs_frame(name).set_index("run_key").record[key]
            record["details"] = {"unknown_share": 0.25}
            record["known_facts_fit"] = {"known": {"right": 9, "questions": 12},
                                         "unknown": {"right": 1, "questions": 4}}
            db.exec_driver_sql("UPDATE runs SET record = ? WHERE run_key = ?", (json.dumps(record), key))


def test_show_and_the_report_carry_the_section(tmp_path, capsys):
    location = str(tmp_path / "r.db")
    with_pass(SqlStore(location))
    assert main(["--store", location, "show", "geo-qa-fake"]) == 0
    out = capsys.readouterr().out
    assert "Known and unknown facts" in out and "12.0 s" in out and "Gekhman et al.'s finding" in out
    for form in ("md", "html"):
        path = tmp_path / f"report.{form}"
        assert main(["--store", location, "report", "geo-qa-fake", "--format", form, "-o", str(path)]) == 0
        text = path.read_text()
        assert "Known and unknown facts" in text and "Gekhman et al.&#x27;s finding" in text if form == "html" \
            else "## Known and unknown facts" in text and "Gekhman et al.'s finding" in text
        assert "25%" in text  # lora's share of Unknown facts


def test_an_experiment_stored_before_the_pass_still_reads_and_says_the_pass_did_not_run(tmp_path, capsys):
    location = str(tmp_path / "r.db")
    fake_qa_experiment(SqlStore(location))  # no known_facts: as every experiment stored before the pass
    assert main(["--store", location, "show", "geo-qa-fake"]) == 0
    assert "The known-facts pass did not run for this experiment" in " ".join(capsys.readouterr().out.split())
    path = tmp_path / "report.md"
    assert main(["--store", location, "report", "geo-qa-fake", "--format", "md", "-o", str(path)]) == 0
    assert "The known-facts pass did not run" in path.read_text()


def test_the_knowledge_page_shows_the_split_as_a_table(adaptlab_home, monkeypatch):
    location = adaptlab_home / "results.db"
    with_pass(SqlStore(location))
    monkeypatch.setenv("ADAPTLAB_STORE", str(location))
    app = open_page("knowledge")
    assert_clean(app)
    table = app.dataframe[-1].value
    assert table[table.method == "lora"]["Unknown share trained on"].tolist() == ["25%", "25%"]
    assert table[table.method == "prompt"]["Unknown share trained on"].tolist() == ["–"]
    assert any("Gekhman et al.'s finding" in info.value for info in app.info)
