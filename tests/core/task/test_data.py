import json

import pandas as pd
import pytest

from core.config import TaskSpec
from core.errors import DataError
from core.task.data import read_table
from core.task.load import load_task


def _frame(n_per_class=10, classes=("a", "b", "c")):
    return pd.DataFrame([{"body": f"text {label} number {i}", "tag": label}
                         for label in classes for i in range(n_per_class)])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_format_loads_with_a_column_mapping(tmp_path, fmt):
    frame = _frame()
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    task = load_task(TaskSpec(path=path, text_column="body", label_column="tag"))
    assert len(task.train) + len(task.validation) + len(task.test) == 30
    assert task.labels == ["a", "b", "c"]
    assert set(task.test.label) == {"a", "b", "c"}  # stratified: every class in test
    assert task.provenance["sources"][0]["sha256"]


def test_stratified_split_is_deterministic_and_disjoint(tmp_path):
    _frame(20).to_csv(tmp_path / "d.csv", index=False)
    spec = TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag")
    first, second = load_task(spec), load_task(spec)
    assert first.test.text.tolist() == second.test.text.tolist()
    assert not set(first.train.text) & set(first.test.text)
    assert not set(first.validation.text) & set(first.test.text)


def test_split_column_and_files_per_split(tmp_path):
    frame = _frame(6)
    frame["part"] = ["train", "train", "train", "dev", "test", "test"] * 3 * 1
    frame.to_csv(tmp_path / "d.csv", index=False)
    task = load_task(TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag",
                              split_column="part", split_names={"train": "train", "validation": "dev", "test": "test"}))
    assert (len(task.train), len(task.validation), len(task.test)) == (9, 3, 6)
    frame[frame.part == "train"].to_csv(tmp_path / "tr.csv", index=False)
    frame[frame.part == "test"].to_csv(tmp_path / "te.csv", index=False)
    task = load_task(TaskSpec(train=tmp_path / "tr.csv", test=tmp_path / "te.csv", text_column="body",
                              label_column="tag"))
    assert len(task.validation) >= 1 and len(task.test) == 6
    assert any("held out" in note for note in task.notes)


def test_duplicate_texts_never_straddle_splits(tmp_path):
    frame = pd.concat([_frame(10)] * 2)  # every text twice
    frame.to_csv(tmp_path / "d.csv", index=False)
    task = load_task(TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag"))
    assert not set(task.train.text) & set(task.test.text)
    assert any("duplicate" in note for note in task.notes)


@pytest.mark.parametrize("content, expected", [
    (b"", "empty"),
    (b"text,label\n", "no data rows"),
    (b"body,tag\nhello,a\n", "no text column 'text'"),
    (b"text,label\n\xff\xfe bad bytes,a\n", "not valid UTF-8"),
    (b"text,label\n\x00\x01\x02,a\n", "binary"),
    (b'text,label\n"unclosed,a\nb,c,d,e\n', "line up"),
])
def test_bad_csv_files_get_a_clear_message(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        load_task(TaskSpec(path=path))
    assert expected in str(caught.value)
    assert "bad.csv" in str(caught.value)


def test_bad_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "ok", "label": "a"}) + "\n{not json}\n")
    with pytest.raises(DataError, match="line 2"):
        read_table(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match="not an object"):
        read_table(path)


def test_unknown_extension_missing_file_and_bad_split_values(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="format"):
        read_table(tmp_path / "d.xlsx")
    with pytest.raises(DataError, match="not found"):
        read_table(tmp_path / "missing.csv")
    frame = _frame(4)
    frame["part"] = "trian"  # a typo
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="trian"):
        load_task(TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag", split_column="part"))


def test_a_class_too_small_to_split_is_named(tmp_path):
    frame = pd.concat([_frame(10, ("a", "b")), pd.DataFrame([{"body": "lonely", "tag": "rare"}])])
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="'rare'"):
        load_task(TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag"))


def test_corpus_loads_with_or_without_labels(tmp_path):
    _frame(10).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "docs.jsonl").write_text('{"text": "a fact about a"}\n{"text": ""}\n{"text": "b fact"}\n')
    task = load_task(TaskSpec(path=tmp_path / "d.csv", text_column="body", label_column="tag",
                              corpus={"path": tmp_path / "docs.jsonl"}))
    assert task.corpus.text.tolist() == ["a fact about a", "b fact"]  # empty documents dropped
    assert set(task.corpus.label) == {""}


def test_a_duplicated_header_is_a_warning_naming_the_column(tmp_path):
    path = tmp_path / "d.csv"
    rows = "".join(f"{label} text {i},{label} again {i},{label}\n" for label in "ab" for i in range(10))
    path.write_text("text,text,label\n" + rows)
    task = load_task(TaskSpec(path=path))
    warning = [note for note in task.notes if "more than once" in note]
    assert len(warning) == 1 and "d.csv" in warning[0] and "'text'" in warning[0], task.notes
    # the first of the two columns is the one used
    assert len(task.train) and task.train.text.str.contains("text").all()


def _with_one_huge_text(path, characters: int) -> None:
    import numpy as np

    words = np.random.default_rng(0).integers(0, 100_000, characters // 6)  # varied words: a tokenizer's worst case
    huge = " ".join(f"w{w}" for w in words)[:characters]
    rows = "".join(f"{label} number {i},{label}\n" for label in ("weather", "market") for i in range(20))
    path.write_text(f"text,label\n{rows}{huge},weather\n")


def test_an_oversized_text_is_cut_to_a_bound_with_a_warning(tmp_path):
    from core.task.data import MAX_TEXT_CHARS

    path = tmp_path / "d.csv"
    _with_one_huge_text(path, 10_000_000)
    frame = read_table(path)
    assert frame.text.str.len().max() == MAX_TEXT_CHARS
    task = load_task(TaskSpec(path=path))
    warning = [note for note in task.notes if "characters" in note]
    assert len(warning) == 1 and "row 41" in warning[0], task.notes


def test_one_oversized_text_takes_bounded_memory_in_a_real_run(tmp_path):
    """The embedding methods tokenize every text whole before truncating it: a 10 MB text took 2 GB."""
    import os
    import re
    import subprocess
    import sys

    _with_one_huge_text(tmp_path / "d.csv", 10_000_000)
    config = tmp_path / "big.yaml"
    config.write_text("name: big\ntask: {path: d.csv}\nmethods: [probe]\nsizes: [4]\nseeds: [0]\n")
    # the run's own high-water mark, read by the run's process at its end: VmHWM starts afresh at exec, while the
    # rusage of a child counts the copy of this (large, test-laden) process it was forked from
    script = ("import sys\nfrom core.cli import main\ncode = 0\ntry:\n    main()\n"
              "except SystemExit as stop:\n    code = stop.code\n"
              "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')), flush=True)\n"
              "sys.exit(code)")
    sys_argv = ["adaptlab", "--store", str(tmp_path / "r.db"), "run", str(config)]
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = {sys_argv!r}\n" + script],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", output).group(1)) * 1024
    assert peak < 1.4e9, f"peak {peak / 2**30:.2f} GB"  # 2.3 GB unbounded
    assert "characters" in output  # the cut is said while the grid runs
