"""Charts are functions of DataFrames: each figure has the traces a reader needs, built without a browser."""

import numpy as np
import pandas as pd
import pytest

from core.results.analysis import learning_curves, negative_transfer, per_class_f1, summary_table, with_correctness
from core.results.costs import break_even_queries, storage_of_variants, total_cost
from core.results.store import SqlStore
from core.results.text import method_name as title  # how a chart names a method: legends, hovers, axes
from dashboard import charts, knowledge_charts
from tests.dashboard.conftest import fake_experiment, fake_qa_experiment


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
    methods = ["rag", "probe", "lora", "full", "scratch", "tfidf"]  # prompt-only learns from no training data
    assert [t.name for t in figure.data if t.mode == "lines+markers"] == [title(m) for m in methods]  # titles, not keys
    bands = [t for t in figure.data if t.fill == "toself"]
    assert len(bands) == 6 and all(len(b.x) == 4 for b in bands)  # two sizes, there and back
    lora = next(t for t in figure.data if t.name == "LoRA adapter")
    assert "<b>LoRA adapter</b>" in lora.hovertemplate
    assert list(lora.x) == ["8", "32"] and lora.y[0] < lora.y[1]
    assert list(figure.layout.xaxis.categoryarray) == ["8", "32"]


def _curves(sizes: list[str]) -> pd.DataFrame:
    """Learning-curve rows as core.results.analysis makes them: prompt-only measured once, repeated at every size."""
    rows = []
    for i, size in enumerate(sizes):
        for method, accuracy in (("prompt", 0.40), ("lora", 0.60 + 0.1 * i), ("rag", 0.55 + 0.05 * i)):
            rows.append({"method": method, "size": size, "train_examples": 0, "seeds": 1, "accuracy": accuracy,
                         "accuracy_low": accuracy - 0.1, "accuracy_high": accuracy + 0.1, "macro_f1": accuracy})
    return pd.DataFrame(rows)


def test_a_learning_curve_with_one_size_draws_points_and_no_training_data_as_a_level_line():
    figure = charts.learning_curves_chart(_curves(["32"]), "total", "answer match")
    drawn = {t.name: t for t in figure.data if t.x and t.x[0] is not None}
    assert set(drawn) == {"LoRA adapter", "RAG"}  # prompt-only is at no size
    assert all(t.mode == "markers" and t.error_y.array is not None for t in drawn.values())  # points with intervals
    assert not [t for t in figure.data if t.fill == "toself"]  # no band: there is nothing to span
    assert list(figure.layout.xaxis.categoryarray) == ["32"]
    level = [shape for shape in figure.layout.shapes if shape.type == "line"]
    assert len(level) == 1 and level[0].y0 == level[0].y1 == pytest.approx(0.40) and level[0].xref == "x domain"
    assert "Prompt-only (no training data)" in _names(figure)  # named in the legend
    several = charts.learning_curves_chart(_curves(["8", "32"]))
    assert {t.mode for t in several.data if t.name in ("LoRA adapter", "RAG")} == {"lines+markers"}
    assert "0" not in list(several.layout.xaxis.categoryarray)


def _boxes_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_pareto_labels_sit_beside_their_rings_clear_of_other_points_and_are_drawn_last():
    """Two points close together on the front and a third method's point right above the first: its label goes
    where no marker or interval bar is, and the labels are drawn over every marker."""
    summary = pd.DataFrame({"method": ["prompt", "tfidf", "rag", "lora"], "size": ["0", "8", "8", "32"],
                            "accuracy": [0.45, 0.55, 0.60, 0.90], "accuracy_low": [0.35, 0.45, 0.50, 0.80],
                            "accuracy_high": [0.55, 0.65, 0.70, 0.95],
                            "train_dollars": [0.00001, 0.000012, 0.00010, 0.004]})
    figure = charts.accuracy_cost_chart(summary)
    assert figure.data[-1].name == "on the front"  # drawn last: no marker sits over a label
    ring = figure.data[-1]
    spots = dict(zip(ring.text, ring.textposition))
    # tfidf's ring (8 per class): above and below it is its own interval bar, to its left prompt-only's ring and bar;
    # to its right nothing until rag, far along the log axis
    assert spots["8 per class"] == "middle right"
    assert all(spot in charts.LABEL_SPOTS for spot in ring.textposition)


