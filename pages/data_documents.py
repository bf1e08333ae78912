"""Data, from documents alone: upload them, see the chunks, generate questions, review them, and use the accepted ones.

Part of the Data page (pages/data.py calls documents_alone); the work is core/task/questions.py (cloze questions)
and core/results/question_review.py (the review table, the accepted set, saving it as the task's QA file).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AdaptlabError
from core.results.question_review import (
    accepted_questions,
    marked_chunk,
    question_download,
    review_table,
    save_accepted,
)
from core.results.report import markdown_text
from core.task.documents import FORMATS as DOCUMENT_FORMATS
from core.task.questions import report_lines
from core.task.uploads import save_documents
from dashboard import state, ui

KEY = "data.docs"
SHOWN = ["accept", "question", "answer", "document", "heading"]  # the review table's columns on screen
WRITERS = {"Cloze (no model)": None, "Written by an LLM": "smollm2"}  # question sources, and the model suggested


def documents_alone() -> dict | None:
    """The task spec over the accepted questions once the user has used them; None until then."""
    folder = uploaded_documents("Documents (several files or a zip)", f"{KEY}.files",
                                "Tables (.jsonl, .csv, .parquet) need a `text` column: one document per row.")
    if folder is None:
        st.info("Upload the documents (several files or a zip): Markdown, text, reStructuredText, HTML, PDF with a "
                "text layer. Questions are then written from them here, offline, for you to review.",
                icon=":material/upload_file:")
        return None
    try:
        summary, chunks = state.documents_chunks(folder)
    except AdaptlabError as problem:
        ui.error(problem)
        return None
    _what_was_read(summary, chunks)
    if chunks.empty:
        return None
    st.subheader("Questions from the documents")
    st.caption("Fill-in-the-blank questions from the chunks' sentences: a number, a date, a name or a defined term "
               "hidden, built here without a model. Each keeps its source chunk, so training and test questions "
               "never share one.")
    writer = _question_writer()
    if st.button("Generate questions", key=f"{KEY}.generate", icon=":material/quiz:"):
        st.session_state[f"{KEY}.generated"] = folder
    if st.session_state.get(f"{KEY}.generated") != folder:
        return None
    return _review(folder, chunks, writer)


def uploaded_documents(label: str, key: str, help: str) -> str | None:
    """The folder the uploaded documents (several files or a zip) are stored in under their own names, kept across
    reruns; None before any upload, after the user removes them, or when they cannot be stored (said on the page)."""
    files = st.file_uploader(label, accept_multiple_files=True, key=key, help=help,
                             type=[ext.lstrip(".") for ext in (*DOCUMENT_FORMATS, ".zip")])
    if files:
        try:
            folder = save_documents([(file.name, file.getvalue()) for file in files])
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        st.session_state[f"{key}.folder"] = str(folder)
    elif f"{key}.folder" in st.session_state:
        del st.session_state[f"{key}.folder"]  # the user removed them
    return st.session_state.get(f"{key}.folder")


def _what_was_read(summary: dict, chunks: pd.DataFrame) -> None:
    cols = st.columns(4)
    for col, name in zip(cols, ("documents", "characters", "skipped")):
        col.metric(name, f"{summary.get(name, 0):,}")
    cols[3].metric("chunks", f"{len(chunks):,}")
    if summary.get("skipped_documents"):
        st.markdown("**Skipped, and why**")
        st.dataframe(pd.DataFrame(summary["skipped_documents"]), hide_index=True, width="stretch")
    with st.expander(f"Chunks ({summary.get('chunk_tokens')} tokens, {summary.get('chunk_overlap')} overlapping)"):
        st.dataframe(chunks, hide_index=True, width="stretch", key=f"{KEY}.chunks")


def _question_writer() -> str | None:
    """The model that writes the questions, or None for cloze ones (no model: seconds on a CPU, the default)."""
    source = st.radio("Questions", list(WRITERS), key=f"{KEY}.source", horizontal=True,
                      help="An LLM writes a question and its answer per chunk; a pair is kept only when its answer is "
                           "in the chunk. The built-in SmolLM2 (135M) writes few good ones: on a GPU, name a larger "
                           "instruct model (a Hub id or a folder the server allows).")
    if WRITERS[source] is None:
        return None
    return st.text_input("Model that writes them", value=WRITERS[source], key=f"{KEY}.model").strip() or WRITERS[source]


def _review(folder: str, chunks: pd.DataFrame, writer: str | None = None) -> dict | None:
    try:
        questions, report = state.llm_questions(folder, writer) if writer else state.cloze_questions(folder)
    except AdaptlabError as problem:  # a model that cannot be loaded, or is no language model
        ui.error(problem)
        return None
    st.markdown("\n".join(f"- {markdown_text(line)}" for line in report_lines(report)))
    if questions.empty:
        st.warning("No question was kept (the reasons are above). " + ("Name a larger model, or use cloze questions."
                   if writer else "Upload documents with more prose."),
                   icon=":material/warning:")
        return None
    review = review_table(questions, chunks)
    st.markdown("**Review** — untick a question to reject it; click a question or an answer to edit it.")
    edited = st.data_editor(
        review[SHOWN], key=f"{KEY}.review", hide_index=True, width="stretch", num_rows="fixed",
        disabled=["document", "heading"],
        column_config={"accept": st.column_config.CheckboxColumn("accept", width="small"),
                       "question": st.column_config.TextColumn("question", width="large", required=True),
                       "answer": st.column_config.TextColumn("answer", required=True),
                       "document": st.column_config.TextColumn("document", width="small"),
                       "heading": st.column_config.TextColumn("heading", width="medium")})
    review[["accept", "question", "answer"]] = edited[["accept", "question", "answer"]].to_numpy()
    _source_chunk(review, chunks)
    return _use(review, folder)


def _source_chunk(review: pd.DataFrame, chunks: pd.DataFrame) -> None:
    number = st.selectbox("Source chunk of question", range(len(review)), key=f"{KEY}.shown",
                          format_func=lambda n: f"{n + 1}. {review.question.iloc[n]}")
    row = review.iloc[number]
    text = chunks.set_index(chunks.id.astype(str)).text.get(row.source, "")
    with st.container(border=True):
        where = " › ".join(markdown_text(part) for part in (row.document, row.heading) if part)
        st.caption(f"{where} (chunk {markdown_text(row.source)}); the answer in bold")
        st.markdown(marked_chunk(text, row.answer))


def _use(review: pd.DataFrame, folder: str) -> dict | None:
    accepted = int(review.accept.astype(bool).sum())
    st.caption(f"{accepted} of {len(review)} question(s) accepted.")
    try:
        kept = accepted_questions(review)
    except AdaptlabError as problem:
        ui.error(problem)
        return None
    left, middle, right, _ = st.columns([3, 2, 2, 3])
    if left.button("Use the accepted questions", type="primary", key=f"{KEY}.use", icon=":material/check:"):
        try:
            st.session_state[f"{KEY}.spec"] = save_accepted(kept, folder)
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        st.session_state[ui.SHARED_TASK] = st.session_state[f"{KEY}.spec"]
        st.toast("Questions saved. Next: the Experiment page.")
    for column, suffix in ((middle, ".csv"), (right, ".jsonl")):
        column.download_button(f"Download {suffix[1:].upper()}", question_download(kept, suffix),
                               file_name=f"questions{suffix}", key=f"{KEY}.download{suffix}",
                               icon=":material/download:")
    spec = st.session_state.get(f"{KEY}.spec")
    return spec if spec and spec["documents"]["path"] == folder else None
