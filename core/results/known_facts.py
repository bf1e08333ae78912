"""Known and unknown facts in a stored QA experiment (Gekhman et al., EMNLP 2024), read with no model.

The closed-book pass before training (core/running/known_facts.py) stored each question's category. Here, per
method and training-set size: answer match on the test questions the base model knew and on those it did not;
how often a run made up an answer (a wrong, non-empty answer that does not abstain) to a question the base model
knew, against the base model itself; the share of Unknown facts each fine-tuning run trained on, and how many of
its known and Unknown training facts it answers after training. Then one sentence: whether their finding holds
here, in shape (Unknown facts are learned more slowly and, once learned, raise made-up answers elsewhere).

    view = known_facts_view(store.experiment(name), store.runs_frame(name))
    markdown_lines(view)   # `adaptlab show`, the decision report; view.table on the Knowledge page
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.evaluation.known_facts import accepted_of, made_up
from core.evaluation.metrics import answer_match
from core.task.sizes import size_label

THIN_KNOWN = 20  # known test questions below which a made-up rate moves 5 points with one answer
THIN_UNKNOWN = 10  # Unknown training facts per run below which "learned more slowly" rests on a handful
NOT_RUN = ("The known-facts pass did not run for this experiment (stored before adaptlab had it, or "
           "llm.known_facts.enabled is false), so its results are not split by known and unknown facts; run it again "
           "under a new name to have them.")
COLUMNS = ["method", "size", "seeds", "unknown_share", "known_questions", "match_known", "unknown_questions",
           "match_unknown", "made_up_known", "base_made_up_known", "fit_known", "fit_known_questions", "fit_unknown",
           "fit_unknown_questions"]


@dataclass
class KnownFactsView:
    ran: bool  # False: nothing stored (an experiment from before the pass, or the pass switched off)
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))
    categories: dict[str, int] = field(default_factory=dict)  # test questions per category
    seconds: float = 0.0  # what the pass cost
    questions: int = 0  # questions it answered (test and training)
    samples: int = 0  # sampled answers per question besides the greedy one
    finding: str = NOT_RUN
    unit: str = "total"  # of the sizes (core.task.sizes.size_label)
    # across epochs: core.results.learning_epochs.learning_table, and its sentences (from the data)
    learning: pd.DataFrame = field(default_factory=pd.DataFrame)
    learning_lines: list[str] = field(default_factory=list)


def test_categories(known_facts: dict, tests: int) -> list[str | None]:
    by_row = {q["row"]: q["category"] for q in known_facts["questions"] if q["split"] == "test"}
    return [by_row.get(row) for row in range(tests)]


def known_facts_table(runs: pd.DataFrame, known_facts: dict, questions: list[dict]) -> pd.DataFrame:
    """One row per method and size (seeds pooled) of the finished runs: see the module's docstring. Rates are shares
    in [0, 1], NaN where a group is empty or a method did not train on questions; fit_*: the training facts answered
    right after training, out of fit_*_questions (summed over seeds)."""
    accepted = [accepted_of(q) for q in questions]
    known = np.array([c is not None and c != "Unknown" for c in test_categories(known_facts, len(questions))])
    unknown = np.array([c == "Unknown" for c in test_categories(known_facts, len(questions))])
    greedy = {q["row"]: q["greedy"] for q in known_facts["questions"] if q["split"] == "test"}
    base_made_up = [made_up(greedy.get(row, ""), accepted[row]) for row in range(len(questions))]
    rows = []
    finished = runs[runs.status == "finished"] if "status" in runs else runs
    for (method, size), group in finished.groupby(["method", "size"], sort=False):
        match, invented, shares, fit = [], [], [], {"known": [0, 0], "unknown": [0, 0]}
        for record in group.record:
            answers = list(record.get("answers") or [])
            if len(answers) != len(questions):
                continue  # a run without its answers stored (or of other questions) tells nothing here
            match.append([answer_match(a, acc) for a, acc in zip(answers, accepted)])
            invented.append([made_up(a, acc) for a, acc in zip(answers, accepted)])
            share = (record.get("details") or {}).get("unknown_share")
            if share is not None:
                shares.append(share)
            for group_name, counts in (record.get("known_facts_fit") or {}).items():
                fit[group_name][0] += counts["right"]
                fit[group_name][1] += counts["questions"]
        if not match:
            continue
        match, invented = np.array(match, dtype=float), np.array(invented, dtype=float)
        rows.append({"method": method, "size": size, "seeds": len(match),
                     "unknown_share": float(np.mean(shares)) if shares else np.nan,
                     "known_questions": int(known.sum()), "match_known": _mean(match[:, known]),
                     "unknown_questions": int(unknown.sum()), "match_unknown": _mean(match[:, unknown]),
                     "made_up_known": _mean(invented[:, known]),
                     "base_made_up_known": _mean(np.array(base_made_up, dtype=float)[known]),
                     **{f"fit_{name}": right / of if of else np.nan for name, (right, of) in fit.items()},
                     **{f"fit_{name}_questions": of for name, (_, of) in fit.items()}})
    return pd.DataFrame(rows, columns=COLUMNS)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else np.nan


def known_facts_finding(table: pd.DataFrame) -> str:
    """Whether Gekhman et al.'s finding holds here, in shape, with the numbers; and when the evidence is too thin."""
    trained = table[table.unknown_share.notna()]
    if trained.empty:
        return ("No fine-tuning run trained on questions, so whether training on Unknown facts raises made-up "
                "answers cannot be told here; the split above is the base model's knowledge against each method.")
    fit = {group: [int(round((trained[f"fit_{group}"].fillna(0) * trained[f"fit_{group}_questions"]).sum())),
                   int(trained[f"fit_{group}_questions"].sum())] for group in ("known", "unknown")}
    made, base = float(trained.made_up_known.mean()), float(trained.base_made_up_known.iloc[0])
    parts, holds = [], []
    if fit["unknown"][1] and fit["known"][1]:
        fu, fk = fit["unknown"][0] / fit["unknown"][1], fit["known"][0] / fit["known"][1]
        holds.append(fu < fk)
        parts.append(f"after fine-tuning the runs answer {fit['unknown'][0]}/{fit['unknown'][1]} ({fu:.0%}) of the "
                     f"Unknown facts they trained on against {fit['known'][0]}/{fit['known'][1]} ({fk:.0%}) of the "
                     f"known ones ({'learned more slowly' if fu < fk else 'not learned more slowly'})")
    else:
        parts.append("the runs trained on " + ("no known" if fit["unknown"][1] else "no Unknown") + " facts, so "
                     "how fast each kind is learned cannot be compared")
    if np.isnan(made) or np.isnan(base):
        parts.append("no test question was known to the base model, so made-up answers on known facts cannot be "
                     "compared")
    else:
        holds.append(made > base)
        parts.append(f"they make up answers to {made:.0%} of the test questions the base model knew against "
                     f"{base:.0%} for the base model ({'raised' if made > base else 'not raised'}; highest share "
                     f"of Unknown facts trained on: {trained.unknown_share.max():.0%})")
    verdict = ("holds" if holds and all(holds) else "partly holds" if any(holds) else "does not hold"
               if holds else "cannot be tested")
    thin = []
    if int(table.known_questions.max()) < THIN_KNOWN:
        thin.append(f"{int(table.known_questions.max())} known test question(s)")
    if fit["unknown"][1] / max(1, int(trained.seeds.sum())) < THIN_UNKNOWN:
        thin.append(f"{fit['unknown'][1]} Unknown training fact(s) over {int(trained.seeds.sum())} run(s)")
    if int(table.seeds.max()) < 2:
        thin.append("one seed")
    sentence = f"Gekhman et al.'s finding, in shape, {verdict} here: " + "; ".join(parts) + "."
    if thin:
        sentence += " The evidence is too thin to conclude (" + ", ".join(thin) + ")."
    return sentence


