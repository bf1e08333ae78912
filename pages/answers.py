"""Answers: pick a test question and read what every finished run answered, beside the reference answer; for the
methods that look passages up, the passages they found, with the one that holds the answer marked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.results.answers import (
    ABSTAINED,
    COVERAGE,
    CUT_OFF,
    EMPTY,
    RIGHT,
    WRONG,
    WRONG_OR_CUT,
    passages_with_answer,
    questions_to_show,
    retrieval_groups,
    right_counts,
    source_chunks,
    source_ranks,
)
from core.results.question_review import marked_chunk
from core.results.text import markdown_text, method_name
from core.task.sizes import size_label
from dashboard import missing_runs, state, ui

KEY = "answers"
MAX_ROWS_SHOWN = 30  # runs listed before the answers table scrolls
VERDICT_WORDS = {RIGHT: "✓ right", WRONG: "✗ wrong", ABSTAINED: "I don't know", EMPTY: "no answer",
                 CUT_OFF: "✂ cut off", WRONG_OR_CUT: "✗ wrong or ✂ cut off (not recorded)"}
VERDICT_STYLE = {RIGHT: "background-color: #e3f4e1; color: #1e6b1a", WRONG: "background-color: #fde2e2; color: #8a1c1c",
                 ABSTAINED: "background-color: #eef0f3; color: #3e4c59", EMPTY: "background-color: #eef0f3",
                 CUT_OFF: "background-color: #fff3d6; color: #7a5200",
                 WRONG_OR_CUT: "background-color: #fdebdc; color: #7a3a00"}


def render() -> None:
    st.title("Answers")
    st.caption("Read the answers themselves, not only the scores: pick a test question and see what every finished "
               "run answered, beside the reference answer.")
    name = ui.pick_qa_experiment(KEY)
    if name is None:
        return
    view = state.answers(name)
    progress = missing_runs.banner(name, KEY, view.unit, watch_link=False)  # which runs are missing, and why
    if view.answers.empty:
        if progress.under_way:  # "as each run finishes" only while something runs them
            st.info(f"'{name}' has no finished runs with answers yet. They appear here as each run finishes.",
                    icon=":material/hourglass_top:")
            ui.link("runs", "Watch it on the Runs page")
        elif progress.complete:
            st.info(f"No finished run of '{name}' kept its answers (runs from before answers were kept, or of "
                    "another test set).", icon=":material/info:")
        return
    number = _pick_question(view)
    if number is None:
        return
    question = view.questions.set_index("question").loc[number]
    rows = view.answers[view.answers.question == number]
    _question(question)
    _answers(rows, view.unit)
    if question.source:
        _source(question, view)
    _passages(rows, question, view)


def _pick_question(view) -> int | None:
    questions, answers = view.questions, view.answers
    has_coverage = questions.covered.notna().any()
    # one under the other: side by side, the toggle's label was cut short at 800 px
    coverage = st.segmented_control("Questions", list(COVERAGE), default="all", required=True,
                                      format_func=COVERAGE.get, key=f"{KEY}.coverage", disabled=not has_coverage,
                                      help="Covered: a passage in the documents holds the answer. Not covered: no "
                                           "passage does, so the honest answer is \"I don't know\".")
    wrong_only = st.toggle("Only questions some method answered wrongly", key=f"{KEY}.wrong_only",
                          help="A wrong answer is a made-up one; \"I don't know\" is not counted as wrong.")
    shown = questions_to_show(questions, answers, coverage, wrong_only)
    if not shown:
        st.info("No question matches these filters.", icon=":material/filter_alt_off:")
        return None
    texts, counts = questions.set_index("question").text, right_counts(answers)
    return st.selectbox(f"Test question ({len(shown)} of {len(questions)}; type to search)", shown,
                        key=f"{KEY}.question",
                        format_func=lambda n: f"{n + 1}. {texts[n]}  ({counts.get(n, '0 of 0')} runs right)")


def _question(question: pd.Series) -> None:
    st.markdown(f"#### {markdown_text(question.text)}")
    others = [alias for alias in question.aliases if alias != question.answer]
    lines = [f"**Reference answer:** {markdown_text(question.answer)}"
             + (f" (also accepted: {', '.join(markdown_text(a) for a in others)})" if others else "")]
    if question.options:
        lines.append("**Answer options** (scored by likelihood): "
                     + ", ".join(markdown_text(o) for o in question.options))
    covered = None if pd.isna(question.covered) else bool(question.covered)
    if covered is True:
        lines.append(":blue-badge[covered] A passage in the documents holds the answer.")
    elif covered is False:
        lines.append(":gray-badge[not covered] No passage holds the answer: the honest answer is \"I don't know\".")
    else:  # the task does not say: neither "covered" nor "not covered" is known
        lines.append(":gray-badge[coverage not marked] The data does not say whether a passage holds the answer.")
    st.markdown("  \n".join(lines))


def _answers(rows: pd.DataFrame, unit: str) -> None:
    counts = rows.verdict.value_counts()
    said = [f"**{counts.get(RIGHT, 0)} of {len(rows)}** runs got it right"]
    said += [f"{counts[v]} {words}" for v, words in ((ABSTAINED, "said \"I don't know\""),
                                                     (WRONG, "made an answer up"), (EMPTY, "gave no answer"),
                                                     (CUT_OFF, "were cut off at the answer length limit "
                                                               "(max_new_tokens) before they finished"),
                                                     (WRONG_OR_CUT, "answered wrongly in a run stored before cut-off "
                                                                    "answers were recorded: made up or cut off at "
                                                                    "the answer length limit, unknown which"))
             if counts.get(v)]
    st.markdown("; ".join(said) + ".")
    table = pd.DataFrame({"method": rows.method.map(method_name),
                          "training data": [size_label(s, unit) for s in rows["size"]], "seed": rows.seed,
                          "answer": rows.answer, "verdict": rows.verdict.map(VERDICT_WORDS)})
    styled = table.style.apply(lambda column: [VERDICT_STYLE[v] for v in rows.verdict], subset=["answer", "verdict"])
    # every run in view up to a screenful; a large grid scrolls inside the table
    st.dataframe(styled, hide_index=True, width="stretch", key=f"{KEY}.table",
                 height="content" if len(table) <= MAX_ROWS_SHOWN else 35 * (MAX_ROWS_SHOWN + 1),
                 column_config={"seed": st.column_config.NumberColumn(width="small"),
                                # its least width: the table stretches every column to the page's width; "large"
                                # (400 px) pushed the verdict out of an 800 px window beside methods' names
                                "answer": st.column_config.TextColumn(width="medium")})


def _source(question: pd.Series, view) -> None:
    """The chunk the question was written from (its document and heading, the answer in bold)."""
    st.subheader("Where the question came from")
    chunks = source_chunks(question.source, view.chunks)
    if chunks.empty:  # a user's source naming no stored chunk, or an experiment stored before chunks were kept
        st.caption(f"Source: {markdown_text(question.source)} (no stored chunk has this id or document name).")
        return
    for chunk in chunks.itertuples():
        with st.container(border=True):
            where = " › ".join(markdown_text(part) for part in (chunk.document, chunk.heading) if part)
            st.caption(f"{where} (chunk {markdown_text(chunk.id)}); the answer in bold")
            st.markdown(marked_chunk(view.passages.get(str(chunk.id), chunk.text), question.answer))


def _passages(rows: pd.DataFrame, question: pd.Series, view) -> None:
    groups = retrieval_groups(rows)
    if not groups:
        return
    st.subheader("Passages the retrieving methods found")
    passages, gold = view.passages, question.passage_id
    if question.source:  # documents: a hit is the question's source chunk (or a chunk of its source document)
        _found_sources(groups, question.source, passages, view.chunks)
        return
    holding = set()  # passages that hold the answer: the one marked, or, unmarked, those quoting an accepted answer
    marked = None if pd.isna(question.covered) else bool(question.covered)
    if not gold and marked is False:
        st.caption("No passage holds this answer: whatever was found is about something else.")
    elif not gold:  # coverage not marked: worked out from the text of what was found
        found = [p for group in groups for p in group["passages"]]
        holding = set(passages_with_answer(found, passages, question.aliases))
        st.caption("The data does not mark which passage holds this answer: "
                   + ("the passages marked below contain an accepted answer." if holding else
                      "none of the passages found contains an accepted answer."))
    for group in groups:
        lines = []
        for rank, passage in enumerate(group["passages"], start=1):
            text = markdown_text(passages.get(passage, f"(passage {passage} is not stored)"))
            mark = ("✓ holds the answer" if passage == gold else "✓ contains an accepted answer" if passage in holding
                    else "")
            lines.append(f"{rank}. :green-background[**{mark}**] {text}" if mark else f"{rank}. {text}")
        if gold and gold not in group["passages"]:
            lines.append(f"\n:red[**The passage that holds the answer was not found:**] "
                         f"{markdown_text(passages.get(gold, gold))}")
        st.markdown(f"**{group['runs']}**, best match first:\n\n" + "\n".join(lines))


def _found_sources(groups: list[dict], source: str, passages: dict[str, str], chunks: pd.DataFrame) -> None:
    where = {str(c.id): " › ".join(markdown_text(p) for p in (c.document, c.heading) if p) for c in chunks.itertuples()}
    for group in groups:
        ranks = source_ranks(group["passages"], source, chunks)
        lines = [f"{rank}. " + (":green-background[**✓ the source**] " if rank in ranks else "")
                 + (f"*{where[passage]}*: " if where.get(passage) else "")
                 + markdown_text(passages.get(passage, f"(passage {passage} is not stored)"))
                 for rank, passage in enumerate(group["passages"], start=1)]
        verdict = (f":green[**The source was found**, at rank {ranks[0]}.]" if ranks
                   else ":red[**The source was not among them.**]")
        st.markdown(f"**{group['runs']}**, best match first. {verdict}\n\n" + "\n".join(lines))
