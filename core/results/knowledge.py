"""Where facts should live, from a QA experiment's runs: covered against uncovered questions, made-up answers,
and what taking new facts in costs each method (the knowledge view; issue 16's question).

Pure pandas like core/results/analysis.py: stored runs (`SqlStore.runs_frame`) in, DataFrames out::

    coverage = at_size(coverage_table(runs))           # per method: answer match, abstained, made up
    update = at_size(update_table(runs))               # per method: before and after new facts, and the cost
    knowledge_fact(coverage, update)                   # the main fact, in one sentence

A run's record carries `by_coverage` ({"covered": {...}, "uncovered": {...}}, core.evaluation.metrics.qa_metrics)
and `knowledge_update` (core/running/knowledge_update.py: accuracy_before, accuracy_after, examples, updatable,
how, update_seconds, update_dollars). A method that retrieves takes new passages in by indexing them; a
method that trained its weights takes them in only by training again; a prompt has nowhere to put them.
Records from before updates were carried out for every method say only `updatable` (retrieval): there a
trained method's own training time and dollars stand for what an update costs it, marked as not timed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.methods import METHODS
from core.results.answers import WRONG_OR_CUT, cut_off_recorded
from core.results.costs import one_per_method
from core.results.text import method_name, money
from core.task.sizes import size_label, size_order

GROUPS = ("covered", "uncovered")
INDEXES, RETRAINS, CANNOT = "indexes the new passages", "trains again on them", "has nowhere to put them"


def coverage_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (method, size, group): answer match, abstention, wrong-answer (made up), cut-off and no-answer rates, mean
    over the seeds of finished runs that recorded `by_coverage`. cut_off_recorded: every one of those runs recorded
    which answers max_new_tokens cut off; where not, a wrong answer is "wrong or cut off" (made_up_words), not made
    up."""
    rows = []
    for run in runs[runs.status == "finished"].itertuples():
        record = run.record or {}
        recorded = cut_off_recorded(record)  # else its wrong answers may have been cut off: "wrong or cut off"
        for group, fields in (record.get("by_coverage") or {}).items():
            if group not in GROUPS or not fields:
                continue
            right, abstained = fields.get("accuracy", np.nan), fields.get("abstention_rate", np.nan)
            wrong, cut = fields.get("wrong_answer_rate", np.nan), fields.get("cut_off_rate", 0.0)
            rows.append({"method": run.method, "size": run.size, "seed": run.seed, "group": group,
                         "answer_match": right, "abstention_rate": abstained, "wrong_answer_rate": wrong,
                         "cut_off_rate": cut, "cut_off_recorded": recorded,
                         # the rest answered nothing at all (an empty answer: neither right, abstained, wrong nor cut)
                         "no_answer_rate": max(0.0, round(1.0 - right - abstained - wrong - cut, 9))})
    columns = ["method", "size", "group", "answer_match", "abstention_rate", "wrong_answer_rate", "cut_off_rate",
               "no_answer_rate", "cut_off_recorded", "seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    table = frame.groupby(["method", "size", "group"], sort=False).agg(
        answer_match=("answer_match", "mean"), abstention_rate=("abstention_rate", "mean"),
        wrong_answer_rate=("wrong_answer_rate", "mean"), cut_off_rate=("cut_off_rate", "mean"),
        no_answer_rate=("no_answer_rate", "mean"), cut_off_recorded=("cut_off_recorded", "all"),
        seeds=("seed", "nunique")).reset_index()
    return _sorted(table, ["group"])[columns]


def update_table(runs: pd.DataFrame, trains: dict[str, bool] | None = None) -> pd.DataFrame:
    """Per (method, size): answer match on the new facts before and after they arrive, how the method takes them in,
    and what that costs (seconds and dollars of training again; NaN where indexing does it).

    trains: method -> whether it trains weights (default: the registry's `trains_network`)."""
    if trains is None:
        from core.methods import METHODS

        trains = {name: spec.trains_network for name, spec in METHODS.items()}
    rows = []
    for run in runs[runs.status == "finished"].itertuples():
        update = (run.record or {}).get("knowledge_update")
        if not update:
            continue
        how = _how(update, trains.get(run.method, False))
        timed = update.get("update_seconds") is not None
        stands_in = how == RETRAINS and not timed  # an older record: the run's training is what an update costs
        rows.append({"method": run.method, "size": run.size, "seed": run.seed, "how": how, "timed": timed,
                     "before": update.get("accuracy_before", np.nan), "after": update.get("accuracy_after", np.nan),
                     "examples": update.get("examples", 0),
                     "update_seconds": run.train_seconds if stands_in else update.get("update_seconds", np.nan),
                     "update_dollars": run.train_dollars if stands_in else update.get("update_dollars", np.nan)})
    columns = ["method", "size", "how", "before", "after", "examples", "update_seconds", "update_dollars", "timed",
               "seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows).astype({"update_seconds": float, "update_dollars": float}).groupby(
        ["method", "size", "how"], sort=False).agg(
        before=("before", "mean"), after=("after", "mean"), examples=("examples", "max"),
        update_seconds=("update_seconds", "mean"), update_dollars=("update_dollars", "mean"),
        timed=("timed", "all"), seeds=("seed", "nunique")).reset_index()
    return _sorted(table)[columns]


