"""How each option was tuned: searched or at its defaults, the trials, the settings chosen, and the labelled
examples it trained on and selected on. Pure: an experiment's runs (SqlStore.runs_frame) in, a table or lines of
Markdown out, for `adaptlab show`, the decision report and the Compare page alike::

    table = tuning_table(store.runs_frame(name), store.experiment(name)["config"])
    lines = tuning_lines(table, config)
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from core.results.text import option_title
from core.task.sizes import size_order

COLUMNS = ["method", "size", "tuning", "trials", "chosen", "trained on", "selected on", "search seconds"]

# a searched setting as a reader says it (core/methods/*'s MethodSpec.search)
SETTING_WORDS = {"learning_rate_x": "learning rate x{:g}", "rank_x": "rank x{:g}", "shots_x": "shots x{:g}",
                 "C": "C={:g}", "k": "k={}", "retriever": "{} retrieval", "selection": "{} shots"}


def chosen_text(chosen: dict) -> str:
    return ", ".join(SETTING_WORDS.get(name, name + "={}").format(value) for name, value in chosen.items())


def run_tuning(record: dict) -> dict:
    """One run's facts: trials, chosen settings, labelled examples trained on and selected on, search seconds."""
    details = record.get("details") or {}
    search = details.get("search") or {}
    from_budget = str(record.get("validation", "")).startswith("from the budget")
    selected = int(record.get("validation_examples") or 0) if record.get("validation", "none") != "none" else 0
    total = int(record.get("train_examples") or 0)
    # validation examples out of the budget train the final model only where it was fitted again on every example
    # (the chosen setting refit on all, or `validation: refit`'s second training, details["refit"])
    refit_on_all = search.get("refit_on_all") or bool(details.get("refit"))
    trained = total - (selected if from_budget and not refit_on_all else 0)
    return {"trials": len(search.get("trials", [])), "chosen": chosen_text(search["chosen"]) if search else "",
            "trained on": trained, "selected on": selected, "search seconds": search.get("seconds")}


def tuning_table(runs: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per option (method and training-set size) over its finished runs' seeds, in the registry's order."""
    from core.methods import METHODS

    if "record" not in runs:  # a frame of run columns alone says nothing of the search
        return pd.DataFrame(columns=COLUMNS)
    finished = runs[runs.status == "finished"] if "status" in runs else runs
    rows = []
    for (method, size), group in finished.groupby(["method", "size"], sort=False):
        facts = pd.DataFrame([run_tuning(record) for record in group.record])
        trials = int(facts.trials.max())
        rows.append({"method": method, "size": size, "tuning": _how(method, trials, config, METHODS), "trials": trials,
                     "chosen": _shares(facts.chosen[facts.chosen != ""].tolist(), len(facts)),
                     "trained on": _span(facts["trained on"]), "selected on": _span(facts["selected on"]),
                     "search seconds": float(facts["search seconds"].mean()) if trials else None})
    order = list(METHODS)
    rows.sort(key=lambda row: (order.index(row["method"]) if row["method"] in order else len(order),
                               size_order(row["size"])))
    return pd.DataFrame(rows, columns=COLUMNS)


def _how(method: str, trials: int, config: dict, methods: dict) -> str:
    if trials:
        return "searched"
    if not config.get("tuning"):
        return "defaults"
    spec = methods.get(method)
    if spec is None or not (spec.search or spec.decoder_search):
        return "defaults: nothing to search"
    return "defaults: no validation examples to score on"


def tuning_lines(table: pd.DataFrame, config: dict) -> list[str]:
    """The report's lines: whether tuning was on, then one line per option."""
    unit = config.get("size_unit", "per_class")
    if config.get("tuning"):
        trials = config.get("tuning_trials", 3)
        lines = [f"Tuning was on: every method with settings to search had the same {trials} trials, each scored on "
                 "the same validation examples; the search's seconds count in its training cost."]
    else:
        lines = ["Tuning was off: each option ran at its defaults (its configured learning rate, C, shots or k); "
                 "`tuning: true` gives every method the same validation-scored search."]
    for row in table.to_dict("records"):
        option = option_title(row["method"], row["size"], unit)  # as the report's tables and reasons name it
        labels = f"trained on {row['trained on']} labelled examples, selected on {row['selected on']}"
        if row["trials"]:
            seconds = row["search seconds"]  # runs stored before the search was timed have none
            cost = f"search {seconds:.1f} s" if pd.notna(seconds) else "the search"
            lines.append(f"{option}: {row['trials']} trials, chose {row['chosen']}; {labels}; {cost}, counted in its "
                         "training cost.")
        else:
            lines.append(f"{option}: {row['tuning']}; {labels}.")
    return lines


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"{low}" if low == high else f"{low}-{high}"


def _shares(chosen: list[str], runs: int) -> str:
    """Each setting chosen, with how many of the option's seeds chose it when they differ."""
    counts = Counter(chosen)
    if len(counts) == 1 and sum(counts.values()) == runs:
        return chosen[0]
    return "; ".join(f"{text} ({n} of {runs} seeds)" for text, n in counts.most_common())
