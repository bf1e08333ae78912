import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from core.cli import main
from tests.conftest import tiny_config
from tests.decision_grid import stored_grid


def _write(tmp_path, config):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_show_export_and_list(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    path = _write(tmp_path, tiny_config(methods=["prompt", "tfidf"], sizes=[4, 8]))
    assert main(["--store", store, "run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 run(s) executed" in out and "tfidf" in out
    assert "accuracy [95% interval]" in out and "no training data" in out
    assert main(["--store", store, "show", "tiny"]) == 0
    assert "prompt" in capsys.readouterr().out
    assert main(["--store", store, "export", "tiny", "--format", "csv", "-o", str(tmp_path / "r.csv")]) == 0
    frame = pd.read_csv(tmp_path / "r.csv")
    assert len(frame) == 3 and {"accuracy", "train_seconds", "per_class_f1"} <= set(frame.columns)
    assert main(["--store", store, "export", "tiny", "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    records = json.loads((tmp_path / "r.json").read_text())
    assert {r["run_key"] for r in records} == {"prompt|0|0", "tfidf|4|0", "tfidf|8|0"}
    assert main(["--store", store, "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["--store", store, "run", str(path)]) == 0
    assert "3 of 3 runs already finished" in capsys.readouterr().out


def test_show_takes_differences_to_the_reference_that_ran(tmp_path, capsys):
    """scratch (the default reference) did not run: the table's differences are to tfidf, which did, not an empty
    column of differences to scratch."""
    from core.results.store import SqlStore
    from tests.dashboard.conftest import fake_experiment

    fake_experiment(SqlStore(tmp_path / "r.db"), methods=("prompt", "lora", "tfidf"))
    assert main(["--store", str(tmp_path / "r.db"), "show", "fake"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "vs tfidf" in out and "vs scratch" not in out


def test_errors_are_one_clear_message_not_a_traceback(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config(sizes=[0])))]) == 2
    captured = capsys.readouterr()
    assert "sizes" in captured.err and "Traceback" not in captured.err
    assert main(["--store", store, "show", "nope"]) == 2
    assert "no results database" in capsys.readouterr().err  # nothing was stored, and reading creates nothing
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config(sizes=[500])))]) == 2
    assert "per class" in capsys.readouterr().err


def _one_run(tmp_path) -> str:
    store = str(tmp_path / "r.db")
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4])))]) == 0
    return store


def _refused(capsys, *words: str) -> str:
    """The last command's error: one sentence on stderr, no traceback, naming each of words."""
    message = capsys.readouterr().err
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    for word in words:
        assert word in message, message
    return message


def test_export_refuses_destinations_it_cannot_write_in_one_sentence(tmp_path, capsys, small_disk):
    from tests.conftest import make_read_only

    store = _one_run(tmp_path)
    capsys.readouterr()
    assert main(["--store", store, "export", "tiny", "-o", str(tmp_path / "missing" / "x.csv")]) == 2
    _refused(capsys, "does not exist")
    assert main(["--store", store, "export", "tiny", "-o", str(tmp_path)]) == 2
    _refused(capsys, "is a folder")
    locked = small_disk(2**20)
    (locked / "x.csv").write_text("kept")
    make_read_only(locked)  # even root cannot write here
    assert main(["--store", store, "export", "tiny", "--force", "-o", str(locked / "x.csv")]) == 2
    _refused(capsys, "cannot write", "Read-only file system")
    assert (locked / "x.csv").read_text() == "kept"


def test_export_never_overwrites_a_file_unless_forced(tmp_path, capsys):
    store = _one_run(tmp_path)
    config = tmp_path / "exp.yaml"
    before = config.read_text()
    capsys.readouterr()
    assert main(["--store", store, "export", "tiny", "-o", str(config)]) == 2
    _refused(capsys, "already exists", "--force")
    assert config.read_text() == before
    assert main(["--store", store, "export", "tiny", "--force", "-o", str(config)]) == 0
    assert pd.read_csv(config).run_key.tolist() == ["tfidf|4|0"]