def _how(update: dict, trains: bool) -> str:
    """INDEXES, RETRAINS or CANNOT, from what the run did (`how`), or for an older record what it would do."""
    if "how" in update:
        how = update["how"] or ""
        return INDEXES if how.startswith("indexed") else RETRAINS if how else CANNOT
    return INDEXES if update.get("updatable") else RETRAINS if trains else CANNOT


def at_size(table: pd.DataFrame, size: str | None = None) -> pd.DataFrame:
    """Each method's rows at one training-set size: `size` where the method ran it, else its largest size."""
    if table.empty:
        return table
    chosen = one_per_method(table[["method", "size"]].drop_duplicates(), size)
    return table.merge(chosen, on=["method", "size"]).reset_index(drop=True)


def update_cost(row) -> str:
    """What taking new facts in costs one method, in words (timed, or for older records its training time)."""
    if row.how == RETRAINS:
        about = "" if row.timed else "about "  # not timed: the run's own training stands for it
        return f"training again: {about}{_duration(row.update_seconds)}, {money(row.update_dollars)} each time"
    if row.how == INDEXES:
        return "indexing the new passages: " + (_duration(row.update_seconds) if row.timed else "near zero")
    return "none: it has nowhere to put them"


def made_up_words(recorded: bool) -> str:
    """What a wrong answer is called: made up, where the run recorded which answers were cut off; else "wrong or cut
    off" (core.results.answers.WRONG_OR_CUT, as the Answers page says it)."""
    return "made up" if recorded else WRONG_OR_CUT


def knowledge_fact(coverage: pd.DataFrame, update: pd.DataFrame) -> str:
    """The main fact of the knowledge view, in one sentence (from at_size tables: one size per method)."""
    clauses = []
    covered = coverage[coverage.group == "covered"].dropna(subset=["answer_match"])
    if len(covered):
        best = covered.loc[covered.answer_match.idxmax()]
        clauses.append(f"of the questions whose passage is in the documents, {method_name(best.method)} answers "
                       f"the most ({best.answer_match:.0%} right)")
    uncovered = coverage[coverage.group == "uncovered"].dropna(subset=["wrong_answer_rate"])
    if len(uncovered):
        worst, honest = (uncovered.loc[uncovered.wrong_answer_rate.idxmax()],
                         uncovered.loc[uncovered.wrong_answer_rate.idxmin()])
        made_up = uncovered.cut_off_recorded.astype(bool).all() if "cut_off_recorded" in uncovered else True
        does = "makes an answer up" if made_up else f"answers wrongly or is cut off ({WRONG_OR_CUT}: stored before " \
            "cut-off answers were recorded)"
        clause = (f"on questions nothing covers, {method_name(worst.method)} {does} {worst.wrong_answer_rate:.0%} "
                  "of the time")
        if honest.method != worst.method:
            clause += f" and {method_name(honest.method)} {honest.wrong_answer_rate:.0%}"
        clauses.append(clause)
    if len(update):
        movers = update[update.how != CANNOT].assign(gain=lambda t: t.after - t.before).dropna(subset=["gain"])
        best = movers.loc[movers.gain.idxmax()] if len(movers) else None
        if best is not None and best.gain > 0:
            way = "by indexing them" if best.how == INDEXES else "by training again on them"
            clauses.append(f"new facts lift {method_name(best.method)} from {best.before:.0%} to {best.after:.0%} "
                           f"{way}")
        trained = update[update.how == RETRAINS].dropna(subset=["update_seconds"])
        if len(trained):
            cheapest = trained.loc[trained.update_seconds.idxmin()]
            cost = update_cost(cheapest).removeprefix("training again: ")
            clauses.append(f"a method that learned facts into its weights takes new ones in only by training again "
                           f"({method_name(cheapest.method)}: {cost})")
    if not clauses:
        return "No run recorded coverage or a knowledge update yet."
    sentence = "; ".join(clauses)
    return sentence[0].upper() + sentence[1:] + "."


