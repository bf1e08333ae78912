"""How each option was tuned, read from real runs: searched (trials, chosen, labels) or at its defaults."""

from __future__ import annotations

import pytest

from core.cli import main
from core.config import parse_config
from core.results.store import SqlStore
from core.results.tuning import tuning_lines, tuning_table
from core.running.runner import run_experiment
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One grid at its defaults and the same grid tuned, in one store: prompt has nothing to search."""
    folder = tmp_path_factory.mktemp("tuning")
    with pytest.MonkeyPatch.context() as patch:  # built once for the module, in a home of its own
        patch.setenv("ADAPTLAB_HOME", str(folder / "home"))
        store = SqlStore(folder / "r.db")
        for name, tuning in (("plain", False), ("tuned", True)):
            config = parse_config(tiny_config(name, methods=["prompt", "probe", "tfidf"], sizes=[8], tuning=tuning))
            assert run_experiment(config, store).failed == 0
    return store


def test_a_tuned_experiment_says_per_option_its_trials_choice_and_labels(stored):
    config = stored.experiment("tuned")["config"]
    table = tuning_table(stored.runs_frame("tuned"), config).set_index("method")
    assert table.loc["probe", "tuning"] == "searched" and table.loc["probe", "trials"] == 3
    assert table.loc["tfidf", "trials"] == table.loc["probe", "trials"]
    chosen = stored.runs_frame("tuned").set_index("method").record["probe"]["details"]["search"]["chosen"]
    assert table.loc["probe", "chosen"] == f"C={chosen['C']:g}"
    # 40 labelled examples in all: 10 of them scored the trials, then the chosen C was refit on all 40
    assert (table.loc["probe", "trained on"], table.loc["probe", "selected on"]) == ("40", "10")
    assert table.loc["probe", "search seconds"] > 0
    assert table.loc["prompt", "tuning"] == "defaults: nothing to search" and table.loc["prompt", "trials"] == 0
    lines = tuning_lines(table.reset_index(), config)
    assert lines[0].startswith("Tuning was on: every method with settings to search had the same 3 trials")
    assert any(line.startswith(f"Linear probe (8 per class): 3 trials, chose C={chosen['C']:g}; trained on 40 labelled "
                               "examples, selected on 10; search ") for line in lines)


def test_an_untuned_experiment_says_each_option_ran_at_its_defaults(stored):
    config = stored.experiment("plain")["config"]
    table = tuning_table(stored.runs_frame("plain"), config)
    assert set(table.tuning) == {"defaults"} and not table.trials.any()
    lines = tuning_lines(table, config)
    assert lines[0].startswith("Tuning was off: each option ran at its defaults")
    assert "Linear probe (8 per class): defaults; trained on 40 labelled examples, selected on 0." in lines


def test_show_and_the_report_carry_the_tuning_lines(stored, tmp_path, capsys):
    store = str(stored.engine.url.database)
    assert main(["--store", store, "show", "tuned"]) == 0
    assert "Tuning was on: every method with settings to search had the same 3 trials" in capsys.readouterr().out
    out = tmp_path / "plain.md"
    assert main(["--store", store, "report", "plain", "-o", str(out)]) == 0
    text = out.read_text()
    section = text[text.index("## How each option was tuned"):]
    assert "- Tuning was off: each option ran at its defaults" in section
    assert ("- TF-IDF + logistic regression (8 per class): defaults; trained on 40 labelled examples, selected on "
            "0.") in section


def test_a_run_refit_on_every_example_counts_its_validation_examples_as_trained_on():
    from core.results.tuning import run_tuning

    held = {"train_examples": 40, "validation_examples": 10, "validation": "from the budget",
            "details": {"search": {"trials": [{"learning_rate_x": 1.0}] * 3, "chosen": {"learning_rate_x": 2.0},
                                   "refit_on_all": False, "seconds": 3.0}}}
    assert run_tuning(held) == {"trials": 3, "chosen": "learning rate x2", "trained on": 30, "selected on": 10,
                                "search seconds": 3.0}
    refit = {**held, "validation": "from the budget, then refit on every example",
             "details": {**held["details"], "refit": {"trained_on": 40, "selected_on": 10}}}
    assert run_tuning(refit)["trained on"] == 40
