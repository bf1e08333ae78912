"""Malformed files, thousands of them: each ends in a valid task or a DataError naming the file, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import TaskSpec
from core.errors import AdaptlabError
from core.task.load import load_task
from core.task.validation import validate_task

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME = "upload"  # every fuzzed file is upload<suffix>: an error about it must say so

odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
formula = st.sampled_from(["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "=HYPERLINK(\"x\")"])
cell = st.one_of(odd_text, formula, st.just(""), st.text(max_size=3).map(lambda s: s * 2000))  # huge fields too


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    """One folder under pytest's temp root for this module; each example writes into (and removes) its own."""
    return tmp_path_factory.mktemp("fuzz")


@contextmanager
def _written(root: Path, data: bytes, suffix: str) -> Iterator[Path]:
    """The fuzzed bytes as upload<suffix> in a fresh folder under root, removed when the example ends."""
    folder = root / "example"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    path = folder / f"{NAME}{suffix}"
    path.write_bytes(data)
    try:
        yield path
    finally:
        shutil.rmtree(folder)


def assert_loads_or_names_the_file(root: Path, data: bytes, suffix: str, **spec) -> None:
    """The property: loading either gives a usable task or raises a user-facing error that names the file;
    anything else (KeyError, UnicodeDecodeError, a pandas or pyarrow error...) is a traceback for the user."""
    with _written(root, data, suffix) as path:
        task_spec = TaskSpec(path=path, **spec)
        try:
            task = load_task(task_spec)
        except AdaptlabError as error:
            assert path.name in str(error), f"the message must name the file: {error}"
            return
        except Exception as error:  # the property: nothing else escapes
            raise AssertionError(f"loading {path.name} raised {type(error).__name__} instead of a DataError: "
                                 f"{error}") from error
        assert len(task.train) and len(task.test), "a task that loads has train and test rows"
        report = validate_task(task, sizes=[2])  # checking a loaded task reports problems, it never raises
        assert all(isinstance(m, str) and m.strip() for m in report.errors + report.warnings), report


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".jsonl", ".parquet", ".tsv"]))
def test_random_bytes(fuzz_root, data, suffix):
    assert_loads_or_names_the_file(fuzz_root, data, suffix)


@FUZZ
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=5), max_size=30),
       header=st.lists(st.sampled_from(["text", "label", "split", "x", "", "text "]), min_size=0, max_size=4),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
def test_ragged_odd_csv(fuzz_root, rows, header, encoding):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buffer.getvalue().encode("utf-8", errors="replace")
    assert_loads_or_names_the_file(fuzz_root, data, ".csv")
    assert_loads_or_names_the_file(fuzz_root, data, ".csv", split_column="split")


@FUZZ
@given(records=st.lists(st.one_of(
    st.fixed_dictionaries({"text": st.one_of(cell, st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
                           "label": st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(), st.none(), odd_text)}),
    st.dictionaries(odd_text, odd_text, max_size=3),
    st.integers(), st.text(max_size=5)), max_size=40))
def test_odd_jsonl(fuzz_root, records):
    lines = [json.dumps(record) if not isinstance(record, str) else record for record in records]
    assert_loads_or_names_the_file(fuzz_root, "\n".join(lines).encode(), ".jsonl")


@FUZZ
@given(n=st.integers(0, 60), labels=st.lists(st.sampled_from(["a", "b", "c", " ", "é", "🙂"]), min_size=1, max_size=60),
       texts=st.lists(cell, min_size=1, max_size=60))
def test_valid_shape_with_hostile_content(fuzz_root, n, labels, texts):
    rows = [{"text": texts[i % len(texts)], "label": labels[i % len(labels)]} for i in range(n)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["text", "label"])
    writer.writeheader()
    writer.writerows(rows)
    assert_loads_or_names_the_file(fuzz_root, buffer.getvalue().encode(), ".csv")


def test_a_loadable_file_loads_under_the_fuzz_harness(fuzz_root):
    """The harness itself can pass a valid file: not every example may end in an error."""
    rows = "".join(f"text {label} {i},{label}\n" for label in "ab" for i in range(12))
    with _written(fuzz_root, ("text,label\n" + rows).encode(), ".csv") as path:
        task = load_task(TaskSpec(path=path))
        assert path.parent.parent == fuzz_root
    assert len(task.train) + len(task.validation) + len(task.test) == 24
    assert not (fuzz_root / "example").exists()  # each example's folder is removed when it ends


def test_parquet_with_non_string_columns(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"text": ["1.5", None, "x", "ok"] * 5, "label": [1, 2, None, 3] * 5})
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(AdaptlabError) as raised:  # numbers arrive as text ("1", not "1.0"), nulls as "": reported
        load_task(TaskSpec(path=tmp_path / "d.parquet"))  # before any split is drawn
    message = str(raised.value)
    assert "d.parquet" in message and "empty text" in message and "no label" in message and "row(s) 2" in message
