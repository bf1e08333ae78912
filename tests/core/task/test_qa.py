import json

import pandas as pd
import pytest

from core.config import TaskSpec
from core.errors import DataError
from core.task.load import load_task
from core.task.qa import parse_list, validate_qa_task

ALIASES = ["U.K.", "Britain, officially"]  # a comma and dots: they must survive every format


def _questions(n=40):
    """n questions; every third has options, every fourth a passage, the first has two aliases."""
    return [{"question": f"What is the capital of region {i}?", "answer": f"City {i}",
             "aliases": ALIASES if i == 0 else [],
             "options": [f"City {i}", f"Town {i}", "Nowhere"] if i % 3 == 0 else [],
             "context": f"Region {i} is governed from City {i}." if i % 4 == 0 else ""} for i in range(n)]


def _write(rows, path, fmt):
    frame = pd.DataFrame(rows)
    if fmt == "csv-pipes":  # the spreadsheet way: "a|b"
        frame = frame.assign(aliases=frame.aliases.map("|".join), options=frame.options.map("|".join))
        frame.to_csv(path, index=False)
    elif fmt == "csv-lists":  # JSON lists for aliases, Python-style lists for options
        frame = frame.assign(aliases=frame.aliases.map(json.dumps),
                             options=frame.options.map(lambda o: str(o) if o else ""))
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


def _load(tmp_path, rows, fmt="jsonl", **spec):
    suffix = {"csv-pipes": "csv", "csv-lists": "csv"}.get(fmt, fmt)
    path = _write(rows, tmp_path / f"qa.{suffix}", fmt)
    return load_task(TaskSpec(path=path, kind="qa", **spec))


def _all(task):
    return pd.concat([task.train, task.validation, task.test]).set_index("row").sort_index()


@pytest.mark.parametrize("fmt", ["csv-pipes", "csv-lists", "jsonl", "parquet"])
def test_every_format_loads_questions_with_aliases_options_and_passages(tmp_path, fmt):
    task = _load(tmp_path, _questions(), fmt)
    assert task.kind == "qa"
    rows = _all(task)
    assert len(rows) == 40
    assert list(task.train.columns) == ["text", "label", "row", "aliases", "options", "context"]
    first, third = rows.loc[1], rows.loc[4]  # source rows 1 and 4: questions 0 and 3
    assert first.text == "What is the capital of region 0?" and first.label == "City 0"
    assert first.aliases == ["City 0", *ALIASES]  # the reference first, always
    assert first.options == ["City 0", "Town 0", "Nowhere"]
    assert first.context == "Region 0 is governed from City 0."
    assert third.aliases == ["City 3"] and third.options == ["City 3", "Town 3", "Nowhere"] and third.context == ""
    assert rows.loc[2].options == []


def test_column_names_are_mapped_and_optional_columns_may_be_absent(tmp_path):
    rows = [{"q": f"Question {i}?", "a": f"answer {i}"} for i in range(12)]
    task = _load(tmp_path, rows, question_column="q", answer_column="a")
    every = _all(task)
    assert every.loc[3].text == "Question 2?" and every.loc[3].aliases == ["answer 2"]
    assert (every.options.map(len) == 0).all() and (every.context == "").all()


@pytest.mark.parametrize("missing, named", [("question", "question column 'question'"),
                                            ("answer", "answer column 'answer'")])
def test_a_missing_question_or_answer_column_is_named_with_the_columns_present(tmp_path, missing, named):
    rows = [{k: v for k, v in row.items() if k != missing} for row in _questions(10)]
    with pytest.raises(DataError) as caught:
        _load(tmp_path, rows, "csv-pipes")
    message = str(caught.value)
    assert named in message and "qa.csv" in message
    assert "'aliases'" in message and "'context'" in message and "question_column" in message


def test_options_must_include_the_answer_and_be_more_than_one(tmp_path):
    rows = _questions(12)
    rows[4]["options"] = ["Town 4", "Nowhere"]  # source row 5: the answer is missing
    rows[7]["options"] = ["City 7"]  # source row 8: one option is no choice
    with pytest.raises(DataError) as caught:
        _load(tmp_path, rows)
    problems = caught.value.problems
    assert any("do not include the answer" in p and "row(s) 5" in p for p in problems)
    assert any("single answer option" in p and "row(s) 8" in p for p in problems)


