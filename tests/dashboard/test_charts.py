"""Charts are functions of DataFrames: each figure has the traces a reader needs, built without a browser."""

import numpy as np
import pandas as pd
import pytest

from core.analysis import learning_curves, negative_transfer, summary_table, with_correctness
from core.decision import break_even_queries, per_class_f1, storage_of_variants, total_cost
from core.store import SqlStore
from dashboard import charts
from tests.dashboard.conftest import fake_experiment


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """(runs, scored runs, summary) of a synthetic grid: computed once, the intervals take a few seconds."""
    store = SqlStore(tmp_path_factory.mktemp("charts") / "results.db")
    fake_experiment(store)
    experiment = store.experiment("fake")
    runs = store.runs_frame("fake", with_predictions=True)
    return runs, with_correctness(runs, experiment["test_labels"]), summary_table(runs, experiment["test_labels"])


def _names(figure):
    return [trace.name for trace in figure.data]


def test_learning_curves_have_a_line_and_an_interval_band_per_method(results):
    _, scored, _ = results
    figure = charts.learning_curves_chart(learning_curves(scored))
    methods = ["prompt", "rag", "probe", "lora", "full", "scratch", "tfidf"]
    assert [t.name for t in figure.data if t.mode == "lines+markers"] == methods
    bands = [t for t in figure.data if t.fill == "toself"]
    assert len(bands) == 7 and all(len(b.x) == 4 for b in bands)  # two sizes, there and back
    lora = next(t for t in figure.data if t.name == "lora")
    assert list(lora.x) == ["8", "32"] and lora.y[0] < lora.y[1]
    assert list(figure.layout.xaxis.categoryarray) == ["8", "32"]


def test_accuracy_against_cost_marks_the_pareto_front_on_any_axis(results):
    *_, summary = results
    for axis in ("train_dollars", "inference_seconds_per_1k", "peak_memory_mb", "bytes_stored"):
        figure = charts.accuracy_cost_chart(summary, axis)
        assert _names(figure)[:2] == ["Pareto front", "on the front"] and "lora" in _names(figure)
        front = figure.data[0]
        assert len(front.x) >= 1 and list(front.x) == sorted(front.x)
        assert figure.layout.xaxis.title.text != axis  # the axis speaks the user's words
    best = summary.accuracy.max()
    assert max(charts.accuracy_cost_chart(summary).data[0].y) == best  # the most accurate is always on the front


def test_per_class_f1_is_a_heatmap_of_options_by_class(results):
    runs, _, _ = results
    f1 = per_class_f1(runs)
    figure = charts.per_class_f1_chart(f1[f1["size"].isin(["32", "0"])])
    heatmap = figure.data[0]
    assert heatmap.type == "heatmap" and list(heatmap.x) == ["limerick", "murphy", "zippy"]
    assert len(heatmap.y) == 7 and np.nanmax(heatmap.z) <= 1


def test_negative_transfer_marks_hurting_cells_in_red(results):
    _, scored, _ = results
    transfer = negative_transfer(scored)
    figure = charts.negative_transfer_chart(transfer)
    cells = {t.name: t for t in figure.data if t.offsetgroup}  # one trace of cells per method
    lora = cells["lora"]
    colors = dict(zip(lora.x, lora.marker.color))
    assert colors["8"] == charts.HURTS and colors["32"] != charts.HURTS
    assert dict(zip(lora.x, lora.marker.symbol))["8"] == "x" and dict(zip(lora.x, lora.text)) == {"8": "hurts", "32": ""}
    assert all(t.error_y.array is not None for t in cells.values())  # every cell carries its interval
    legend = [t for t in figure.data if t.showlegend is not False]
    assert [t.name for t in legend][-1] == "transfer hurts" and legend[0].marker.color == charts.color(legend[0].name)


def test_cost_against_volume_has_a_line_per_method_and_break_even_markers():
    table = pd.DataFrame({"method": ["rag", "lora"], "size": ["32", "32"], "train_dollars": [0.01, 0.5],
                          "inference_dollars_per_1k": [0.012, 0.004]})
    points = break_even_queries(table)
    figure = charts.cost_volume_chart(total_cost(table, np.logspace(3, 8, 20)), points)
    assert _names(figure) == ["rag", "lora", "break-even"]
    assert figure.data[2].x[0] == points.queries.iloc[0] and figure.layout.xaxis.type == "log"
    assert "lora is cheaper than rag" in figure.data[2].text[0]
    assert _names(charts.cost_volume_chart(total_cost(table, [1e3]), points.iloc[0:0])) == ["rag", "lora"]


def test_storage_draws_shared_bases_solid_and_full_copies_dashed(results):
    *_, summary = results
    figure = charts.storage_chart(storage_of_variants(summary, [1, 10, 100]))
    dash = {t.name: t.line.dash for t in figure.data}
    assert dash["lora"] == "solid" and dash["full"] == "dash" and dash["tfidf"] == "dash"
    lora, full = (next(t for t in figure.data if t.name == m) for m in ("lora", "full"))
    assert lora.y[-1] < full.y[-1] / 10


def test_empty_frames_give_empty_figures_not_errors():
    empty_curves = pd.DataFrame(columns=["method", "size", "accuracy", "accuracy_low", "accuracy_high", "seeds"])
    assert charts.learning_curves_chart(empty_curves).data == ()
    empty_summary = pd.DataFrame(columns=["method", "size", "accuracy", "accuracy_low", "accuracy_high",
                                          "train_dollars"])
    assert _names(charts.accuracy_cost_chart(empty_summary)) == ["Pareto front", "on the front"]
