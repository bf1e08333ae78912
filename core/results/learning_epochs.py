"""Known and unknown facts learned across epochs, read from stored runs with no model (Gekhman et al., EMNLP 2024:
Unknown facts are learned slowly and, once learned, raise made-up answers on other questions).

Each fine-tuning run of a QA experiment with the known-facts pass stored checkpoints (core/evaluation/
learning_epochs.py): at a few epoch ends, how many of its known and Unknown training facts it answered right and
how many of a sample of test questions it made an answer up to. Epoch 0 is the base model: the pass's greedy
answers. Here: one row per method, size and epoch (seeds pooled), a sentence per method saying whether the finding
holds here, and the chart.

    table = learning_table(store.runs_frame(name), experiment["task"]["known_facts"], experiment["task"]["questions"])
    learning_findings(table)   # the report's sentences, from the data
    learning_figure(table)     # the Knowledge page and the HTML report
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluation.known_facts import accepted_of, made_up
from core.results.text import method_name

COLUMNS = ["method", "size", "epoch", "runs", "known_right", "known", "unknown_right", "unknown", "test_made_up",
           "test_questions", "known_share", "unknown_share", "made_up_share", "seconds"]
THIN_UNKNOWN = 10  # Unknown training facts (summed over seeds) below which "learned slowly" rests on a handful


def learning_table(runs: pd.DataFrame, known_facts: dict | None, questions: list[dict]) -> pd.DataFrame:
    """One row per method, size and checkpoint epoch of the finished runs that stored checkpoints (epoch 0: before
    training, its made-up answers the base model's greedy ones from the known-facts pass). Counts summed over seeds;
    *_share: right (or made up) out of the group's questions."""
    greedy = {q["row"]: q["greedy"] for q in (known_facts or {}).get("questions", []) if q["split"] == "test"}
    counts: dict[tuple, dict] = {}
    finished = runs[runs.status == "finished"] if "status" in runs else runs
    for method, size, record in zip(finished.method, finished["size"], finished.record):
        stored = (record or {}).get("learning_across_epochs")
        if not stored or not stored.get("checkpoints"):
            continue
        rows = stored["test_rows"]
        base = {**stored["before"], "test_questions": len(rows), "seconds": 0.0,
                "test_made_up": sum(made_up(greedy.get(row, ""), accepted_of(questions[row])) for row in rows
                                    if row < len(questions))}
        for point in [base, *stored["checkpoints"]]:
            key = (method, size, point["epoch"])
            total = counts.setdefault(key, dict.fromkeys(COLUMNS[3:10] + ["seconds"], 0))
            total["runs"] += 1
            for name in ("known_right", "known", "unknown_right", "unknown", "test_made_up", "test_questions",
                         "seconds"):
                total[name] += point.get(name, 0)
    rows = [{"method": m, "size": s, "epoch": e, **c} for (m, s, e), c in counts.items()]
    table = pd.DataFrame(rows, columns=COLUMNS[:10] + ["seconds"])
    share = lambda right, of: (table[right] / table[of].where(table[of] > 0)).astype(float)  # noqa: E731
    table["known_share"], table["unknown_share"] = share("known_right", "known"), share("unknown_right", "unknown")
    table["made_up_share"] = share("test_made_up", "test_questions")
    return table[COLUMNS].sort_values(["method", "size", "epoch"], kind="stable").reset_index(drop=True)


def learning_findings(table: pd.DataFrame) -> list[str]:
    """One sentence per method and size: where Unknown and known training facts stood at the last checkpoint, when
    the first checkpoint came, made-up answers on test from the base model to then, and whether that is Gekhman et
    al.'s finding in shape. [] without checkpoints."""
    sentences = []
    for (method, size), group in table.groupby(["method", "size"], sort=False):
        trained = group[group.epoch > 0]
        if trained.empty:
            continue
        first, last, base = trained.iloc[0], trained.iloc[-1], group.iloc[0]
        slower = bool((trained.unknown_share < trained.known_share).all())
        raised = bool(last.made_up_share > base.made_up_share)
        sentence = (f"{method} ({size} training questions): Unknown facts reached {_pct(last.unknown_share)} after "
                    f"{int(last.epoch)} epoch(s) against {_pct(last.known_share)} for known ones (after epoch "
                    f"{int(first.epoch)}: {_pct(first.unknown_share)} against {_pct(first.known_share)}); made-up "
                    f"answers on test went from {_pct(base.made_up_share)} (the base model) to "
                    f"{_pct(last.made_up_share)}")
        if np.isnan(last.unknown_share) or np.isnan(last.known_share):
            verdict = "with only one kind of fact trained on, the speeds cannot be compared"
        elif slower and raised:
            verdict = "Gekhman et al.'s finding holds here in shape"
        elif slower or raised:
            verdict = ("it holds in part: Unknown facts were learned more slowly, and made-up answers did not rise"
                       if slower else "it holds in part: made-up answers rose, and Unknown facts were not learned "
                       "more slowly")
        else:
            verdict = "Gekhman et al.'s finding does not hold here"
        thin = int(last.unknown) < THIN_UNKNOWN
        sentences.append(f"{sentence}: {verdict}" + (f" (only {int(last.unknown)} Unknown fact(s) trained on: too "
                                                     "few to conclude)." if thin else "."))
    return sentences


def _pct(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.0%}"


def cost_line(table: pd.DataFrame) -> str:
    """What the checkpoints cost, said beside them."""
    return (f"The checkpoints' answering took {table.seconds.sum():.0f} s in all, recorded apart from training "
            "(llm.known_facts.checkpoints: 0 turns it off).")


def learning_figure(table: pd.DataFrame):
    """Share of known and Unknown training facts answered right, and of test answers made up, against epochs: a
    colour per measure, a dash per method and size."""
    import plotly.graph_objects as go

    figure = go.Figure()
    measures = (("known_share", "known facts right", "#2CA02C"), ("unknown_share", "Unknown facts right", "#9467BD"),
                ("made_up_share", "made up on test", "#7F7F7F"))
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    for i, ((method, size), group) in enumerate(table.groupby(["method", "size"], sort=False)):
        for column, name, colour in measures:
            figure.add_trace(go.Scatter(x=group.epoch, y=group[column] * 100, mode="lines+markers",
                                        name=f"{method_name(method)} {size}: {name}",
                                        line={"color": colour, "dash": dashes[i % len(dashes)]}))
    figure.update_layout(title="Known and Unknown facts learned across epochs", xaxis_title="epoch (0: base model)",
                         yaxis_title="% of questions", yaxis_range=[0, 100], height=380,
                         margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return figure
