"""Data, from documents alone: upload them, see the chunks, generate questions, review them, and use the accepted ones.

Part of the Data page (pages/data.py calls documents_alone); the work is core/task/questions.py (cloze questions),
a worker job for questions an LLM writes (pages/data_questions_job.py), and core/results/question_review.py (the
review table, the accepted set, saving it as the task's QA file).

The review (accepted or not, edits) lives in this session's state, one per documents folder and question settings,
so it is there again when the user comes back from another page. Not beside the upload on disk: a documents folder
is named by its content and shared by everyone who uploads the same files to this server, and one user's verdicts
are not another's. What outlives the session is the accepted set, saved as a QA file by "Use the accepted questions".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import AdaptlabError
from core.results.question_review import (
    accepted_name,
    accepted_questions,
    marked_chunk,
    question_download,
    review_table,
    save_accepted,
)
from core.results.text import markdown_text
from core.task.documents import FORMATS as DOCUMENT_FORMATS
from core.task.questions import report_lines
from core.task.uploads import save_documents
from dashboard import state, ui
from pages import data_questions_job as questions_job

KEY = "data.docs"
SHOWN = ["accept", "question", "answer", "document", "heading"]  # the review table's columns on screen
ROWS_SHOWN = 10  # questions in view before the review table scrolls: a reviewer reads many at a glance
ROW_HEIGHT = 72  # pixels: a long question wraps onto three lines (Streamlit wraps cell text in rows over 4rem)
KEEP = "session"  # widget values survive a visit to another page
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
    settings = {**_cloze_settings(), "writer": _question_writer()}
    writer = settings["writer"]
    if st.button("Generate questions", key=f"{KEY}.generate", icon=":material/quiz:"):
        st.session_state[f"{KEY}.generated"] = {"folder": folder, **settings}
        if writer:  # written by the worker, not here (pages/data_questions_job.py)
            questions_job.ask(folder, writer, settings["max_per_chunk"])
    generated = st.session_state.get(f"{KEY}.generated")
    if (not generated or generated["folder"] != folder) and writer and \
            questions_job.asked(folder, writer, settings["max_per_chunk"]):
        generated = {"folder": folder, **settings}  # asked before a reload, or in another tab: its job or questions
    if not generated or generated["folder"] != folder:
        return None
    if {k: generated[k] for k in settings} != settings:
        st.caption("The settings above changed since the questions were generated: generate again to use them.")
    return _review(generated, chunks)


def _cloze_settings() -> dict:
    """How many questions a chunk gives at most, and the seed that draws which (core/task/questions.py)."""
    st.caption("By default, fill-in-the-blank questions from the chunks' sentences (a number, a date, a name or a "
               "defined term hidden), built here without a model; or an LLM writes them. Each keeps its source chunk, "
               "so training and test questions never share one.")
    left, right, _ = st.columns([1, 1, 2])
    most = left.number_input("Questions per chunk (at most)", min_value=1, max_value=20, value=2, step=1,
                             key=f"{KEY}.max_per_chunk", persist_state=KEEP,
                             help="More questions from the same chunks; fewer keep them spread over the documents.")
    seed = right.number_input("Seed", min_value=0, value=0, step=1, key=f"{KEY}.seed", persist_state=KEEP,
                              help="Which sentences of a chunk become questions when it has more than the limit.")
    return {"max_per_chunk": int(most), "seed": int(seed)}


def uploaded_documents(label: str, key: str, help: str) -> str | None:
    """The folder the uploaded documents (several files or a zip) are stored in under their own names, kept across
    reruns and pages; None before any upload, after the user removes them, or when they cannot be stored (said on the
    page). A file uploader comes back empty after another page (Streamlit keeps no files for it): the folder is kept
    then, and dropped only when the user removes the files it holds."""
    held, holding = f"{key}.folder", f"{key}.in_uploader"
    back = key not in st.session_state  # the uploader was not on screen last run: its emptiness is no removal
    files = st.file_uploader(label, accept_multiple_files=True, key=key, help=help,
                             type=[ext.lstrip(".") for ext in (*DOCUMENT_FORMATS, ".zip")])
    if files:
        try:
            folder = save_documents([(file.name, file.getvalue()) for file in files])
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        st.session_state[held], st.session_state[holding] = str(folder), True
    elif back or not st.session_state.get(holding):
        st.session_state[holding] = False
    else:  # the user removed the files
        st.session_state.pop(held, None)
        st.session_state[holding] = False
    folder = st.session_state.get(held)
    if folder and not Path(folder).is_dir():  # removed from the uploads folder meanwhile: nothing left to read
        del st.session_state[held]
        folder = None
    if folder and not files:
        names = sorted(path.name for path in Path(folder).iterdir())
        st.caption(f"Using the files uploaded before: {markdown_text(', '.join(names))}. Upload others to replace "
                   "them.")
    return folder


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
    source = st.radio("Questions", list(WRITERS), key=f"{KEY}.source", horizontal=True, persist_state=KEEP,
                      help="An LLM writes a question and its answer per chunk; a pair is kept only when its answer is "
                           "in the chunk. The built-in SmolLM2 (135M) writes few good ones: on a GPU, name a larger "
                           "instruct model (a Hub id or a folder the server allows).")
    if WRITERS[source] is None:
        return None
    return st.text_input("Model that writes them", value=WRITERS[source], key=f"{KEY}.model",
                         persist_state=KEEP).strip() or WRITERS[source]


def _review(generated: dict, chunks: pd.DataFrame) -> dict | None:
    folder, writer = generated["folder"], generated.get("writer")
    if writer:  # the worker writes them: its progress until they are saved beside the documents
        written = questions_job.written(folder, writer, generated["max_per_chunk"])
        if written is None:
            return None
        questions, report = written
    else:
        questions, report = state.cloze_questions(folder, generated["max_per_chunk"], generated["seed"])
    st.markdown("\n".join(f"- {markdown_text(line)}" for line in report_lines(report)))
    if questions.empty:
        st.warning("No question was kept (the reasons are above). " + ("Name a larger model, or use cloze questions."
                   if writer else "Upload documents with more prose."),
                   icon=":material/warning:")
        return None
    reviews = st.session_state.setdefault(f"{KEY}.reviews", {})  # one per documents folder and settings
    name = f"{Path(folder).name}.{generated['max_per_chunk']}.{generated['seed']}.{writer or 'cloze'}"
    review = reviews.get(name)
    if review is None:
        review = review_table(questions, chunks)
    st.markdown("**Review** — untick a question to reject it; double-click a question or an answer to edit it. "
                "Pick a question below the table to read it beside its source chunk.")
    # The table starts from the review as last kept; its edits are values set in cells, so applying them again to a
    # review that holds them already changes nothing
    edited = st.data_editor(
        review[SHOWN], key=f"{KEY}.review.{name}", hide_index=True, width="stretch", num_rows="fixed",
        row_height=ROW_HEIGHT, height="content" if len(review) <= ROWS_SHOWN else 38 + ROW_HEIGHT * ROWS_SHOWN,
        disabled=["document", "heading"],
        column_config={"accept": st.column_config.CheckboxColumn("accept", width=75),  # pixels, then stretched
                       "question": st.column_config.TextColumn("question", width=450, required=True),
                       "answer": st.column_config.TextColumn("answer", width=150, required=True),
                       "document": st.column_config.TextColumn("document", width=130),
                       "heading": st.column_config.TextColumn("heading", width=160)})
    review = review.copy()
    review[["accept", "question", "answer"]] = edited[["accept", "question", "answer"]].to_numpy()
    reviews[name] = review
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
    buttons = st.container(horizontal=True)  # side by side, each as wide as its words
    if buttons.button("Use the accepted questions", type="primary", key=f"{KEY}.use", icon=":material/check:"):
        try:
            st.session_state[f"{KEY}.spec"] = save_accepted(kept, folder)
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        st.session_state[ui.SHARED_TASK] = st.session_state[f"{KEY}.spec"]
        st.toast("Questions saved. Next: the Experiment page.")
    for suffix in (".csv", ".jsonl"):
        buttons.download_button(f"Download {suffix[1:].upper()}", question_download(kept, suffix),
                               file_name=f"questions{suffix}", key=f"{KEY}.download{suffix}",
                               icon=":material/download:")
    spec = st.session_state.get(f"{KEY}.spec")
    if not spec or spec["documents"]["path"] != folder:
        return None
    if Path(spec["path"]).name != accepted_name(kept):  # edited after it was used: the saved set is not this one
        st.warning("The review changed after the accepted questions were used: use them again, or the experiment "
                   "runs on the questions used before.", icon=":material/warning:")
    return spec