def test_empty_questions_answers_and_unreadable_lists_are_named_by_row_together(tmp_path):
    rows = _questions(12)
    rows[2]["question"] = "   "
    rows[5]["answer"] = ""
    frame = pd.DataFrame(rows).assign(aliases="", options="")
    frame.loc[8, "aliases"] = "['unclosed"
    frame.to_csv(tmp_path / "qa.csv", index=False)
    with pytest.raises(DataError) as caught:
        load_task(TaskSpec(path=tmp_path / "qa.csv", kind="qa"))
    problems = caught.value.problems
    assert len(problems) == 3
    assert any("question(s) are empty" in p and "row(s) 3" in p for p in problems)
    assert any("no answer" in p and "row(s) 6" in p for p in problems)
    assert any("'aliases' is not a list" in p and "row(s) 9" in p for p in problems)


@pytest.mark.parametrize("cell, expected", [
    ('["a", "b, c"]', ["a", "b, c"]),
    ("['a', \"it's\"]", ["a", "it's"]),
    ("a | b|a", ["a", "b"]),
    ("", []),
    ("one answer", ["one answer"]),
    ([1.0, None, " x "], ["1", "x"]),
])
def test_a_list_cell_in_each_accepted_form(cell, expected):
    assert parse_list(cell) == expected


def test_a_random_split_has_the_configured_sizes_and_depends_only_on_the_seed(tmp_path):
    first = _load(tmp_path, _questions())
    assert (len(first.train), len(first.validation), len(first.test)) == (26, 4, 10)
    again = _load(tmp_path, _questions())
    assert first.test.text.tolist() == again.test.text.tolist()
    other = _load(tmp_path, _questions(), split_seed=1)
    assert set(first.test.text) != set(other.test.text)
    assert not set(first.train.text) & set(first.test.text)
    smaller = _load(tmp_path, _questions(), test_fraction=0.5, validation_fraction=0.2)
    assert (len(smaller.train), len(smaller.validation), len(smaller.test)) == (12, 8, 20)


def test_too_few_questions_to_split_is_refused(tmp_path):
    with pytest.raises(DataError, match="cannot be split"):
        _load(tmp_path, _questions(2))


def test_a_split_column_and_files_per_split(tmp_path):
    rows = [{**row, "part": ("train", "train", "dev", "test")[i % 4]} for i, row in enumerate(_questions(20))]
    task = _load(tmp_path, rows, split_column="part",
                 split_names={"train": "train", "validation": "dev", "test": "test"})
    assert (len(task.train), len(task.validation), len(task.test)) == (10, 5, 5)
    assert "part" not in task.train.columns
    _write(_questions(20)[:15], tmp_path / "train.jsonl", "jsonl")
    _write(_questions(20)[15:], tmp_path / "test.parquet", "parquet")
    task = load_task(TaskSpec(train=tmp_path / "train.jsonl", test=tmp_path / "test.parquet", kind="qa"))
    assert (len(task.train), len(task.validation), len(task.test)) == (13, 2, 5)
    assert task.test.options.iloc[0] == ["City 15", "Town 15", "Nowhere"]
    assert any("held out" in note for note in task.notes)
    assert [source.get("split") for source in task.provenance["sources"]] == ["train", "test"]


def test_duplicate_questions_are_dropped_before_splitting(tmp_path):
    rows = _questions(20)
    copies = [{**row, "question": row["question"].upper() + "  "} for row in rows]  # same question, other case
    task = _load(tmp_path, rows + copies)
    assert len(_all(task)) == 20
    assert any("20 duplicate question(s) dropped" in note for note in task.notes)


def test_leakage_stops_the_run_or_is_dropped_from_train(tmp_path):
    _write(_questions(20)[:15], tmp_path / "train.jsonl", "jsonl")
    leaked = [{**row, "question": row["question"].lower()} for row in _questions(20)[13:]]  # 13, 14 leak
    _write(leaked, tmp_path / "test.jsonl", "jsonl")
    spec = TaskSpec(train=tmp_path / "train.jsonl", validation=tmp_path / "test.jsonl", test=tmp_path / "test.jsonl",
                    kind="qa")
    report = validate_qa_task(load_task(spec))
    assert any("2 train example(s) also appear in test" in e and "drop_leaked_from_train" in e
               for e in report.errors)
    task = load_task(spec)
    report = validate_qa_task(task, drop_leaked_from_train=True)
    assert report.ok and len(task.train) == 13
    assert any("dropped from train" in w for w in report.warnings)