def test_a_store_that_is_not_a_sound_database_is_one_sentence_for_every_command(tmp_path, capsys):
    config = _write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4]))
    before = config.read_bytes()
    for command in (["run", str(config)], ["list"], ["show", "tiny"], ["export", "tiny", "-o", str(tmp_path / "x")]):
        assert main(["--store", str(config), *command]) == 2, command
        _refused(capsys, "not an adaptlab results database")
    assert config.read_bytes() == before

    store = _one_run(tmp_path)
    with sqlite3.connect(store) as db:  # move the runs from the write-ahead log into the file itself
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = Path(store).stat().st_size
    with open(store, "r+b") as damaged:  # a disk error or a half-copied file: garbage in the middle of the file
        damaged.seek(size // 2)
        damaged.write(bytes(range(256)) * 16)
    capsys.readouterr()
    for command in (["list"], ["show", "tiny"], ["show", "tiny", "--runs"]):
        assert main(["--store", store, *command]) == 2, command
        _refused(capsys, "damaged", "backup")


def test_reading_an_unknown_experiment_or_store_fails_and_creates_nothing(tmp_path, capsys, monkeypatch,
                                                                         adaptlab_home):
    monkeypatch.delenv("ADAPTLAB_STORE", raising=False)
    assert main(["list"]) == 0
    assert "no experiments yet" in capsys.readouterr().out
    assert main(["show", "tiny"]) == 2
    _refused(capsys, "no results database")
    assert not adaptlab_home.exists()  # a read creates neither the folder nor the database

    store = _one_run(tmp_path)
    capsys.readouterr()
    assert main(["--store", store, "show", "nope", "--runs"]) == 2
    _refused(capsys, "no experiment named 'nope'")


def test_seeds_out_of_range_and_a_yaml_bomb_are_refused_before_anything_is_stored(tmp_path, capsys):
    store = tmp_path / "r.db"
    assert main(["--store", str(store), "run", str(_write(tmp_path, tiny_config(seeds=[-1])))]) == 2
    assert "seeds" in capsys.readouterr().err
    bomb = tmp_path / "bomb.yaml"
    levels = [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    bomb.write_text("name: bomb\ntask:\n  builtin: fortunes\n  builtin_options:\n    l0: &l0 [a,a,a,a,a,a,a,a,a]\n"
                    + "".join(f"    {line}\n" for line in levels))
    started = time.perf_counter()
    assert main(["--store", str(store), "run", str(bomb)]) == 2
    assert time.perf_counter() - started < 1
    _refused(capsys, "expands to more than")
    assert not store.exists()


def test_demo_help_lists_the_scenarios_and_refuses_others(capsys):
    from core.task.scenarios import SCENARIOS

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    shown = capsys.readouterr().out
    assert all(name in shown for name in SCENARIOS) and "--seeds N" in shown
    with pytest.raises(SystemExit) as refused:
        main(["demo", "no-such-scenario"])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert main(["demo", "fortunes", "--seeds", "0"]) == 2  # one sentence, nothing run
    assert "--seeds must be between 1 and 100" in capsys.readouterr().err


def test_an_error_quoting_brackets_is_printed_as_text_not_markup(tmp_path, capsys):
    config = _write(tmp_path, tiny_config(methods=["[/magic]", "[bold]"]))
    assert main(["--store", str(tmp_path / "r.db"), "run", str(config)]) == 2
    message = capsys.readouterr().err
    assert "[/magic]" in message and "[bold]" in message and "Traceback" not in message


# -- the decision report without a browser (tests/decision_grid.py: runs written into the store) -----------------
def test_report_writes_the_decision_report_with_the_constraints_given(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    stored_grid(store)
    out = tmp_path / "decision.md"
    assert main(["--store", store, "report", "grid", "-o", str(out), "--accuracy-floor", "0.8", "--latency-ms", "5",
                 "--queries", "1000000"]) == 0
    printed = capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("# Decision report: grid") and f"wrote the decision report to {out}" in printed
    headline = next(line for line in text.splitlines() if line.startswith("**Use "))
    assert headline.strip("*") in printed.replace("\n", " ")
    for expected in ("accuracy floor: 0.800", "latency limit: 5 ms for one query alone", "expected queries: 1,000,000",
                     "## Options at 1,000,000 queries", "## Pareto front", "RAG (32 per class): below the accuracy "
                     "floor and too slow", "## Results"):
        assert expected in text, expected
    assert "Incomplete experiment" not in text
    # the names the brief used work too; HTML is self-contained, with the cost and Pareto charts
    page = tmp_path / "decision.html"
    assert main(["--store", store, "report", "grid", "--format", "html", "-o", str(page), "--floor", "0.7",
                 "--max-latency-ms", "10", "--volume", "5000", "--changes-often", "--retrains", "4"]) == 0
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Total cost against query volume" in html
    assert html.count("Plotly.newPlot") == 2 and "trained methods retrain 4 times" in html
    assert "Use RAG (32 per class)." in html  # meets the 0.7 floor and stays current
    # an existing file is never overwritten unasked; bad constraints are one sentence
    assert main(["--store", store, "report", "grid", "-o", str(out)]) == 2
    _refused(capsys, "already exists", "--force")
    assert main(["--store", store, "report", "grid", "-o", str(tmp_path / "x.md"), "--accuracy-floor", "80"]) == 2
    _refused(capsys, "--accuracy-floor", "between 0 and 1")
    assert main(["--store", store, "report", "nope", "-o", str(tmp_path / "y.md")]) == 2
    _refused(capsys, "no experiment named 'nope'")


def test_report_on_an_incomplete_experiment_says_so_and_show_ends_with_the_recommendation(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    stored_grid(store, seeds=(0, 1, 2), missing={"lora|32|1", "lora|32|2"})
    out = tmp_path / "decision.md"
    assert main(["--store", store, "report", "grid", "-o", str(out)]) == 0
    assert "Incomplete experiment: 17 of 19 planned runs finished" in capsys.readouterr().out
    text = out.read_text()
    assert text.index("Incomplete experiment") < text.index("## Recommendation")
    assert "LoRA adapter (32 per class) 1 of 3" in text and "| LoRA adapter | 32 per class | 1 of 3 |" in text
    assert main(["--store", store, "show", "grid"]) == 0
    shown = capsys.readouterr().out.strip().splitlines()
    assert shown[-1].startswith("Recommendation (no constraints, 100,000 queries; `adaptlab report grid` for the "
                                "reasons): Use ")
    assert "per class)" in shown[-1]


def test_report_options_for_variants_labelling_and_storage_are_checked_in_words(tmp_path):
    import argparse

    from core.cli import constraints_from
    from core.errors import AdaptlabError

    base = dict(accuracy_floor=None, budget_dollars=None, latency_ms=None, queries=1000, data_changes_often=False,
                retrains=12, variants=20, dollars_per_label=0.4, storage_price=0.02, months=6)
    made = constraints_from(argparse.Namespace(**base))
    assert (made.variants, made.dollars_per_label, made.storage_dollars_per_gb_month, made.months) == (20, 0.4, 0.02, 6)
    with pytest.raises(AdaptlabError, match="--variants 0: at least 1.*--dollars-per-label -1: cannot be negative"):
        constraints_from(argparse.Namespace(**{**base, "variants": 0, "dollars_per_label": -1.0}))


def test_a_demo_stored_with_other_settings_is_kept_and_the_message_says_how_to_run_the_new_one(tmp_path, capsys):
    """An earlier adaptlab's demo grid (e.g. geo-qa's quick look before it was cut to fit 15 minutes) under the
    demo's name: nothing is lost, and the one sentence says what to type (`--name`)."""
    from core.results.store import SqlStore

    store = str(tmp_path / "r.db")
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config("demo-fortunes-quick", methods=["tfidf"],
                                                                           sizes=[4])))]) == 0
    capsys.readouterr()
    assert main(["--store", store, "demo", "fortunes", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "experiment 'demo-fortunes-quick' already exists with other settings" in err
    assert "adaptlab demo fortunes --quick --name demo-fortunes-quick-2" in err
    assert main(["--store", store, "demo", "fortunes", "--quick", "--name", "demo-fortunes-quick"]) == 2
    assert "--name demo-fortunes-quick-2" in capsys.readouterr().err
    assert len(SqlStore(store).runs_frame("demo-fortunes-quick")) == 1  # the stored run is untouched


def _damage(store: str) -> bytes:
    """8 KB of 0xFF in the middle of the file (a disk error, a half-copied file); returns the damaged bytes."""
    with sqlite3.connect(store) as db:  # move the runs from the write-ahead log into the file itself
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = Path(store).stat().st_size
    with open(store, "r+b") as damaged:
        damaged.seek(size // 2)
        damaged.write(b"\xff" * 8192)
    return Path(store).read_bytes()


def test_a_damaged_store_takes_no_writes_from_any_command(tmp_path, capsys):
    store = _one_run(tmp_path)
    damaged = _damage(store)
    grown = _write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4, 8]))
    capsys.readouterr()
    for command in (["run", str(grown)], ["demo", "fortunes", "--quick"], ["worker", "--max-jobs", "1"]):
        assert main(["--store", store, *command]) == 2, command
        _refused(capsys, "damaged", "nothing was read from or written to it")
    assert Path(store).read_bytes() == damaged


