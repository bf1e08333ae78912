"""The verdict card (core/results/verdict.py): the choice, why, the tied and the ruled out, in method titles and
plain words, the same in the report's Markdown and HTML as on the pages."""

import re

from core.methods import METHODS
from core.results.costs import Constraints
from core.results.recommendation import recommend
from core.results.verdict import verdict_card
from tests.core.results.summaries import SUMMARY

KEYS = re.compile(r"\b(" + "|".join(METHODS) + r")\b")  # a method's code name as a word


def _text(card) -> str:
    return " ".join([card.headline, card.quality, *card.lines(), card.judged])


def test_the_card_names_the_choice_why_and_the_tied_in_titles_with_quality_in_words():
    card = verdict_card(recommend(SUMMARY), Constraints())
    assert card.met and card.headline == "Use LoRA adapter (32 per class)."
    assert card.quality == "0.850 accuracy (95% interval 0.810 to 0.890): it answers about 85 in 100 correctly."
    assert card.why[0].startswith("The most accurate option, Full fine-tune (32 per class) at 0.870, is not "
                                  "measurably better: the data cannot tell the two apart, and LoRA adapter (32 per "
                                  "class) costs less")
    assert card.tied == ["Full fine-tune (32 per class): 0.870, answers about 87 in 100 correctly"]
    # tied as the ties were judged: no predictions stored here, so on the best option's interval, said so
    assert card.lines()[-1].startswith("Tied with it (the data cannot tell them apart: each one's accuracy lies "
                                       "inside the 95% interval of the best option's (no stored predictions")
    assert card.judged.startswith("Judged with no constraints")
    assert not KEYS.search(_text(card).replace("LoRA", "")), _text(card)  # no `lora`, `full`, `tfidf`...


def test_a_latency_limit_names_the_time_it_is_held_to_and_what_rules_the_more_accurate_out():
    table = SUMMARY.assign(latency_p50_ms=[20.0, 30.0, 225.0, 240.0, 2.3],
                           inference_seconds_per_1k=[4.0, 5.0, 50.0, 60.0, 0.6])
    constraints = Constraints(accuracy_floor=0.75, latency_ms=100)
    card = verdict_card(recommend(table, constraints), constraints)
    assert card.headline == "Use RAG (32 per class)."
    assert card.why[-1] == ("It meets your accuracy floor of 0.750; it meets your 100 ms latency limit, which is on "
                            "one query alone: it answers one query alone in 30.00 ms (in batches, 5.00 ms per query).")
    assert card.ruled_out[0] == ("Full fine-tune (32 per class) at 0.870: it answers one query alone in 240.00 ms, "
                                 "over the 100 ms limit (in batches it takes 60.00 ms per query, but the limit is on "
                                 "one query alone)")
    assert "latency limit 100 ms for one query alone" in card.judged
    # nothing meets a 0.9 floor: the closest named, what it misses said, no tie claimed
    strict = Constraints(accuracy_floor=0.9)
    unmet = verdict_card(recommend(table, strict), strict)
    assert not unmet.met and unmet.headline.startswith("Nothing meets every constraint; the closest is ")
    assert unmet.why == ["It misses your accuracy floor of 0.900."] and unmet.tied == []


def test_the_report_writes_the_card_the_pages_show():
    from core.results.report import build_report
    from core.results.report_render import to_html, to_markdown

    summary = SUMMARY.assign(seeds=2, macro_f1=SUMMARY.accuracy, train_seconds=1.0, peak_memory_mb=500.0,
                             trainable_parameters=1000)  # the rest of a results table's columns
    constraints = Constraints()
    rec = recommend(summary, constraints)
    experiment = {"name": "cards", "config": {"methods": list(SUMMARY.method)}, "task": {}}
    report = build_report(experiment, summary, rec, constraints)
    card = verdict_card(rec, constraints)
    text, page = to_markdown(report), to_html(report, charts=False)
    assert f"**{card.headline}**\n\n{card.quality}" in text and all(f"- {line}" in text for line in card.lines())
    assert card.headline in page and card.tied[0] in page