def test_sizes_larger_than_train_and_empty_splits_are_errors(tmp_path):
    task = _load(tmp_path, _questions())
    assert validate_qa_task(task, sizes=[8, 26, "all"]).ok
    report = validate_qa_task(task, sizes=[8, 27])
    assert any("27 training questions but train has 26" in e for e in report.errors)
    task.validation = task.validation.iloc[:0]
    assert any("validation split is empty" in e for e in validate_qa_task(task).errors)


def test_statistics_for_the_data_page(tmp_path):
    task = _load(tmp_path, _questions())
    report = validate_qa_task(task, sizes=[8])
    stats = report.stats
    assert stats["rows"] == {"train": 26, "validation": 4, "test": 10}
    assert stats["kind"] == "qa" and stats["corpus_documents"] == 0
    # _questions gives options to every third question and a passage to every fourth (row = index + 1)
    assert stats["with_options"]["test"] == pytest.approx(((task.test.row - 1) % 3 == 0).mean())
    assert stats["with_context"]["train"] == pytest.approx(((task.train.row - 1) % 4 == 0).mean())
    assert stats["question_chars"]["max"] == task.train.text.str.len().max()
    assert stats["answer_chars"]["min"] == task.train.label.str.len().min()


def test_a_corpus_gets_ids_and_warnings_for_quoted_questions_and_bare_answers(tmp_path):
    questions = _write(_questions(), tmp_path / "qa.jsonl", "jsonl")
    task = load_task(TaskSpec(path=questions, kind="qa"))
    test_question, test_answer = task.test.text.iloc[0], task.test.label.iloc[1]
    passages = ["City 1 is a harbour town.", f"A quiz once asked: {test_question} Nobody knew.", "", test_answer]
    pd.DataFrame({"text": passages, "label": ["x"] * 4}).to_csv(tmp_path / "corpus.csv", index=False)
    task = load_task(TaskSpec(path=questions, kind="qa", corpus={"path": tmp_path / "corpus.csv"}))
    assert task.corpus.id.tolist() == ["p1", "p2", "p4"]  # the row in the file, empty passages dropped
    assert set(task.corpus.label) == {""}  # a passage is prose, never a label
    warnings = validate_qa_task(task).warnings
    assert any("1 of 10 test texts appear verbatim in the corpus" in w for w in warnings)
    assert any("nothing but a test answer" in w and "row(s) 4" in w for w in warnings)

    pd.DataFrame({"id": ["a", "b", "c"], "text": ["one", "two", "three"]}).to_csv(tmp_path / "ids.csv", index=False)
    task = load_task(TaskSpec(path=questions, kind="qa", corpus={"path": tmp_path / "ids.csv"}))
    assert task.corpus.id.tolist() == ["a", "b", "c"]
    assert not validate_qa_task(task).warnings
    pd.DataFrame({"id": ["a", "b", "a"], "text": ["one", "two", "three"]}).to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(DataError, match=r"\['a'\] are used more than once \(row\(s\) 1, 3\)"):
        load_task(TaskSpec(path=questions, kind="qa", corpus={"path": tmp_path / "ids.csv"}))


def test_what_reading_changed_becomes_a_note_of_the_task(tmp_path):
    frame = pd.DataFrame(_questions(12)).assign(aliases="", options="")
    text = frame.to_csv(index=False).replace("question,answer,aliases", "question,answer,answer", 1)
    (tmp_path / "qa.csv").write_text(text)
    task = load_task(TaskSpec(path=tmp_path / "qa.csv", kind="qa"))
    assert len(task.train) and task.train.label.str.startswith("City ").all()  # the first 'answer' column is the answer
    assert any("qa.csv" in note and "'answer'" in note for note in task.notes)