def test_a_store_damaged_after_it_was_opened_takes_no_run_or_job(tmp_path):
    """The dashboard and a worker hold their store open for hours: each grid and each job checks again."""
    from core.config import parse_config
    from core.errors import StoreError
    from core.results.store import SqlStore
    from core.running.jobs import JobQueue
    from core.running.runner import run_experiment

    store = _one_run(tmp_path)
    opened = SqlStore(store)
    queue = JobQueue(opened)
    queued = queue.submit(parse_config(tiny_config("queued", methods=["tfidf"], sizes=[4])))
    damaged = _damage(store)
    with pytest.raises(StoreError, match="damaged.*nothing was read from or written to it"):
        run_experiment(parse_config(tiny_config(methods=["tfidf"], sizes=[4, 8])), opened)
    with pytest.raises(StoreError, match="damaged.*nothing was read from or written to it"):
        queue.submit(parse_config(tiny_config("another", methods=["tfidf"], sizes=[4])))
    with pytest.raises(StoreError, match="damaged"):
        queue.claim("a-worker")  # a worker takes no job from it
    with pytest.raises(StoreError, match="damaged"):
        queue.cancel(queued)
    assert Path(store).read_bytes() == damaged


def test_a_sound_store_on_read_only_media_is_read_and_refuses_writes_as_read_only(tmp_path, capsys, small_disk):
    """A WAL store copied to a disk that is then remounted read-only: as it is left when closed (no log), and with runs
    still in its write-ahead log (the log and its -shm file copied beside it, as a backup of a live store has them)."""
    import shutil

    from core.results.store import SqlStore
    from tests.conftest import make_read_only

    store = str(tmp_path / "r.db")
    config = _write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4]))
    subprocess.run([sys.executable, "-m", "core.cli", "--store", store, "run", str(config)], check=True,
                   capture_output=True)
    disk = small_disk(256 * 2**20)  # a grid asks for 200 MB free (core.paths.MIN_FREE_BYTES)
    live = SqlStore(store)
    live.write_run("tiny", {"run_key": "tfidf|8|0", "status": "failed", "error": "kept in the log"}, None)
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert Path(f"{store}-wal").stat().st_size > 0  # the second run is in the log, not yet in the file
    (disk / "logged").mkdir()
    (disk / "no-shm").mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copy(f"{store}{suffix}", disk / "logged" / f"r.db{suffix}")
        if suffix != "-shm":  # without it SQLite cannot read the log on a read-only disk
            shutil.copy(f"{store}{suffix}", disk / "no-shm" / f"r.db{suffix}")
    live.engine.dispose()  # the last connection closes: the log goes into the file, and is removed
    (disk / "closed").mkdir()
    shutil.copy(store, disk / "closed" / "r.db")
    assert not Path(f"{store}-wal").exists()
    make_read_only(disk)
    before = {path: path.read_bytes() for path in disk.rglob("*") if path.is_file()}
    grown = _write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4, 8]))
    capsys.readouterr()
    for copy in (disk / "closed" / "r.db", disk / "logged" / "r.db"):
        assert main(["--store", str(copy), "list"]) == 0
        assert "tiny" in capsys.readouterr().out
        assert main(["--store", str(copy), "show", "tiny", "--runs"]) == 0
        shown = capsys.readouterr().out
        assert "tfidf|4|0" in shown and "tfidf|8|0" in shown, shown  # the run written last is read too
        assert main(["--store", str(copy), "export", "tiny", "--force", "-o", str(tmp_path / "r.csv")]) == 0
        assert pd.read_csv(tmp_path / "r.csv").run_key.tolist() == ["tfidf|4|0", "tfidf|8|0"]
        capsys.readouterr()
        for command in (["run", str(grown)], ["worker", "--max-jobs", "1"]):
            assert main(["--store", str(copy), *command]) == 2, command
            _refused(capsys, "read-only")
    assert main(["--store", str(disk / "no-shm" / "r.db"), "list"]) == 2  # not a list without the runs in the log
    _refused(capsys, "read-only disk with a write-ahead log", "copy")
    assert {path: path.read_bytes() for path in disk.rglob("*") if path.is_file()} == before


