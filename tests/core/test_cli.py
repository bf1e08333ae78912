import json

import pandas as pd
import yaml

from core.cli import main
from tests.conftest import tiny_config


def _write(tmp_path, config):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_show_export_and_list(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    path = _write(tmp_path, tiny_config(methods=["prompt", "tfidf"], sizes=[4, 8]))
    assert main(["--store", store, "run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 run(s) executed" in out and "tfidf" in out and "accuracy [95% CI]" in out
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


def test_errors_are_one_clear_message_not_a_traceback(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config(sizes=[0])))]) == 2
    captured = capsys.readouterr()
    assert "sizes" in captured.err and "Traceback" not in captured.err
    assert main(["--store", store, "show", "nope"]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err
    assert main(["--store", store, "run", str(_write(tmp_path, tiny_config(sizes=[500])))]) == 2
    assert "per class" in capsys.readouterr().err
