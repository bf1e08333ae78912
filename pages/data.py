"""Data: pick a built-in scenario, upload labelled examples, or upload documents and review questions written from
them (pages/data_documents.py); map the columns, and check everything before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import AdaptlabError
from core.results.text import markdown_text
from core.task.uploads import FORMATS, save_upload
from dashboard import charts, checks, state, ui
from pages.data_documents import KEY as DOCS_KEY
from pages.data_documents import documents_alone, uploaded_documents

KEY = "data"
BUILTIN, UPLOAD, DOCUMENTS = "Built-in scenario", "Upload a file", "Documents"
NO_SPLIT = "(none: split here, stratified)"
TEXT_GUESSES = ("text", "body", "sentence", "content", "message", "question")
LABEL_GUESSES = ("label", "labels", "category", "class", "target", "intent", "queue")
ANSWER_GUESSES = ("answer", "answers", "reference", "label")


def render() -> None:
    st.title("Data")
    st.caption("Pick a built-in scenario, upload labelled examples (one text column, one label column), or upload "
               "documents and review the questions written from them. Everything is checked here, before anything "
               "runs.")
    chosen = st.session_state.get(ui.SHARED_TASK) or {}
    source = st.segmented_control("Data source", [BUILTIN, UPLOAD, DOCUMENTS], key=f"{KEY}.source", required=True,
                                  default=_source_of(chosen), persist_state="session",  # as left, after another page
                                  help="Documents: only the documents; questions are written from them here.")
    spec = {BUILTIN: lambda: _builtin(chosen), UPLOAD: _upload, DOCUMENTS: documents_alone}[source]()
    if spec is None:
        return
    _check(spec, documents_shown=source == DOCUMENTS)


def _source_of(chosen: dict) -> str:
    """The data source of the data chosen before: questions saved from the Documents review come back to it."""
    if chosen.get("documents") and chosen.get("path") == st.session_state.get(f"{DOCS_KEY}.spec", {}).get("path"):
        return DOCUMENTS
    return UPLOAD if "path" in chosen else BUILTIN


def _builtin(chosen: dict) -> dict:
    cards = {card["name"]: card for card in state.scenarios()}
    names = list(cards)
    current = chosen.get("builtin")
    name = st.selectbox("Scenario", names, index=names.index(current) if current in names else 0,
                        format_func=lambda n: f"{cards[n].get('title', n)} ({n})", key=f"{KEY}.scenario")
    card = cards[name]
    st.caption(f"{card.get('probes', '')}. Built: {card.get('built', '')}. Source: {card.get('source', '')}; "
               f"licence: {card.get('licence', 'not stated')}.")
    defaults, options = state.scenario_options(name), {}
    if "per_class" in defaults:
        chosen_per_class = chosen.get("builtin_options", {}).get("per_class", defaults["per_class"])
        per_class = st.number_input("Examples per class (at most)", min_value=10, max_value=100_000, step=10,
                                    value=int(chosen_per_class),
                                    key=f"{KEY}.{name}.per_class", help="Fewer examples make every run faster.")
        if per_class != defaults["per_class"]:
            options["per_class"] = int(per_class)
    return {"builtin": name, "builtin_options": options}


def _stored_upload(label: str, key: str, help_text: str) -> dict | None:
    """An uploader whose file is saved (under a generated name) and remembered across reruns and pages."""
    file = st.file_uploader(label, type=[ext.lstrip(".") for ext in FORMATS], key=f"{KEY}.{key}", help=help_text)
    if file is not None:
        try:
            stored = save_upload(file.getvalue(), file.name, st.session_state.get(f"{KEY}.licence", ""))
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        st.session_state[f"{KEY}.stored.{key}"] = {"path": str(stored.path), "name": stored.original_name}
    return st.session_state.get(f"{KEY}.stored.{key}")


def _guess(columns: list[str], guesses: tuple[str, ...], fallback: int) -> int:
    lowered = [c.lower() for c in columns]
    for guess in guesses:
        if guess in lowered:
            return lowered.index(guess)
    return min(fallback, len(columns) - 1)


def _upload() -> dict | None:
    st.text_input("Licence of this data, if known (it goes into the report)", key=f"{KEY}.licence",
                  placeholder="e.g. CC-BY-4.0, internal, proprietary")
    upload = _stored_upload("Labelled examples (CSV, JSONL or Parquet)", "file",
                            "One row per example. A split column (train/validation/test) is optional.")
    if upload is None:
        st.info("Upload a file with a header row: one column of texts, one of labels, e.g. `text,label`.",
                icon=":material/upload_file:")
        return None
    try:
        preview = state.table_preview(upload["path"], upload["name"])
    except AdaptlabError as problem:
        ui.error(problem)
        return None
    st.caption(f"**{markdown_text(upload['name'])}**: {preview['rows']:,} rows, columns "
               + ", ".join(markdown_text(column) for column in preview["columns"]))
    columns = preview["columns"]
    documents = _documents()  # with documents, the file holds questions answered from them
    left, middle, right = st.columns(3)
    text = left.selectbox("Question column" if documents else "Text column", columns,
                          index=_guess(columns, TEXT_GUESSES, 0), key=f"{KEY}.text_column")
    label = middle.selectbox("Answer column" if documents else "Label column", columns,
                             index=_guess(columns, ANSWER_GUESSES if documents else LABEL_GUESSES, 1),
                             key=f"{KEY}.label_column")
    split = right.selectbox("Split column", [NO_SPLIT, *columns], key=f"{KEY}.split_column")
    spec = {"path": upload["path"], "text_column": text, "label_column": label}
    if documents:
        spec = {"path": upload["path"], "kind": "qa", "question_column": text, "answer_column": label,
                "documents": documents}
    if split != NO_SPLIT:
        spec["split_column"] = split
    corpus = None if documents else _corpus()
    if corpus:
        spec["corpus"] = corpus
    with st.expander("First rows"):
        st.dataframe(pd.DataFrame(preview["head"]), hide_index=True, width="stretch")
    return spec


def _corpus() -> dict | None:
    with st.expander("Knowledge documents for RAG (optional)"):
        upload = _stored_upload("Documents (CSV, JSONL or Parquet)", "corpus",
                                "Texts RAG retrieves from; a label column, if present, lets each document vote.")
        if upload is None:
            return None
        try:
            columns = state.table_preview(upload["path"], upload["name"])["columns"]
        except AdaptlabError as problem:
            ui.error(problem)
            return None
        left, right = st.columns(2)
        text = left.selectbox("Document text column", columns, index=_guess(columns, TEXT_GUESSES, 0),
                              key=f"{KEY}.corpus_text")
        label = right.selectbox("Document label column", ["(none)", *columns], key=f"{KEY}.corpus_label")
        return {"path": upload["path"], "text_column": text, "label_column": None if label == "(none)" else label}


def _documents() -> dict | None:
    """Documents uploaded together (several files or a zip), stored in one folder under their own names."""
    with st.expander("Documents the questions are answered from (optional: several files or a zip)"):
        folder = uploaded_documents("Documents", f"{KEY}.documents",
                                    "Text, Markdown, reStructuredText, HTML, PDF (with a text layer), or tables with a "
                                    "`text` column. They are cut into chunks that RAG retrieves and corpus fine-tuning "
                                    "trains on; the file above then holds questions and answers.")
    return {"path": folder} if folder else None


def _documents_read(spec: dict) -> None:
    """What was read from the documents, what was skipped and why, and the chunks RAG will retrieve."""
    try:
        summary, chunks = state.documents_read(spec)
    except AdaptlabError as problem:
        ui.error(problem)
        return
    st.subheader("Documents")
    cols = st.columns(4)
    for col, (name, value) in zip(cols, [("documents", summary.get("documents", 0)),
                                         ("characters", summary.get("characters", 0)),
                                         ("skipped", summary.get("skipped", 0)), ("chunks", len(chunks))]):
        col.metric(name, f"{value:,}")
    if summary.get("skipped_documents"):
        st.markdown("**Skipped, and why**")
        st.dataframe(pd.DataFrame(summary["skipped_documents"]), hide_index=True, width="stretch")
    st.markdown(f"**Chunks** ({summary.get('chunk_tokens')} tokens, {summary.get('chunk_overlap')} overlapping)")
    st.dataframe(chunks, hide_index=True, width="stretch")


def _check(spec: dict, documents_shown: bool = False) -> None:
    spec_json = json.dumps(spec, sort_keys=True)
    try:
        report = state.validation(spec_json, (), "per_class", 128)
    except Exception as problem:  # includes files the loaders could not anticipate: words, never a traceback
        st.error(_in_user_names(checks.data_message(str(problem)) if isinstance(problem, AdaptlabError) else
                                f"{type(problem).__name__}: {problem}"), icon=":material/error:")
        return
    st.subheader("Validation report")
    for problem in report["errors"]:
        st.error(_in_user_names(checks.data_message(problem)), icon=":material/error:")
    warnings = [checks.data_message(w) for w in report["warnings"]]
    imbalanced = checks.imbalance(report["stats"].get("class_counts", {}).get("train", {}))
    if imbalanced:  # said once, from a lower ratio than core's own warning (which it replaces)
        warnings = [imbalanced, *(w for w in warnings if not w.startswith("Classes are imbalanced"))]
    for warning in warnings:
        st.warning(_in_user_names(warning), icon=":material/warning:")
    if report["errors"]:
        st.caption("Fix the problems above (in the file, or the column choices) and upload again.")
        return
    if not warnings:
        st.success("No problems found.", icon=":material/check_circle:")
    _statistics(report["stats"])
    if spec.get("documents") and not documents_shown:
        _documents_read(spec)
    _coverage(spec_json)
    st.divider()
    if st.button("Use this data", type="primary", key=f"{KEY}.use", icon=":material/check:"):
        st.session_state[ui.SHARED_TASK] = spec
        st.toast("Data chosen. Next: the Experiment page.")
    if st.session_state.get(ui.SHARED_TASK) == spec:
        st.success("This data is selected for the next experiment.", icon=":material/task_alt:")
        ui.link("experiment", "Next: set up the experiment")


def _in_user_names(message: str) -> str:
    """Messages name stored files by their generated names; show the names the user uploaded instead. As text: they
    name columns and labels from the file too."""
    for key in ("file", "corpus"):
        upload = st.session_state.get(f"{KEY}.stored.{key}")
        if upload:
            message = message.replace(Path(upload["path"]).name, upload["name"])
    saved = st.session_state.get(f"{DOCS_KEY}.spec")
    if saved:  # the questions accepted on this page, saved under a generated name
        name = Path(saved["path"]).name
        message = message.replace(name.capitalize(), "The accepted questions").replace(name, "the accepted questions")
    return markdown_text(message)


def _statistics(stats: dict) -> None:
    if stats.get("kind") == "qa":
        _qa_statistics(stats)
        return
    rows = stats.get("rows", {})
    cols = st.columns(5)
    for col, (name, value) in zip(cols, [*rows.items(), ("classes", stats.get("classes")),
                                         ("corpus documents", stats.get("corpus_documents", 0))]):
        col.metric(name, f"{value:,}" if isinstance(value, int) else value)
    train_counts = stats.get("class_counts", {}).get("train", {})
    if train_counts:
        st.caption(f"Training-set sizes up to **{min(train_counts.values())} per class** are possible "
                   f"(the smallest class has that many training examples).")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.class_balance_chart(stats.get("class_counts", {})), key=f"{KEY}.balance")
    lengths = pd.Series(stats.get("text_chars", {}), name="characters").rename(
        {"50%": "median", "95%": "95th percentile"})
    right.markdown("**Text length (train, characters)**")
    right.dataframe(lengths.to_frame(), width="stretch")


def _qa_statistics(stats: dict) -> None:
    """Questions have answers, not classes: counts per split, and how many come with options or a passage."""
    rows = stats.get("rows", {})
    cols = st.columns(5)
    for col, (name, value) in zip(cols, [*((f"{split} questions", n) for split, n in rows.items()),
                                         ("corpus passages", stats.get("corpus_documents", 0))]):
        col.metric(name, f"{value:,}")
    options, context = stats.get("with_options", {}).get("test", 0), stats.get("with_context", {}).get("test", 0)
    st.caption(f"Test questions with answer options (scored by likelihood): {options:.0%}; with a passage of their "
               f"own: {context:.0%}. Sizes count training questions.")
    lengths = pd.DataFrame({"question": stats.get("question_chars", {}), "answer": stats.get("answer_chars", {})})
    lengths = lengths.rename({"50%": "median", "95%": "95th percentile"}).drop(index="count", errors="ignore")
    st.markdown("**Length (train, characters)**")
    st.dataframe(lengths, width="content")


def _coverage(spec_json: str) -> None:
    model = st.session_state.get(ui.SHARED_MODEL, "default")
    try:
        coverage = state.coverage(spec_json, model, 128)
    except AdaptlabError as problem:
        ui.error(problem)
        return
    st.subheader("How well the base model's tokenizer covers this text")
    cols = st.columns(4)
    cols[0].metric("Unknown tokens", f"{coverage['unknown_rate']:.2%}")
    cols[1].metric("Texts with an unknown token", f"{coverage['texts_with_unknown']:.1%}")
    cols[2].metric("Pieces per word", f"{coverage['pieces_per_word']:.2f}")
    cols[3].metric("Texts cut at 128 tokens", f"{coverage['truncated']:.1%}")
    st.info(coverage["verdict"][0].upper() + coverage["verdict"][1:] + ".", icon=":material/translate:")
    if coverage["unknown_words"]:
        st.caption("Words the tokenizer cannot read: "
                   + ", ".join(f"{markdown_text(word)} ({count})" for word, count in coverage["unknown_words"]))