def test_a_store_path_that_is_a_folder_is_an_error_for_every_command(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    config = _write(tmp_path, tiny_config(methods=["tfidf"], sizes=[4]))
    for command in (["list"], ["show", "tiny"], ["run", str(config)]):
        assert main(["--store", str(folder), *command]) == 2, command
        _refused(capsys, "is a folder")
    assert list(folder.iterdir()) == []

def test_questions_without_documents_or_onto_an_existing_file_is_refused_in_one_sentence(tmp_path, capsys):
    config = _write(tmp_path, tiny_config())
    out = tmp_path / "questions.jsonl"
    assert main(["questions", str(config), "-o", str(out)]) == 2
    _refused(capsys, "names no documents", "documents: {path: FOLDER}")
    out.write_text("mine\n")
    assert main(["questions", str(config), "-o", str(out)]) == 2
    _refused(capsys, "already exists", "--force")
    assert out.read_text() == "mine\n"
    assert main(["questions", str(config), "-o", str(tmp_path / "questions.txt")]) == 2
    _refused(capsys, ".jsonl, .csv, .parquet")


def test_questions_from_a_folder_of_documents_are_written_and_read_back(tmp_path, capsys):
    pytest.importorskip("core.task.documents", reason="the documents reader (docs-ingest's core/task/documents.py) "
                        "is not in this branch yet")
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "retries.md").write_text("# Retries\n\nThe client retries a failed request 3 times before it gives "
                                       "up.\n\nSet `backoff_factor` to change the wait between two retries.\n")
    (folder / "offices.md").write_text("# Offices\n\nSupport is run by a team in Buenos Aires during working "
                                       "hours.\n\nThe cache holds 10,000 entries by default on every node.\n")
    out = tmp_path / "questions.jsonl"
    config = _write(tmp_path, {**tiny_config(methods=["prompt"], sizes=["all"]),
                               "task": {"kind": "qa", "path": str(out), "documents": {"path": str(folder)}}})
    assert main(["questions", str(config)]) == 0  # written where the config reads its questions
    assert "kept" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["answer"] for row in rows} >= {"3", "backoff_factor", "Buenos Aires"}
    assert all(row["source"].split("#")[0] in {"retries.md", "offices.md"} for row in rows)