def test_accuracy_against_cost_marks_the_pareto_front_on_any_axis(results):
    *_, summary = results
    for axis in ("train_dollars", "inference_seconds_per_1k", "peak_memory_mb", "bytes_stored"):
        figure = charts.accuracy_cost_chart(summary, axis)
        assert _names(figure)[0] == "Pareto front" and _names(figure)[-1] == "on the front"
        assert "LoRA adapter" in _names(figure) and "lora" not in _names(figure)
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
    lora = cells["LoRA adapter"]
    assert "<b>LoRA adapter</b>" in lora.hovertemplate and "vs From scratch" in lora.hovertemplate
    colors = dict(zip(lora.x, lora.marker.color))
    assert colors["8"] == charts.HURTS and colors["32"] != charts.HURTS
    assert dict(zip(lora.x, lora.marker.symbol))["8"] == "x"
    assert dict(zip(lora.x, lora.text)) == {"8": "hurts", "32": ""}
    assert all(t.error_y.array is not None for t in cells.values())  # every cell carries its interval
    legend = [t for t in figure.data if t.showlegend is not False]
    assert [t.name for t in legend][-1] == "transfer hurts"
    assert legend[0].marker.color == charts.color(legend[0].legendgroup)


def test_cost_against_volume_has_a_line_per_method_and_break_even_markers():
    table = pd.DataFrame({"method": ["rag", "lora"], "size": ["32", "32"], "train_dollars": [0.01, 0.5],
                          "inference_dollars_per_1k": [0.012, 0.004]})
    points = break_even_queries(table)
    figure = charts.cost_volume_chart(total_cost(table, np.logspace(3, 8, 20)), points)
    assert _names(figure) == ["RAG", "LoRA adapter", "break-even"]  # methods by their titles, as the verdict says
    assert figure.data[2].x[0] == points.queries.iloc[0] and figure.layout.xaxis.type == "log"
    assert "LoRA adapter is cheaper than RAG" in figure.data[2].text[0]
    assert _names(charts.cost_volume_chart(total_cost(table, [1e3]), points.iloc[0:0])) == ["RAG", "LoRA adapter"]


def test_storage_draws_shared_bases_solid_and_full_copies_dashed(results):
    *_, summary = results
    figure = charts.storage_chart(storage_of_variants(summary, [1, 10, 100]))
    dash = {t.name: t.line.dash for t in figure.data}
    assert dash["LoRA adapter"] == "solid" and dash["Full fine-tune"] == "dash" and dash[title("tfidf")] == "dash"
    lora, full = (next(t for t in figure.data if t.name == title(m)) for m in ("lora", "full"))
    assert lora.y[-1] < full.y[-1] / 10


def test_empty_frames_give_empty_figures_not_errors():
    empty_curves = pd.DataFrame(columns=["method", "size", "accuracy", "accuracy_low", "accuracy_high", "seeds"])
    assert charts.learning_curves_chart(empty_curves).data == ()
    empty_summary = pd.DataFrame(columns=["method", "size", "accuracy", "accuracy_low", "accuracy_high",
                                          "train_dollars"])
    assert _names(charts.accuracy_cost_chart(empty_summary)) == ["Pareto front", "on the front"]


