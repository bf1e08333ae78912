"""Uploads land under generated names inside ADAPTLAB_HOME, whatever the user's file is called."""

import pytest

from core.errors import DataError
from core.task.uploads import FORMATS, inside_uploads, save_upload, upload_info, uploads_dir


def test_an_upload_is_stored_by_content_hash_and_remembers_its_name(adaptlab_home):
    stored = save_upload(b"text,label\nhi,a\n", "../../../etc/passwd.csv", licence=" CC0 ")
    assert stored.path.parent == (adaptlab_home / "uploads").resolve()
    assert stored.path.name == stored.sha256[:24] + ".csv" and stored.original_name == "passwd.csv"
    assert upload_info(stored.sha256)["licence"] == "CC0"
    again = save_upload(b"text,label\nhi,a\n", "other.csv")
    assert again.path == stored.path  # the same content is stored once
    assert len(list(uploads_dir().glob("*.csv"))) == 1


@pytest.mark.parametrize("name", ["../outside.csv", "/etc/passwd", "..", "sub/../../x.csv"])
def test_paths_outside_the_uploads_folder_are_refused(name):
    with pytest.raises(DataError, match="not a stored upload"):
        inside_uploads(name)


def test_unknown_formats_and_empty_files_are_refused_in_words():
    with pytest.raises(DataError, match="upload a .csv"):
        save_upload(b"x", "data.xlsx")
    with pytest.raises(DataError, match="empty"):
        save_upload(b"", "data.csv")
    assert upload_info("../../etc") is None


def test_files_above_the_size_limit_are_refused_before_they_are_stored_or_parsed(monkeypatch, tmp_path):
    import core.task.data
    import core.task.uploads
    from core.task.data import read_table

    monkeypatch.setattr(core.task.uploads, "MAX_FILE_BYTES", 16)  # the real limit is 2 GB; the check is the same
    monkeypatch.setattr(core.task.data, "MAX_FILE_BYTES", 16)
    with pytest.raises(DataError, match="larger than"):
        save_upload(b"text,label\n" + b"x,a\n" * 4, "big.csv")
    assert not list(uploads_dir().glob("*.csv"))
    big = tmp_path / "big.csv"
    big.write_bytes(b"text,label\n" + b"x,a\n" * 4)
    with pytest.raises(DataError, match="larger than"):
        read_table(big)


def _table_bytes(suffix: str) -> bytes:
    """Two classes of 20 distinct texts, written the way a user's tool would write a file of that type."""
    import io

    import pandas as pd

    frame = pd.DataFrame([{"text": f"{word} report number {i} about the {word}", "label": word}
                          for word in ("weather", "market") for i in range(20)])
    buffer = io.BytesIO()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(buffer)
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(buffer, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:  # .jsonl, .ndjson and .json are all read as JSON lines
        frame.to_json(buffer, orient="records", lines=True)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_accepted_format_is_stored_intact_and_runs_end_to_end(suffix, tmp_path):
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    content = _table_bytes(suffix)
    stored = save_upload(content, f"my data{suffix}", licence="CC0")
    assert stored.path.read_bytes() == content  # the metadata never lands on the data
    assert upload_info(stored.sha256)["original_name"] == f"my data{suffix}"
    config = {"name": f"upload{suffix.replace('.', '-')}", "task": {"path": str(stored.path)},
              "methods": ["tfidf"], "sizes": [4], "seeds": [0]}
    result = run_experiment(parse_config(config), SqlStore(tmp_path / "r.db"))
    assert result.failed == 0 and result.runs.status.tolist() == ["finished"]


def test_metadata_kept_beside_a_csv_by_an_earlier_version_is_still_found():
    stored = save_upload(b"text,label\nhi,a\n", "old.csv", licence="CC0")
    legacy = stored.path.with_suffix(".json")  # where sidecars were written before .json uploads were possible
    stored.path.with_suffix(".meta.json").rename(legacy)
    assert upload_info(stored.sha256)["original_name"] == "old.csv"