def known_facts_view(experiment: dict, runs: pd.DataFrame) -> KnownFactsView | None:
    """What show, the report and the Knowledge page show of a stored experiment; None for a classification task
    (the split is about facts a model answers)."""
    task = experiment.get("task") or {}
    if task.get("kind") != "qa":
        return None
    stored = task.get("known_facts")
    if not stored:
        return KnownFactsView(ran=False)
    questions = task.get("questions") or []
    from core.results.learning_epochs import cost_line, learning_findings, learning_table

    table = known_facts_table(runs, stored, questions)
    counts = pd.Series(test_categories(stored, len(questions))).value_counts()
    learning = learning_table(runs, stored, questions)
    findings = learning_findings(learning)
    return KnownFactsView(ran=True, table=table, categories={str(k): int(v) for k, v in counts.items()},
                          seconds=float(stored.get("seconds", 0.0)), questions=len(stored["questions"]),
                          samples=int(stored.get("samples", 0)),
                          finding=known_facts_finding(table),
                          unit=experiment.get("config", {}).get("size_unit", "total"), learning=learning,
                          learning_lines=[*findings, cost_line(learning)] if findings else [])


def shown_table(view: KnownFactsView) -> pd.DataFrame:
    """The table as people read it: percentages, counts beside them."""
    table = view.table

    def pct(values):
        return values.map(lambda v: "–" if pd.isna(v) else f"{v:.0%}")

    return pd.DataFrame({
        "method": table.method, "training data": table["size"].map(lambda size: size_label(str(size), view.unit)),
        "seeds": table.seeds,
        "Unknown share trained on": pct(table.unknown_share),
        "match, known": pct(table.match_known) + " of " + table.known_questions.astype(str),
        "match, unknown": pct(table.match_unknown) + " of " + table.unknown_questions.astype(str),
        "made up, known (base)": pct(table.made_up_known) + " (" + pct(table.base_made_up_known) + ")",
        "training facts answered, known / Unknown": pct(table.fit_known) + " / " + pct(table.fit_unknown)})