def test_the_quality_axis_is_named_answer_match_for_questions(results):
    runs, scored, summary = results
    curves = charts.learning_curves_chart(learning_curves(scored), "total", "answer match")
    cost = charts.accuracy_cost_chart(summary, "train_dollars", "total", "answer match")
    transfer = charts.negative_transfer_chart(negative_transfer(scored), "scratch", "total", "answer match")
    for figure in (curves, cost):
        assert figure.layout.yaxis.title.text == "answer match" and figure.layout.title.text.startswith("Answer match")
        assert figure.data and all("accuracy" not in (trace.hovertemplate or "") for trace in figure.data)
    assert transfer.layout.title.text.replace("<br>", " ").startswith("Answer match minus From scratch")
    assert charts.learning_curves_chart(learning_curves(scored)).layout.yaxis.title.text == "accuracy"


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory):
    """(coverage, update) of a synthetic QA grid at each method's largest size."""
    from core.results.knowledge import at_size, coverage_table, update_table

    store = SqlStore(tmp_path_factory.mktemp("knowledge") / "results.db")
    fake_qa_experiment(store)
    runs = store.runs_frame("geo-qa-fake")
    return at_size(coverage_table(runs)), at_size(update_table(runs))


def test_coverage_puts_covered_and_uncovered_answer_match_side_by_side(knowledge):
    coverage, _ = knowledge
    figure = knowledge_charts.coverage_chart(coverage)
    assert [t.name.split(" ")[0] for t in figure.data] == ["covered", "not"] and figure.layout.barmode == "group"
    covered = coverage[coverage.group == "covered"]
    assert [x.replace("<br>", " ") for x in figure.data[0].x] == covered.method.map(title).tolist()
    assert list(figure.data[0].y) == covered.answer_match.tolist()
    assert list(figure.data[1].y) == coverage[coverage.group == "uncovered"].answer_match.tolist()


def test_answer_kinds_stack_to_every_question_with_made_up_answers_in_red(knowledge):
    coverage, _ = knowledge
    figure = knowledge_charts.answer_kinds_chart(coverage)
    assert [t.name for t in figure.data] == ["right", "I don't know", "made up (wrong)", "cut off", "no answer"]
    assert figure.layout.barmode == "stack" and figure.data[2].marker.color == charts.HURTS
    assert all(t.orientation == "h" for t in figure.data)  # a bar a row: method and coverage labels read across
    totals = np.sum([np.asarray(t.x, dtype=float) for t in figure.data], axis=0)
    assert np.allclose(totals, 1.0)
    groups = ["not covered" if g == "uncovered" else g for g in coverage.group]
    assert [list(level) for level in figure.data[0].y] == [coverage.method.map(title).tolist(), groups]
    made_up = dict(zip(zip(*figure.data[2].y), figure.data[2].x))
    lora = coverage[(coverage.method == "lora") & (coverage.group == "uncovered")].wrong_answer_rate.iloc[0]
    assert made_up[("LoRA adapter", "not covered")] == lora


def test_answer_kinds_of_runs_stored_before_cut_offs_were_recorded_read_wrong_or_cut_off(tmp_path):
    """Issue 30 §3: a run whose record does not say which answers max_new_tokens cut off cannot tell a made-up answer
    from a cut-off one: its wrong answers are "wrong or cut off" (the Answers page's words), never "made up"."""
    from core.results.knowledge import at_size, coverage_table

    store = SqlStore(tmp_path / "results.db")
    fake_qa_experiment(store, methods=("rag", "lora"), old=True)
    coverage = at_size(coverage_table(store.runs_frame("geo-qa-fake")))
    figure = knowledge_charts.answer_kinds_chart(coverage)
    parts = {t.name: t for t in figure.data}
    assert "wrong or cut off" in parts and not any(np.asarray(parts["made up (wrong)"].x, dtype=float))
    lora = coverage[(coverage.method == "lora") & (coverage.group == "uncovered")].wrong_answer_rate.iloc[0]
    assert lora > 0 and dict(zip(zip(*parts["wrong or cut off"].y), parts["wrong or cut off"].x))[
        ("LoRA adapter", "not covered")] == lora
    assert np.allclose(np.sum([np.asarray(t.x, dtype=float) for t in figure.data], axis=0), 1.0)