@pytest.mark.parametrize("fmt", ["csv-pipes", "jsonl", "parquet"])
def test_source_covered_and_origin_columns_are_kept_and_covered_is_analysed(tmp_path, fmt):
    rows = [{**row, "source": f"handbook.md#{i % 5}", "covered": i % 4 != 0, "origin": "user"}
            for i, row in enumerate(_questions(40))]
    task = _load(tmp_path, rows, fmt)
    loaded = _all(task)
    assert loaded.source.tolist() == [row["source"] for row in rows]
    assert loaded.covered.tolist() == [row["covered"] for row in rows] and loaded.covered.dtype == bool
    assert (loaded.origin == "user").all()
    assert not any("not read" in note for note in task.notes)
    # the covered/uncovered analysis of every QA run (core/evaluation/qa.py reads test.covered)
    from core.evaluation.metrics import qa_metrics

    test = task.test
    metrics, _ = qa_metrics(test.label.tolist(), test.aliases.tolist(), covered=test.covered.to_numpy())
    assert set(metrics["by_coverage"]) == {"covered", "uncovered"}
    assert metrics["by_coverage"]["uncovered"]["accuracy"] == 1.0


def test_covered_must_read_as_true_or_false(tmp_path):
    rows = [{**row, "covered": "maybe" if i == 3 else "FALSE" if i % 2 else "yes"}
            for i, row in enumerate(_questions(12))]
    with pytest.raises(DataError, match=r"column 'covered' is not true or false in row\(s\) 4;"):
        _load(tmp_path, rows, "jsonl")
    rows[3]["covered"] = "True"
    assert _all(_load(tmp_path, rows, "jsonl")).covered.tolist() == [i % 2 == 0 or i == 3 for i in range(12)]


def test_a_column_adaptlab_does_not_read_is_named_in_a_warning(tmp_path):
    rows = [{**row, "alias": "UK", "difficulty": "easy"} for row in _questions(20)]  # 'alias' is a misspelt 'aliases'
    task = _load(tmp_path, rows, "csv-pipes")
    notes = [note for note in task.notes if "not read" in note]
    assert len(notes) == 1 and "'alias', 'difficulty'" in notes[0] and notes[0].startswith("qa.csv:")
    assert notes[0] in validate_qa_task(task).warnings


def test_a_file_with_sources_is_split_by_source_and_its_uncovered_questions_are_test_only(tmp_path):
    rows = [{**row, "source": f"chapter{i % 10}.md", "covered": i % 10 != 9} for i, row in enumerate(_questions(60))]
    task = _load(tmp_path, rows, "jsonl")
    sources = {split: set(getattr(task, split).source) for split in ("train", "validation", "test")}
    assert not (sources["train"] & sources["test"] or sources["train"] & sources["validation"]
                or sources["validation"] & sources["test"])
    assert task.test.covered.sum() > 0 and (~task.test.covered).sum() == 6  # chapter9.md: the documents lack it
    assert task.train.covered.all() and task.validation.covered.all()
    assert any("split by the `source` column" in note for note in task.notes)
    # without a covered column nothing is marked, and without sources the split stays random
    plain = _load(tmp_path, [{**row, "source": f"c{i % 10}"} for i, row in enumerate(_questions(60))], "jsonl")
    assert "covered" not in plain.test and not set(plain.train.source) & set(plain.test.source)
    few = [{**row, "source": "one.md"} for row in _questions(20)]
    with pytest.raises(DataError, match=r"qa.jsonl: 20 question\(s\) from 1 source\(s\) cannot fill"):
        _load(tmp_path, few, "jsonl")


def test_a_users_covered_column_gets_the_covered_and_uncovered_results_of_a_run(tmp_path, tiny_llama):
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    rows = [{**row, "source": f"chapter{i % 8}.md", "covered": i % 8 != 7} for i, row in enumerate(_questions(40))]
    path = _write(rows, tmp_path / "qa.jsonl", "jsonl")
    config = parse_config({"name": "own-qa", "task": {"path": str(path), "kind": "qa"}, "methods": ["prompt"],
                           "model": {"name": str(tiny_llama), "precision": "fp32"}, "sizes": [4], "seeds": [0],
                           "llm": {"context_length": 256, "max_new_tokens": 4}})
    store = SqlStore(str(tmp_path / "r.db"))
    result = run_experiment(config, store)
    assert result.failed == 0
    record = store.runs_frame("own-qa").record.iloc[0]
    assert set(record["by_coverage"]) == {"covered", "uncovered"}