def summary_line(view: KnownFactsView) -> str:
    if not view.ran:
        return NOT_RUN
    counts = ", ".join(f"{name} {n}" for name, n in view.categories.items() if n)
    how = f"greedy and {view.samples} sample(s) each" if view.samples else "greedy only"
    return (f"Before any training the base model answered {view.questions} question(s) closed-book ({how}) in "
            f"{view.seconds:.1f} s; test questions by category: {counts}. Known: any category but "
            "Unknown. Made up: a wrong answer that is not empty and does not abstain.")


def markdown_lines(view: KnownFactsView | None) -> list[str]:
    """The section for `adaptlab show` and the Markdown report ([] for a classification task)."""
    if view is None:
        return []
    from core.results.text import markdown_table

    lines = ["## Known and unknown facts", "", summary_line(view), ""]
    if view.ran:
        lines += [markdown_table(shown_table(view)) if len(view.table) else "No finished run answered the test "
                  "questions yet.", "", view.finding, ""]
        if view.learning_lines:
            lines += ["### Across epochs", "", *[f"- {line}" for line in view.learning_lines], ""]
    return lines


def html_fragment(view: KnownFactsView | None) -> str:
    """The section for the HTML report ("" for a classification task)."""
    if view is None:
        return ""
    parts = ["<h2>Known and unknown facts</h2>", f"<p>{html.escape(summary_line(view))}</p>"]
    if view.ran:
        table = shown_table(view)
        parts += [table.to_html(index=False, escape=True, border=0) if len(table) else "<p>none</p>",
                  f"<p>{html.escape(view.finding)}</p>"]
        if view.learning_lines:
            parts += ["<h3>Across epochs</h3><ul>", *[f"<li>{html.escape(line)}</li>" for line in view.learning_lines],
                      "</ul>"]
    return "".join(parts)
