"""Compare, Cost and the Decision report tell one story (issue 30, sections 1 and 7): one latency named plainly, one
verdict on Compare and in the report, one break-even figure on the Cost page, all in method titles."""

import re

from tests.dashboard.conftest import assert_clean, open_page, switch_to
from tests.decision_grid import stored_grid

# the issue's encoder grid: the probe ties TF-IDF, takes 50 ms per query in batches but 225 ms for one query alone
ISSUE = {("prompt", "0"): (0.40, 0.0, 0.5, 643.0), ("probe", "32"): (0.7625, 0.01, 0.05, 49.95),
         ("tfidf", "32"): (0.7375, 0.001, 0.0006, 0.60)}
ALONE = {("prompt", "0"): 5483.0, ("probe", "32"): 224.88, ("tfidf", "32"): 2.29}
# few-shot-like prompt: nothing to train, dear per query; a LoRA adapter: dear to train, cheap per query
CROSSING = {("prompt", "0"): (0.40, 0.0, 0.5, 4.0), ("lora", "8"): (0.60, 31.0, 0.0001, 3.0)}


def test_the_cost_headline_and_the_break_even_list_name_the_same_volume_in_method_titles(adaptlab_home):
    stored_grid(str(adaptlab_home / "results.db"), cells=CROSSING)
    app = open_page("cost")
    assert_clean(app)
    fact = app.info[0].value
    said = re.fullmatch(r"The cheapest depends on the volume: \*\*Prompt-only\*\* up to ([\d,]+) queries, then "
                        r"\*\*LoRA adapter\*\* beyond\.", fact)
    assert said, fact
    listed = re.search(r"Beyond \*\*([\d,]+)\*\* queries, \*\*LoRA adapter\*\* costs less in total than "
                       r"\*\*Prompt-only\*\*", " ".join(m.value for m in app.markdown))
    assert listed and listed.group(1) == said.group(1)  # one computation, one figure


def _card(app) -> tuple[str, str]:
    """The verdict card's box (success or warning) and the lines under it."""
    box = (app.success or app.warning)[0].value
    return box, app.markdown[0].value


def test_compare_carries_the_reports_verdict_card_under_the_same_constraints(adaptlab_home):
    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1, 2), cells=ISSUE, alone=ALONE)
    compare = open_page("compare")
    assert_clean(compare)
    box, lines = _card(compare)
    # not "Most accurate: probe": the choice, in the method's title, with its quality in words
    assert box.startswith("**Use TF-IDF + logistic regression (32 per class).**"), box
    assert "it answers about 74 in 100 correctly" in box
    assert not [m for m in compare.metric if "accurate" in m.label]
    assert "The most accurate option, Linear probe (32 per class) at 0.762, is not measurably better" in lines
    assert "Tied with it (the data cannot tell them apart" in lines and "Linear probe (32 per class): 0.762" in lines
    assert "tfidf" not in box + lines and "probe (" not in box.replace("Linear probe (", "")  # titles, not keys
    assert any("ms, in batches" in table.value.columns for table in compare.dataframe)  # the batched time, named so
    report = switch_to(compare, "report")
    assert _card(report)[0] == box  # the report's verdict is the same card
    # a 0.75 floor and a 100 ms limit: the limit is on one query alone, which the input says
    latency = report.number_input(key="report.latency")
    assert "one query alone" in latency.label and "in batches" in latency.help
    report.number_input(key="report.floor").set_value(0.75).run()
    report.number_input(key="report.latency").set_value(100.0).run()
    assert_clean(report)
    box, lines = _card(report)
    assert box.startswith("**Nothing meets every constraint; the closest is TF-IDF + logistic regression")
    said = ("Linear probe (32 per class) at 0.762: it answers one query alone in 224.88 ms, over the 100 ms limit "
            "(in batches it takes 49.95 ms per query, but the limit is on one query alone)")
    assert said in lines
    compare = switch_to(report, "compare")  # Compare reads the same constraints and says the same
    assert_clean(compare)
    assert _card(compare) == (box, lines)
    assert "latency limit 100 ms for one query alone" in compare.caption[0].value
    report = switch_to(compare, "report")  # and the report keeps them after the visit
    assert report.number_input(key="report.latency").value == 100.0
    assert _card(report) == (box, lines)