def test_the_knowledge_update_draws_before_and_after_per_method(knowledge):
    _, update = knowledge
    figure = knowledge_charts.knowledge_update_chart(update)
    before, after = (next(t for t in figure.data if t.name.startswith(word)) for word in ("before", "after"))
    assert list(before.y) == list(after.y) == update.method.map(title).tolist()
    assert dict(zip(after.y, after.x))["RAG"] > dict(zip(before.y, before.x))["RAG"]  # indexing helped
    assert dict(zip(after.y, after.x))["Prompt-only"] == dict(zip(before.y, before.x))["Prompt-only"]  # nowhere
    assert after.marker.color[update.method.tolist().index("rag")] == charts.color("rag")


def test_the_update_cost_is_training_again_for_trained_methods_and_near_zero_for_retrieval(knowledge):
    _, update = knowledge
    figure = knowledge_charts.update_cost_chart(update)
    bars = figure.data[0]
    seconds, words = dict(zip(bars.y, bars.x)), dict(zip(bars.y, bars.text))
    assert seconds["LoRA adapter"] == update.set_index("method").update_seconds["lora"] > 0
    assert seconds["RAG"] == 0.4 and words["RAG"].startswith("indexing")
    assert words["LoRA adapter"].startswith("training again")
    assert seconds["Prompt-only"] == 0
    assert words["Prompt-only"].startswith("none")
    empty = update.iloc[0:0]
    assert len(knowledge_charts.update_cost_chart(empty).data[0].x) == 0  # empty table, empty chart, no error
    assert len(knowledge_charts.knowledge_update_chart(empty).data[1].x) == 0


def test_every_method_has_its_own_colour():
    from core.config import METHOD_NAMES

    assert set(METHOD_NAMES) <= set(charts.METHOD_COLORS)
    assert len(set(charts.METHOD_COLORS.values())) == len(charts.METHOD_COLORS)
    assert charts.HURTS not in charts.METHOD_COLORS.values()


def test_every_title_fits_a_half_width_chart_on_an_800_px_screen(results, knowledge):
    """An 800 px window leaves a half-width chart about 230 px: a title line of at most 26 characters at 16 px (and
    a note line of 36 at 12 px) fits; plotly does not wrap titles, it cuts them."""
    import re

    runs, scored, summary = results
    coverage, update = knowledge
    figures = [charts.learning_curves_chart(learning_curves(scored)),
               charts.learning_curves_chart(learning_curves(scored), band="lora"),
               charts.accuracy_cost_chart(summary), charts.per_class_f1_chart(per_class_f1(runs)),
               charts.negative_transfer_chart(negative_transfer(scored)),
               charts.cost_volume_chart(total_cost(summary, np.logspace(2, 6, 5)), break_even_queries(summary)),
               charts.storage_chart(storage_of_variants(summary, [1, 10])),
               charts.class_balance_chart({"train": {"a": 3, "b": 4}}), knowledge_charts.coverage_chart(coverage),
               knowledge_charts.answer_kinds_chart(coverage), knowledge_charts.knowledge_update_chart(update),
               knowledge_charts.update_cost_chart(update)]
    for figure in figures:
        title = figure.layout.title
        lines = [re.sub("<[^>]+>", "", line) for line in title.text.split("<br>")]
        assert title.font.size <= 16 and all(len(line) <= 26 for line in lines), lines
        note = title.subtitle.text or ""
        assert all(len(re.sub("<[^>]+>", "", line)) <= 36 for line in note.split("<br>")), note
        assert figure.layout.margin.t >= 30 + 20 * len(lines)  # room above the plot for every line


