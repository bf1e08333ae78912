"""The figures core draws: cost against query volume is one function, whoever shows it (report or dashboard)."""

import numpy as np
import pandas as pd

from core.methods import METHODS
from core.results.costs import Constraints, break_even_queries, total_cost
from core.results.figures import cost_volume_figure, report_cost_figure
from core.results.recommendation import recommend
from core.results.text import method_name

# rag is cheap to train and dear per query, lora the other way round, tfidf cheapest per query but least accurate
TABLE = pd.DataFrame({
    "method": ["rag", "lora", "tfidf"], "size": ["32", "32", "32"], "seeds": [2, 2, 2],
    "accuracy": [0.80, 0.90, 0.60], "accuracy_low": [0.75, 0.86, 0.55], "accuracy_high": [0.85, 0.94, 0.65],
    "train_dollars": [0.01, 0.5, 0.001], "inference_dollars_per_1k": [0.012, 0.004, 0.0006],
    "inference_seconds_per_1k": [9.0, 3.0, 0.4], "bytes_stored": [1e6, 1e6, 1e5],
    "total_parameters": [22e6, 22e6, 0]})


def _lines(figure) -> dict:
    return {trace.name: trace for trace in figure.data if trace.mode == "lines"}


def test_cost_against_volume_marks_the_chosen_option_those_ruled_out_and_the_users_volume():
    costs = total_cost(TABLE, np.logspace(2, 8, 13))
    figure = cost_volume_figure(costs, break_even_queries(TABLE), "per_class", chosen=("lora", "32"),
                                ruled_out={("tfidf", "32")}, volume=10_000)
    lines = _lines(figure)
    chosen, out, other = (lines["LoRA adapter (32 per class) (chosen)"],
                          lines["TF-IDF + logistic regression (32 per class) (ruled out)"], lines["RAG (32 per class)"])
    assert (chosen.line.dash, chosen.line.width) == ("solid", 4)
    assert (out.line.dash, out.opacity) == ("dot", 0.45) and other.line.dash == "dash"
    assert [shape.x0 for shape in figure.layout.shapes] == [10_000]
    assert figure.layout.annotations[0].text == "your volume: 10,000"
    diamonds = next(trace for trace in figure.data if trace.name == "break-even")
    assert "LoRA adapter (32 per class) is cheaper than RAG (32 per class)" in " ".join(diamonds.text)
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"


def test_without_a_choice_each_method_keeps_its_own_name_and_dash():
    costs = total_cost(TABLE, [1e3, 1e6])
    lines = _lines(cost_volume_figure(costs, break_even_queries(TABLE).iloc[0:0]))
    titles = {method_name(m): m for m in ("rag", "lora", "tfidf")}
    assert list(lines) == list(titles)  # named by the method's title alone: one size per method
    assert {name: trace.line.dash for name, trace in lines.items()} == {t: METHODS[m].dash for t, m in titles.items()}


def test_the_report_draws_the_chosen_option_and_the_best_of_every_other_method():
    constraints = Constraints(accuracy_floor=0.7, queries=1_000_000)
    rec = recommend(TABLE, constraints)
    lines = _lines(report_cost_figure(rec, constraints))
    assert rec.option == "LoRA adapter (32 per class)"
    assert set(lines) == {"LoRA adapter (32 per class) (chosen)", "RAG (32 per class)",
                          "TF-IDF + logistic regression (32 per class) (ruled out)"}
    volumes = lines["RAG (32 per class)"].x
    assert min(volumes) <= 1_000 and max(volumes) >= 1e9  # three decades either side of the user's volume
