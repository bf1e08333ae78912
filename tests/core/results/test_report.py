"""The decision report: every section present, user text escaped, one self-contained HTML file."""

import re

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from core.results.costs import Constraints
from core.results.recommendation import recommend
from core.results.report import build_report, provenance_rows
from core.results.report_render import to_html, to_markdown
from core.results.text import markdown_text
from core.task.uploads import save_upload
from tests.conftest import links_and_images

SUMMARY = pd.DataFrame({
    "method": ["prompt", "lora"], "size": ["0", "8"], "train_examples": [0, 40], "seeds": [1, 2],
    "accuracy": [0.4, 0.8], "accuracy_low": [0.3, 0.7], "accuracy_high": [0.5, 0.9], "macro_f1": [0.35, 0.79],
    "train_seconds": [0.1, 30.0], "inference_seconds_per_1k": [3.0, 2.0], "peak_memory_mb": [500.0, 900.0],
    "trainable_parameters": [0, 70_000], "total_parameters": [22_000_000, 22_000_000],
    "bytes_stored": [2_000, 300_000], "train_dollars": [0.0, 0.001], "inference_dollars_per_1k": [1e-4, 1e-4],
    "vs_scratch": [float("nan"), -0.05], "transfer_hurts": [None, True]})
ENVIRONMENT = {"python": "3.11.9", "platform": "Linux", "device": "CPU (2 cores)", "device_kind": "cpu",
               "versions": {"torch": "2.13.0", "peft": "0.17.1"}}


def _experiment(provenance):
    return {"name": "tickets", "config": {"model": {"name": "default", "max_length": 128},
                                          "methods": ["prompt", "lora"],
                                          "sizes": [8], "seeds": [0, 1], "size_unit": "per_class",
                                          "reference": "scratch", "budget": {"max_epochs": 4}, "prices": {"cpu": 0.1}},
            "task": {"provenance": provenance, "stats": {"rows": {"train": 60, "validation": 10, "test": 30},
                                                          "classes": 2, "corpus_documents": 0},
                     "warnings": ["classes are imbalanced"], "environment": ENVIRONMENT}}


def test_uploaded_data_is_reported_under_the_users_own_name_and_licence():
    stored = save_upload(b"text,label\na,x\n", "Tickets <2024>.csv", licence="CC-BY-4.0")
    source = {"file": stored.path.name, "sha256": stored.sha256, "rows": 1}
    rows = provenance_rows({"provenance": {"sources": [source]}})
    assert rows == [{"source": "all splits", "file": "Tickets <2024>.csv", "sha256": stored.sha256, "rows": 1,
                     "licence": "CC-BY-4.0"}]
    builtin = provenance_rows({"provenance": {"scenario": {"name": "fortunes", "title": "Fortunes", "licence": "BSD",
                                                           "source": "PyPI"}, "sha256": "ab"},
                               "stats": {"rows": {"train": 3, "test": 2}}})
    assert builtin[0]["licence"] == "BSD" and builtin[0]["rows"] == 5


