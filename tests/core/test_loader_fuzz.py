"""Malformed files, thousands of them: each ends in a clear DataError or a valid task, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import TaskSpec
from core.errors import AdaptlabError
from core.task.data import load_task
from core.task.validation import validate_task

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
formula = st.sampled_from(["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "=HYPERLINK(\"x\")"])
cell = st.one_of(odd_text, formula, st.just(""), st.text(max_size=3).map(lambda s: s * 2000))  # huge fields too


def _try_load(path: Path, **spec) -> None:
    """The property: loading and validating either works or raises one of our errors."""
    try:
        task = load_task(TaskSpec(path=path, **spec))
        report = validate_task(task, sizes=[2])
        assert isinstance(report.errors, list)
    except AdaptlabError as error:
        assert str(error).strip(), "an error must say something"


def _write(data: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"upload{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".jsonl", ".parquet", ".tsv"]))
def test_random_bytes(data, suffix):
    _try_load(_write(data, suffix))


@FUZZ
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=5), max_size=30),
       header=st.lists(st.sampled_from(["text", "label", "split", "x", "", "text "]), min_size=0, max_size=4),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
def test_ragged_odd_csv(rows, header, encoding):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buffer.getvalue().encode("utf-8", errors="replace")
    _try_load(_write(data, ".csv"))
    _try_load(_write(data, ".csv"), split_column="split")


@FUZZ
@given(records=st.lists(st.one_of(
    st.fixed_dictionaries({"text": st.one_of(cell, st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
                           "label": st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(), st.none(), odd_text)}),
    st.dictionaries(odd_text, odd_text, max_size=3),
    st.integers(), st.text(max_size=5)), max_size=40))
def test_odd_jsonl(records):
    lines = []
    for record in records:
        lines.append(json.dumps(record) if not isinstance(record, str) else record)
    _try_load(_write("\n".join(lines).encode(), ".jsonl"))


@FUZZ
@given(n=st.integers(0, 60), labels=st.lists(st.sampled_from(["a", "b", "c", " ", "é", "🙂"]), min_size=1, max_size=60),
       texts=st.lists(cell, min_size=1, max_size=60))
def test_valid_shape_with_hostile_content(n, labels, texts):
    rows = [{"text": texts[i % len(texts)], "label": labels[i % len(labels)]} for i in range(n)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["text", "label"])
    writer.writeheader()
    writer.writerows(rows)
    _try_load(_write(buffer.getvalue().encode(), ".csv"))


def test_parquet_with_non_string_columns(tmp_path):
    import pandas as pd

    pd.DataFrame({"text": ["1.5", None, "x", "ok"] * 5, "label": [1, 2, None, 3] * 5}).to_parquet(tmp_path / "d.parquet")
    try:  # numbers arrive as text ("1", not "1.0"), nulls as "": reported before any split is drawn
        load_task(TaskSpec(path=tmp_path / "d.parquet"))
    except AdaptlabError as error:
        assert "empty text" in str(error) and "no label" in str(error) and "row(s) 2" in str(error)
    else:
        raise AssertionError("empty texts and labels must be reported")