def test_the_report_explains_each_statistical_term_once_where_it_uses_it(adaptlab_home):
    """Pareto front, paired difference and Benjamini-Hochberg, each said in plain words where used (section 7)."""
    from core.cli import decision_report
    from core.results.costs import Constraints
    from core.results.report_render import to_markdown
    from core.results.store import SqlStore

    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1, 2), cells=ISSUE, alone=ALONE)
    app = open_page("report")
    assert_clean(app)
    reasons = app.markdown[1].value
    assert reasons.count("a paired difference scores two options on the same test examples") == 1
    assert any(c.value.startswith("The Pareto front: the options no other option beats on both accuracy and total "
                                  "cost") for c in app.caption)
    text = to_markdown(decision_report(SqlStore(adaptlab_home / "results.db"), "grid", Constraints())[1])
    assert text.count("a correction for comparing many cells at once") == 1
    assert text.count("The Pareto front: the options no other option beats") == 1


# an option named by its method's key ("tfidf (32 per class)", "lora (8 per class)"): a title reads "TF-IDF + ..."
KEYED = re.compile(r"\b(?:prompt|fewshot|rag|probe|lora|full|scratch|tfidf|corpus_ft|rag_lora) \(")


def test_every_reason_break_even_line_and_the_rows_they_name_use_method_titles_on_screen_and_in_the_downloads(
        adaptlab_home):
    """Issue 30, section 7: the report's reasons, the status said in full (ruled out and why), the break-even lines,
    and the table rows they name, in method titles; Compare's tables as its verdict card names them; the same in
    the downloaded Markdown and HTML."""
    import html as html_text

    from core.cli import decision_report
    from core.results.costs import Constraints
    from core.results.report_render import to_html, to_markdown
    from core.results.store import SqlStore
    from core.results.text import option_title

    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1))
    app = open_page("report")
    app.number_input(key="report.floor").set_value(0.8).run()  # rag and prompt ruled out: a status said in full
    assert_clean(app)
    said = "\n".join(m.value for m in app.markdown)
    assert "Ruled out by the constraints: RAG (32 per class): below the accuracy floor" in said
    assert "**RAG (32 per class)**: ruled out: below the accuracy floor" in said  # the status in full
    assert "- No break-even volume with TF-IDF + logistic regression (32 per class): against each" in said
    assert not KEYED.findall(said), KEYED.findall(said)
    rows = set(app.table[0].value.index) | set(app.table[1].value.index)
    titles = {option_title(m, z) for m, z in [("prompt", "0"), ("rag", "8"), ("rag", "32"), ("lora", "8"),
                                               ("lora", "32"), ("tfidf", "8"), ("tfidf", "32")]}
    assert rows == titles  # the rows the reasons name, by the same names
    assert app.selectbox(key="report.export.option").value == "tfidf@32"  # the key the export needs, shown titled
    assert "TF-IDF + logistic regression (32 per class)" in app.selectbox(key="report.export.option").options

    report = decision_report(SqlStore(adaptlab_home / "results.db"), "grid", Constraints(accuracy_floor=0.8))[1]
    markdown = to_markdown(report)
    assert "| TF-IDF + logistic regression (32 per class) | 0.850" in markdown  # the options table
    assert "| TF-IDF + logistic regression (32 per class) ← chosen |" in markdown  # the Pareto front
    assert "| LoRA adapter | 32 per class |" in markdown  # the results table
    assert not KEYED.findall(markdown), KEYED.findall(markdown)
    page = html_text.unescape(to_html(report, charts=False))
    assert "<td>TF-IDF + logistic regression (32 per class)</td>" in page and not KEYED.findall(page)
    stored_grid(str(adaptlab_home / "results.db"), "crossing", cells=CROSSING)  # a break-even volume to name
    lines = decision_report(SqlStore(adaptlab_home / "results.db"), "crossing", Constraints())[1].cost_lines
    assert re.match(r"Beyond [\d,]+ queries, LoRA adapter \(8 per class\) costs less in total than Prompt-only \(no "
                    r"training data\)", lines[0]), lines

    compare = switch_to(app, "compare")
    assert_clean(compare)
    box, lines = _card(compare)
    assert "TF-IDF + logistic regression (32 per class)" in box
    methods = set(compare.dataframe[0].value.method)
    assert methods == {"Prompt-only", "RAG", "LoRA adapter", "TF-IDF + logistic regression"}