def test_the_pareto_front_is_labelled_with_its_sizes(results):
    *_, summary = results
    ring = next(t for t in charts.accuracy_cost_chart(summary).data if t.name == "on the front")
    labels = [s for s in ring.text if s]  # a size is said once for neighbours of the same size
    assert ring.mode == "markers+text" and labels and all("per class" in s or "no training data" in s for s in labels)
    assert all(a != b for a, b in zip(labels, labels[1:]))


def test_forgetting_draws_a_line_per_method_through_its_settings_with_intervals():
    summary = pd.DataFrame({
        "method": ["lora", "lora", "full", "full"], "size": ["128"] * 4,
        "setting": ["lr 0.001", "lr 0.002 (default)", "lr 3e-05", "lr 0.0001 (default)"],
        "accuracy": [0.79, 0.874, 0.856, 0.888], "recall_lost": [0.145, 0.20, 0.106, 0.212],
        "recall_lost_low": [0.036, 0.024, 0.03, 0.085], "recall_lost_high": [0.273, 0.406, 0.2, 0.352],
        "probe": ["countries"] * 4, "base_recall": [0.988] * 4, "seeds": [2] * 4})
    figure = charts.forgetting_chart(summary)
    lines = {trace.name: trace for trace in figure.data}
    assert set(lines) == {"LoRA adapter", "Full fine-tune"}
    full, lora = lines["Full fine-tune"], lines["LoRA adapter"]
    assert list(full.x) == [0.856, 0.888] and list(full.text) == ["lr 3e-05", "lr 0.0001 (default)"]
    assert list(lora.y) == pytest.approx([14.5, 20.0])  # recall points lost, not shares
    assert list(lora.error_y.array) == pytest.approx([12.8, 20.6])  # up to the interval's top
    assert figure.layout.yaxis.title.text == "recall lost on the countries probe (points)"


def test_point_labels_move_off_their_neighbours():
    alone = charts.label_spots([0.5], [10.0], ["lr 0.001"])
    assert alone == ["top center"]
    # two settings at the same accuracy, 5 points apart: one label above the pair, the other not on the upper point
    spots = charts.label_spots([0.65, 0.888, 0.888], [9.0, 21.2, 26.1], ["lr 0.0005", "lr 0.0001 (default)",
                                                                         "lr 0.0003"], (0.0, 72.0))
    assert spots[2] == "top center" and spots[1] != "top center"


def test_labels_from_the_data_are_text_in_a_chart_never_a_link():
    """plotly draws <a href> (and <b>, <i>) in axis labels: a label from the file is escaped, shown as typed."""
    anchor = "<a href='https://attacker.example'>click</a>"
    balance = charts.class_balance_chart({"train": {anchor: 3, "b": 4}})
    assert list(balance.data[0].x) == ["&lt;a href=&#x27;https://attacker.example&#x27;&gt;click&lt;/a&gt;", "b"]
    f1 = pd.DataFrame({"method": ["lora", "lora"], "size": ["8", "8"], "label": [anchor, "b"], "f1": [0.5, 0.9]})
    assert not any("<a" in str(x) for x in charts.per_class_f1_chart(f1).data[0].x)


def test_the_cost_page_draws_the_reports_cost_figure_laid_out_for_its_column():
    """One cost-against-volume chart: the dashboard's lines and markers are core's figure's, only the layout is its
    own (a wrapped title for a half-width column)."""
    import json

    from core.results.figures import cost_volume_figure

    table = pd.DataFrame({"method": ["rag", "lora"], "size": ["32", "32"], "train_dollars": [0.01, 0.5],
                          "inference_dollars_per_1k": [0.012, 0.004]})
    costs, points = total_cost(table, np.logspace(3, 8, 20)), break_even_queries(table)
    shown, drawn = charts.cost_volume_chart(costs, points), cost_volume_figure(costs, points)
    traces = lambda figure: json.loads(figure.to_json())["data"]  # noqa: E731
    assert traces(shown) == traces(drawn)
    assert "<br>" in shown.layout.title.text  # the dashboard's layout: the title wrapped to fit