def test_questions_written_then_loaded_with_withheld_documents(tmp_path, capsys):
    """The whole path once the documents reader is merged: folder -> `adaptlab questions` -> the qa task, split by
    source chunk, with a withheld document's questions in test only (covered=False) and its chunks out of the corpus."""
    pytest.importorskip("core.task.documents", reason="the documents reader (docs-ingest's core/task/documents.py) "
                        "is not in this branch yet")
    from core.config import load_config
    from core.task.load import load_task

    folder = tmp_path / "handbook"
    folder.mkdir()
    facts = ["The client retries a failed request {n} times before it gives up on the {topic} service.",
             "Set `{topic}_timeout` to change how long the {topic} service waits for an answer.",
             "The {topic} service keeps {m} days of logs on every node of the cluster."]
    for d, topic in enumerate(["billing", "search", "mail", "storage", "auth"]):
        sections = [f"## Part {p}\n\n" + " ".join(f.format(n=d + p + 2, m=10 * d + p + 1, topic=f"{topic}{p}")
                                                  for f in facts) for p in range(4)]
        (folder / f"{topic}.md").write_text(f"# {topic.title()}\n\n" + "\n\n".join(sections) + "\n")
    out = tmp_path / "questions.jsonl"
    config_path = _write(tmp_path, {**tiny_config(methods=["prompt"], sizes=["all"]), "task": {
        "kind": "qa", "path": str(out), "split_seed": 0,
        "documents": {"path": str(folder), "chunk_tokens": 48, "chunk_overlap": 8, "withheld_fraction": 0.2}}})
    assert main(["questions", str(config_path)]) == 0
    config = load_config(config_path)
    task = load_task(config.task, config.name)
    withheld = set(task.provenance["documents"]["withheld"])
    assert len(withheld) == 1 and not task.corpus.document.isin(withheld).any()
    document = task.test.source.str.split("#").str[0]
    assert (document.isin(withheld) == ~task.test.covered).all() and (~task.test.covered).any()
    assert not set(task.train.source) & set(task.test.source)
    assert not task.train.source.str.split("#").str[0].isin(withheld).any()
