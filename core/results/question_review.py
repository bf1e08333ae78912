"""Reviewing generated questions before they become a task: each beside its source chunk, accepted or rejected, edited.

What the Data page's "Documents" flow does, as pure functions a script can use the same way:

    review = review_table(questions.frame, chunks)       # accept (True), question, answer, document, heading, ...
    review.loc[3, "accept"] = False                      # the user's verdicts and edits, made in the table
    kept = accepted_questions(review)                    # the question table (QUESTION_COLUMNS) to save
    spec = save_accepted(kept, documents_folder)         # {kind: qa, path: <uploads>/questions-….jsonl, documents: …}
    accepted_name(kept)                                  # that file's name: the same for the same accepted set
    marked_chunk(chunk_text, "1997")                     # the chunk as safe Markdown, the answer in bold
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import pandas as pd

from core.errors import AdaptlabError
from core.results.text import markdown_text
from core.task.question_table import write_question_table
from core.task.questions import QUESTION_COLUMNS
from core.task.uploads import inside_uploads

REVIEW_COLUMNS = ("accept", "question", "answer", "document", "heading", "source", "aliases", "origin")


def review_table(questions: pd.DataFrame, chunks: pd.DataFrame) -> pd.DataFrame:
    """One row per question, accepted by default, with its source chunk's document and heading beside it."""
    by_id = chunks.assign(id=chunks.id.astype(str)).set_index("id")
    sources = questions.source.astype(str)
    return pd.DataFrame({"accept": True, "question": questions.question.astype(str).to_numpy(),
                         "answer": questions.answer.astype(str).to_numpy(),
                         "document": sources.map(by_id.document).fillna("").to_numpy(),
                         "heading": sources.map(by_id.heading).fillna("").to_numpy(), "source": sources.to_numpy(),
                         "aliases": questions.aliases.to_numpy(), "origin": questions.origin.to_numpy()},
                        columns=list(REVIEW_COLUMNS))


def accepted_questions(review: pd.DataFrame) -> pd.DataFrame:
    """The accepted rows as a question table. An edited answer replaces the generated forms (they were forms of the
    old answer); an unchanged one keeps them. A row left without a question or an answer is refused, by number."""
    kept = review[review.accept.astype(bool)].copy()
    kept["question"], kept["answer"] = kept.question.fillna("").astype(str).str.strip(), \
        kept.answer.fillna("").astype(str).str.strip()
    blank = [int(i) + 1 for i, row in kept.iterrows() if not row.question or not row.answer]
    if blank:
        raise AdaptlabError(f"Row(s) {', '.join(map(str, blank))} are accepted but have no question or no answer; "
                        "write one, or untick accept")
    if kept.empty:
        raise AdaptlabError("No question is accepted; tick accept for the questions to keep")
    kept["aliases"] = [list(forms) if len(forms) and forms[0] == answer else [answer]
                       for forms, answer in zip(kept.aliases, kept.answer)]
    return kept[list(QUESTION_COLUMNS)].reset_index(drop=True)


def save_accepted(questions: pd.DataFrame, documents_folder: str) -> dict:
    """Write the question table into the uploads folder (named by its content) and return the task spec that uses it:
    a qa task over the documents, split by each question's source chunk."""
    path = inside_uploads(accepted_name(questions))
    write_question_table(questions, path)
    return {"kind": "qa", "path": str(path), "documents": {"path": str(documents_folder)}}


def accepted_name(questions: pd.DataFrame) -> str:
    """The file name save_accepted gives this question table: made from its content, so the same accepted set has the
    same name, and a spec whose file has another name was saved from a review that has changed since."""
    text = questions[list(QUESTION_COLUMNS)].to_json(orient="records", force_ascii=False)
    return f"questions-{hashlib.sha256(text.encode()).hexdigest()[:24]}.jsonl"


def marked_chunk(text: str, answer: str) -> str:
    """The chunk as Markdown that shows its characters as they are (core.results.text.markdown_text), a paragraph
    per paragraph, with each place the answer occurs in bold: the text is cut at the answer first, each piece
    escaped, then marked (so nothing in the text or the answer can make markup of its own)."""
    words = str(answer).split()
    pattern = re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE) if words else None
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", str(text)) if p.strip()]
    return "\n\n".join(_marked(paragraph, pattern) for paragraph in paragraphs)


def _marked(paragraph: str, pattern: re.Pattern | None) -> str:
    shown, position = [], 0
    for found in pattern.finditer(paragraph) if pattern else ():
        shown += [_escaped(paragraph[position:found.start()]), f"**{markdown_text(found.group(0))}**"]
        position = found.end()
    shown.append(_escaped(paragraph[position:]))
    return "".join(shown)


def _escaped(piece: str) -> str:
    """A piece of a paragraph as text; markdown_text trims it, so the space parting it from the answer is kept."""
    if not piece.strip():
        return " " if piece else ""
    return (" " if piece[0].isspace() else "") + markdown_text(piece) + (" " if piece[-1].isspace() else "")


def question_download(questions: pd.DataFrame, suffix: str) -> bytes:
    """The question table as the bytes of a .jsonl or .csv file, written by write_question_table (the one writer)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"questions{suffix}"
        write_question_table(questions, path)
        return path.read_bytes()