def test_markdown_has_the_decision_its_reasons_the_data_and_the_environment():
    stored = save_upload(b"text,label\na,x\n", "tickets.csv", licence="internal")
    experiment = _experiment({"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 100}]})
    constraints = Constraints(accuracy_floor=0.7, queries=5000)
    report = build_report(experiment, SUMMARY, recommend(SUMMARY, constraints), constraints, ["lora|8|1: OOM"])
    text = to_markdown(report)
    for expected in ("# Decision report: tickets", "**Use LoRA adapter (8 per class).**", "accuracy floor: 0.700",
                     "0.800 [0.700, 0.900]", "-0.050 (hurts)", "tickets.csv", "internal", stored.sha256,
                     "train 60", "torch: 2.13.0", "CPU (2 cores)", "lora\\|8\\|1: OOM", "classes are imbalanced",
                     "negative transfer"):
        assert expected in text, expected
    assert text.count("| Prompt-only |") == 1  # the results table names each method by its title


def test_html_is_self_contained_and_escapes_what_users_typed():
    stored = save_upload(b"text,label\na,x\n", "<img src=x onerror=alert(1)>.csv")
    experiment = _experiment({"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 1}]})
    report = build_report(experiment, SUMMARY, recommend(SUMMARY), Constraints())
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4])).to_html(full_html=False, include_plotlyjs=False)
    page = to_html(report, {"Accuracy against cost": figure})
    assert page.startswith("<!DOCTYPE html>") and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page
    # the page's figure, then the report's own: total cost against volume, the Pareto front
    assert page.count("Plotly.newPlot") == 3 and get_plotlyjs()[:200] in page
    assert "<script src=" not in page  # plotly.js inline, not fetched: the file opens offline
    assert "Accuracy against cost" in page and "Use LoRA adapter" in page
    assert "Plotly" not in to_html(report, charts=False)  # no figures, no 4 MB of JavaScript


# -- what a decision review reads: the state of the experiment, the cost that decides, the front -------------------
def _grid_experiment(seeds=(0, 1, 2)):
    experiment = _experiment({})
    experiment["config"].update(methods=["prompt", "rag", "lora", "tfidf"], sizes=[8, 32], seeds=list(seeds))
    return experiment


def _grid_summary(seeds: dict) -> pd.DataFrame:
    """prompt once; rag, lora and tfidf at 8 and 32 per class, with the finished seeds given per option."""
    rows = [("prompt", "0", 0.40, 0.0, 0.010, 4.0), ("rag", "8", 0.70, 0.001, 0.012, 9.0),
            ("lora", "8", 0.60, 0.2, 0.004, 3.0), ("tfidf", "8", 0.66, 0.001, 0.0006, 0.4),
            ("rag", "32", 0.78, 0.002, 0.012, 9.0), ("lora", "32", 0.86, 0.8, 0.004, 3.0),
            ("tfidf", "32", 0.84, 0.002, 0.0006, 0.4)]
    frame = pd.DataFrame(rows, columns=["method", "size", "accuracy", "train_dollars", "inference_dollars_per_1k",
                                        "inference_seconds_per_1k"])
    return frame.assign(train_examples=0, seeds=[seeds.get((m, z), 1 if z == "0" else 3)
                                                 for m, z in zip(frame.method, frame["size"])],
                        accuracy_low=frame.accuracy - 0.03, accuracy_high=frame.accuracy + 0.03,
                        macro_f1=frame.accuracy - 0.01, train_seconds=frame.train_dollars * 36_000,
                        peak_memory_mb=500.0, trainable_parameters=10_000, total_parameters=22_000_000,
                        bytes_stored=1_000_000)


def test_a_report_on_an_incomplete_experiment_says_so_at_the_top_with_seeds_per_option():
    summary = _grid_summary({("lora", "32"): 1, ("rag", "8"): 2})
    summary = summary[~((summary.method == "tfidf") & (summary["size"] == "8"))]  # no finished run at all
    report = build_report(_grid_experiment(), summary, recommend(summary), Constraints())
    text = to_markdown(report)
    top = text[:text.index("## Recommendation")]
    assert "Incomplete experiment: 13 of 19 planned runs finished" in top
    assert "LoRA adapter (32 per class) 1 of 3" in top and "RAG (8 per class) 2 of 3" in top
    assert "TF-IDF + logistic regression (8 per class)" in top and "no finished run" in top
    assert "| LoRA adapter | 32 per class | 1 of 3 |" in text  # the seeds behind each option, in the evidence table
    assert "| Prompt-only | no training data | 1 |" in text
    page = to_html(report, charts=False)
    assert page.index("Incomplete experiment") < page.index("<h2>Recommendation</h2>")
    # the runs themselves count failed ones
    runs = pd.DataFrame({"run_key": ["lora|32|0", "lora|32|1"], "status": ["finished", "failed"]})
    counted = build_report(_grid_experiment(), summary, recommend(summary), Constraints(), runs=runs)
    assert counted.incomplete[0].startswith("Incomplete experiment: 1 of 19 planned runs finished (1 failed")
    complete = _grid_summary({})
    assert build_report(_grid_experiment(), complete, recommend(complete), Constraints()).incomplete == []
    assert "Incomplete" not in to_markdown(build_report(_grid_experiment(), complete, recommend(complete),
                                                        Constraints()))


def test_the_report_shows_the_cost_that_decides_break_even_and_the_pareto_front():
    summary = _grid_summary({})
    constraints = Constraints(accuracy_floor=0.75, queries=2_000_000, storage_dollars_per_gb_month=0)
    choice = recommend(summary, constraints)
    assert (choice.method, choice.size) == ("tfidf", "32")  # tied with lora at 32, far cheaper per query
    report = build_report(_grid_experiment(), summary, choice, constraints)
    text = to_markdown(report)
    options = text[text.index("## Options at 2,000,000 queries"):text.index("## Cost against query volume")]
    assert "per 1,000 queries" in options and "total at 2,000,000 queries" in options
    assert ("| TF-IDF + logistic regression (32 per class) | 0.840 [0.810, 0.870] | 3 | $0.0020 | $0.00 | $0.00060 "
            "| $1.20 |") in options
    assert "chosen; tied with the best; Pareto front" in options
    assert "ruled out: below the accuracy floor" in options
    # break-even with the chosen option where per-query costs differ; none with tfidf here (cheapest throughout)
    cost = text[text.index("## Cost against query volume"):text.index("## Pareto front")]
    assert "No break-even volume with TF-IDF + logistic regression (32 per class)" in cost
    front = text[text.index("## Pareto front"):text.index("## Results")]
    assert "| TF-IDF + logistic regression (32 per class) ← chosen | 0.840 | $1.20 | yes | yes |" in front
    assert "| LoRA adapter (32 per class) | 0.860 |" in front
    assert "TF-IDF + logistic regression (32 per class) is on the front" in front
    page = to_html(report)
    assert "Total cost against query volume" in page and "Pareto front" in page
    assert page.count("Plotly.newPlot") == 2
    # a volume where lora's cheaper training... rag against lora: break-even named with both sizes
    rag = summary[summary.method.isin(["rag", "lora"]) & (summary["size"] == "32")]
    free = Constraints(queries=1000, storage_dollars_per_gb_month=0)
    lines = build_report(_grid_experiment(), rag, recommend(rag, free), free).cost_lines
    assert any(line.startswith("Beyond 99,750 queries, LoRA adapter (32 per class) costs less in total than RAG (32 "
                               "per class)") for line in lines), lines


def test_options_that_cost_the_same_to_serve_have_no_break_even_but_say_so():
    summary = _grid_summary({})
    summary = summary[summary["size"] == "32"].assign(inference_dollars_per_1k=[0.0040, 0.0041, 0.0039])
    report = build_report(_grid_experiment(), summary, recommend(summary), Constraints())
    assert (report.recommendation.method, report.recommendation.size) == ("tfidf", "32")
    assert not any(line.startswith("Beyond") for line in report.cost_lines)
    same = [line for line in report.cost_lines if "cost the same to serve" in line]
    assert len(same) == 2 and all(line.startswith("TF-IDF + logistic regression (32 per class) and ") for line in same)
    assert "training decides" in same[0]


def test_a_difference_shows_its_interval_and_the_flag_says_how_the_error_is_controlled():
    from core.results.results_table import HURTS_NOTE, difference_text

    assert difference_text(-0.05, True, -0.08, -0.02) == "-0.050 [-0.080, -0.020] (hurts)"
    assert difference_text(0.01, False, -0.02, 0.04) == "+0.010 [-0.020, +0.040]"
    assert difference_text(float("nan"), False) == ""
    assert "Benjamini-Hochberg" in HURTS_NOTE


IMAGE, LINK = "![b](https://attacker.example/p.png)", "[Session expired](https://attacker.example/login)"


def test_markdown_shows_what_users_wrote_as_text_never_a_link_or_an_image():
    """An uploaded file's name, the licence typed for it, a warning naming its labels and a failed run's error: each
    in the Markdown report, none drawn as a link or an image."""
    # no /: a path
    stored = save_upload(b"text,label\na,x\n", "[Session expired](www.attacker.example).csv", licence=LINK)
    experiment = _experiment({"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 1}]})
    experiment["task"]["warnings"] = [f"test has label '{IMAGE}' that never appears in train",
                                      "ask admin@attacker.example or see www.attacker.example"]
    report = build_report(experiment, SUMMARY, recommend(SUMMARY), Constraints(), [f"lora|8|1: bad label {LINK}"])
    text = to_markdown(report)
    assert text.count("attacker.example") == 6  # all there, as text
    assert links_and_images(text) == []


@pytest.mark.parametrize("written", [IMAGE, LINK, "<img src=x onerror=alert(1)>", "<https://attacker.example>",
                                     "www.attacker.example", "admin@attacker.example", ":red[alarm] :material/lock:",
                                     "$x^2$", "**bold** _it_ ~~gone~~ `code`", "- a list", "1. first", "# heading",
                                     "> quote", "a | table | row", "line\n\n![b](x.png)", "&#91;b](x)"])
def test_markdown_text_leaves_nothing_to_draw(written):
    escaped = markdown_text(written)
    assert links_and_images(escaped) == []
    from markdown_it import MarkdownIt

    blocks = [t.type for t in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(escaped)]
    assert blocks == ["paragraph_open", "inline", "paragraph_close"]  # one plain paragraph
    inline = MarkdownIt("commonmark").enable("strikethrough").parseInline(escaped)[0].children
    assert {t.type for t in inline} == {"text"}  # no emphasis, code, link, image or HTML: text alone
    assert not re.search(r"(?<!\\)(:\S|\$)", escaped)  # nor Streamlit's :red[...], :material/...: or $LaTeX$


@pytest.mark.parametrize("sentence", ["photo.csv is not a text file: it looks like a PNG image.",
                                      "raise max_length or drop_leaked_from_train (12 rows).",
                                      "'billing' has 30 training examples and 'login' only 3 (10.0 to 1)."])
def test_plain_sentences_pass_unchanged(sentence):
    assert markdown_text(sentence) == sentence


def test_a_report_says_why_runs_are_missing_and_never_that_they_run_when_nothing_does(tmp_path):
    """Issue 30: "2 not finished yet" read as if they were running; nothing was. The reasons come from the store (no
    job ran them: never started) and the recommendation is marked provisional."""
    from core.cli import decision_report
    from core.results.store import SqlStore
    from tests.decision_grid import stored_grid

    stored_grid(str(tmp_path / "r.db"), seeds=(0, 1, 2), missing={"lora|32|1", "lora|32|2"})
    _, report = decision_report(SqlStore(tmp_path / "r.db"), "grid", Constraints())
    assert report.incomplete[0] == ("Incomplete experiment: 17 of 19 planned runs finished (2 never started). Nothing "
                                    "is running them now: the results and the recommendation are provisional until "
                                    "the missing runs finish.")
    text = to_markdown(report)
    assert "not finished yet" not in text
    assert "**Provisional, until the missing runs finish: Use " in text
    assert "Provisional, until the missing runs finish: Use " in to_html(report, charts=False)