CLOSE = 0.05  # answer match on the new facts within this of the best counts as as good: the cheaper update wins


def changing_facts_choice(update: pd.DataFrame, retrains: int = 12, months: int = 12) -> str:
    """Which method to use when the facts change `retrains` times over the period, from the measured update (an
    at_size table): the best answer match on the new facts after taking them in, the cheapest update among those
    within CLOSE of it; said with what the others would cost or miss."""
    usable = update[update.how != CANNOT].dropna(subset=["after"])
    if usable.empty:
        return ""
    best = usable.after.max()
    close = usable[usable.after >= best - CLOSE].assign(_cost=lambda t: t.update_dollars.fillna(0.0))
    choice = close.sort_values(["_cost", "after"], ascending=[True, False]).iloc[0]
    way = "indexing the new passages" if choice.how == INDEXES else "training again on them"
    yearly = 0.0 if pd.isna(choice.update_dollars) else choice.update_dollars * retrains
    often = "monthly" if retrains == months else f"{retrains} times in {months} months"
    took = _duration(choice.update_seconds) if pd.notna(choice.update_seconds) else "near zero"
    sentence = (f"When the facts change {often}, use {choice.method}: it takes "
                f"new facts in by {way} ({took} "
                f"each time, {money(yearly)} for the {retrains} updates) and then answers {choice.after:.0%} of the "
                "questions about them")
    others = usable[usable.method != choice.method].sort_values("after", ascending=False)
    notes = []
    for row in others.head(3).itertuples():
        cost = (f"{retrains} retrainings of {_duration(row.update_seconds)} each" if row.how == RETRAINS and
                pd.notna(row.update_seconds) else "indexing")
        notes.append(f"{row.method} {row.after:.0%} after {cost}")
    return sentence + (f"; beside it, {'; '.join(notes)}." if notes else ".")


def _duration(seconds: float) -> str:
    if pd.isna(seconds):
        return "time not measured"
    if seconds < 1:
        return "under 1 s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return (f"{minutes:.1f}".rstrip("0").rstrip(".") if minutes < 10 else f"{minutes:.0f}") + " min"
    return f"{minutes / 60:.1f} h"


def _sorted(frame: pd.DataFrame, more: list[str] = ()) -> pd.DataFrame:
    order = {name: i for i, name in enumerate(METHODS)}
    keys = frame.assign(_m=frame.method.map(order), _s=frame["size"].map(size_order))
    return keys.sort_values(["_m", "_s", *more]).drop(columns=["_m", "_s"]).reset_index(drop=True)


def _wrong_cells(uncovered: pd.DataFrame, key, value) -> dict:
    """The wrong answers on questions not covered: "made up" where the runs recorded which were cut off (and "cut
    off" beside it), else "wrong or cut off" (made_up_words)."""
    recorded = key not in uncovered.index or "cut_off_recorded" not in uncovered or bool(
        uncovered.loc[key, "cut_off_recorded"])
    cells = {made_up_words(recorded): value(uncovered, key, "wrong_answer_rate")}
    return cells | ({"cut off": value(uncovered, key, "cut_off_rate")} if recorded else {})


def knowledge_rows(coverage: pd.DataFrame, update: pd.DataFrame, unit: str = "total") -> pd.DataFrame:
    """The knowledge view's table as a reader sees it: one row per (method, size), numbers formatted."""
    keys = pd.concat([coverage[["method", "size"]], update[["method", "size"]]]).drop_duplicates()
    if keys.empty:
        return pd.DataFrame()
    by_group = {group: coverage[coverage.group == group].set_index(["method", "size"]) for group in GROUPS}
    updates = update.set_index(["method", "size"])

    def value(frame, key, column, form="{:.0%}"):
        return form.format(frame.loc[key, column]) if key in frame.index and pd.notna(frame.loc[key, column]) else "–"

    rows = []
    for key in _sorted(keys).itertuples(index=False):
        key = (key.method, key.size)
        covered, uncovered = by_group["covered"], by_group["uncovered"]
        row = {"method": key[0], "training data": size_label(key[1], unit),
               "covered: right": value(covered, key, "answer_match"),
               "not covered: right": value(uncovered, key, "answer_match"),
               "I don't know": value(uncovered, key, "abstention_rate"),  # this and the next: questions not covered
               **_wrong_cells(uncovered, key, value)}
        if key in updates.index:
            entry = updates.loc[key]
            row |= {"new facts": f"{entry.before:.0%} → {entry.after:.0%}", "taking them in costs": update_cost(entry)}
        rows.append(row)
    return pd.DataFrame(rows).fillna("–")  # "cut off" and "wrong or cut off": each row has one of the two kinds
