"""The user's own documents: a folder, a .zip, or a list of files, read into one text per document.

    task: {kind: qa, path: questions.jsonl, documents: {path: handbook/}}

    docs = read_documents(DocumentsSpec(path="handbook/"))
    docs.frame      # columns document (its name: the path inside the folder or zip, or "file.csv#row"), text
    docs.skipped    # [(name, why)]: empty, duplicate, unreadable (a scanned or encrypted PDF, a binary file...)

Formats: .txt, .md, .rst as they are; .html/.htm as their visible text (scripts, styles and navigation
dropped; headings kept as Markdown headings, so chunking can break at them); .pdf as its text layer
(pypdf); .jsonl/.csv/.parquet as one document per row of the text column (read by core/task/data.py).
A document that cannot be used is named in `skipped`, one line each, and the others are read: a bad
file in a folder of hundreds never stops the run. Limits on size and count stop it with the file named.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.task.chunking import COLUMNS as CHUNK_COLUMNS
from core.task.chunking import chunk_documents
from core.task.document_settings import DocumentsSpec
from core.task.safezip import ZipLimits, zip_members

TEXT_FORMATS = (".txt", ".md", ".markdown", ".rst")
HTML_FORMATS = (".html", ".htm")
TABLE_FORMATS = (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq")
FORMATS = (*TEXT_FORMATS, *HTML_FORMATS, ".pdf", *TABLE_FORMATS)
# HTML that is not content: what a reader skips on a page, and what would make every chunk look alike
HTML_DROPPED = ("head", "script", "style", "nav", "header", "footer", "aside", "noscript", "template", "svg", "form")
HTML_BLOCKS = ("p", "div", "li", "br", "tr", "table", "section", "article", "main", "pre", "blockquote", "ul", "ol",
               "dl", "dt", "dd", "hr", "figure", "figcaption")
BREAK = "\ue000"  # a private-use character marking a block boundary while HTML whitespace is collapsed


@dataclass
class Documents:
    frame: pd.DataFrame  # columns document, text
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why), one per document not used
    notes: list[str] = field(default_factory=list)  # what reading changed, for the task's warnings

    def summary(self) -> dict:
        """What was read, as the Data page and the stored experiment show it."""
        return {"documents": len(self.frame), "characters": int(self.frame.text.str.len().sum()),
                "skipped": len(self.skipped),
                "skipped_documents": [{"document": name, "reason": why} for name, why in self.skipped]}


def read_documents(spec: DocumentsSpec) -> Documents:
    """Every document the spec points at, with those that cannot be used named and counted."""
    skipped: list[tuple[str, str]] = []
    names, texts, seen, total = [], [], {}, 0
    for name, content in _files(spec, skipped):
        total += len(content)
        if total > spec.max_total_bytes:
            raise DataError(f"{name}: reading it takes the documents past {spec.max_total_bytes:,} bytes "
                            "(documents.max_total_bytes); point documents.path at fewer files or raise the limit")
        for document, text in _documents_in(name, content, spec, skipped):
            text = text.replace("\x00", "").strip()
            key = " ".join(text.split()).casefold()  # core.task.data.normalize_text: the same text, spaced anew
            if not text:
                skipped.append((document, "empty: no text"))
            elif key in seen:
                skipped.append((document, f"duplicate: the same text as {seen[key]}"))
            else:
                if len(names) == spec.max_documents:
                    raise DataError(f"{document}: more than {spec.max_documents:,} documents "
                                    "(documents.max_documents); point documents.path at fewer or raise the limit")
                seen[key] = document
                names.append(document)
                texts.append(text)
    frame = pd.DataFrame({"document": names, "text": texts}, dtype=object)
    notes = [f"{len(skipped)} document(s) skipped: " + "; ".join(f"{n} ({why})" for n, why in skipped[:5])
             + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")] if skipped else []
    if frame.empty:
        raise DataError(f"no usable documents in {', '.join(p.name for p in spec.paths())}"
                        + (f": {notes[0]}" if notes else "; add .txt, .md, .rst, .html, .pdf, .jsonl, .csv or "
                           ".parquet files"))
    return Documents(frame, skipped, notes)


def _files(spec: DocumentsSpec, skipped: list) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each file: a folder's files by their path inside it, a zip's members likewise."""
    single = len(spec.paths()) == 1
    limits = ZipLimits(spec.max_file_bytes, spec.max_zip_expanded_bytes)
    for path in spec.paths():
        prefix = "" if single else f"{path.name}/"
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
                name = prefix + file.relative_to(path).as_posix()
                yield from _file(file, name, spec, skipped, limits, inside=path.resolve())
        elif path.exists():
            yield from _file(path, path.name, spec, skipped, limits, prefix="" if single else None)
        else:
            raise DataError(f"{path}: no such file or folder; check documents.path")


def _file(path: Path, name: str, spec: DocumentsSpec, skipped: list, limits: ZipLimits,
          inside: Path | None = None, prefix: str | None = None) -> Iterator[tuple[str, bytes]]:
    if path.name.startswith("."):
        return  # .DS_Store, .git: the system's files, not the user's documents
    if inside is not None and not (path.exists() and path.resolve().is_relative_to(inside)):
        skipped.append((name, "a symbolic link leading outside the folder (or nowhere); not followed"))
        return
    if path.suffix.lower() == ".zip":  # read safely (core/task/safezip.py); a zip inside it is not opened
        for member, content in zip_members(path, limits, skipped, label=name):
            if not member.split("/")[-1].startswith(".") and not member.startswith("__MACOSX/"):
                yield (f"{name}/{member}" if prefix is None else prefix + member), content
        return
    size = path.stat().st_size
    if size > spec.max_file_bytes:
        skipped.append((name, f"{size:,} bytes, more than the {spec.max_file_bytes:,} a document may have "
                        "(documents.max_file_bytes)"))
        return
    yield name, path.read_bytes()


def _documents_in(name: str, content: bytes, spec: DocumentsSpec, skipped: list) -> Iterator[tuple[str, str]]:
    """The (document name, text) pairs of one file: one, or one per row of a table; problems into skipped."""
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        skipped.append((name, f"unreadable: '{suffix or 'no extension'}' is not a document type read here "
                        f"({', '.join(FORMATS)})"))
        return
    try:
        if suffix in TABLE_FORMATS:
            yield from _table_rows(name, content, spec)
        elif suffix == ".pdf":
            yield name, pdf_text(content)
        else:
            text = plain_text(content)
            yield name, html_text(text) if suffix in HTML_FORMATS else text
    except DataError as problem:
        skipped.append((name, "; ".join(problem.problems)))


def plain_text(content: bytes) -> str:
    """UTF-8 text (a byte-order mark allowed); binary files and other encodings refused in words."""
    if b"\x00" in content[:8192]:
        raise DataError("unreadable: a binary file (it holds NUL bytes, which text never does)")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise DataError(f"unreadable: byte {error.start} (line {line}) is not UTF-8; "
                        "re-save the file as UTF-8") from None


def html_text(html: str) -> str:
    """The visible text of a page: scripts, styles and navigation dropped, h1-h6 as '#' headings, blocks apart."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(HTML_DROPPED):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all([f"h{level}" for level in range(1, 7)]):
        title = " ".join(tag.get_text(" ").split())
        tag.replace_with(f"{BREAK}{'#' * int(tag.name[1])} {title}{BREAK}" if title else BREAK)
    for tag in soup.find_all(HTML_BLOCKS):
        tag.insert_before(BREAK)
        tag.insert_after(BREAK)
    # HTML collapses whitespace; only the block boundaries marked above become paragraph breaks
    text = re.sub(r"\s+", " ", soup.get_text())
    text = re.sub(rf"\s*{BREAK}[\s{BREAK}]*", "\n\n", text)
    return text.strip()


def pdf_text(content: bytes) -> str:
    """The text layer of a PDF, page after page; a scanned or encrypted PDF is refused in words."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged file's warnings: the skip reason says it once
    try:
        reader = PdfReader(io.BytesIO(content))
        # an owner password alone (printing, copying forbidden) still opens with an empty user password
        if reader.is_encrypted and not reader.decrypt(""):
            raise DataError("unreadable: an encrypted PDF that needs a password; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DataError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        raise DataError(f"unreadable: not a readable PDF ({type(error).__name__}: {error})") from None
    except Exception as error:  # pypdf raises many types on damaged files (and a missing cryptography backend)
        raise DataError(f"unreadable: the PDF could not be read ({type(error).__name__}: {error})") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise DataError(f"unreadable: a PDF without a text layer ({len(pages)} page(s) of images, e.g. scanned); "
                        "run OCR on it first")
    return text


def _table_rows(name: str, content: bytes, spec: DocumentsSpec) -> Iterator[tuple[str, str]]:
    """One document per row of a .jsonl/.csv/.parquet file, read by the task loader's own reader."""
    from core.task.data import read_table

    with tempfile.TemporaryDirectory() as folder:  # read_table reads a path; a zip member has none
        path = Path(folder) / f"table{Path(name).suffix.lower()}"
        path.write_bytes(content)
        frame = read_table(path, name=name)
    if spec.text_column not in frame.columns:
        raise DataError(f"unreadable: no text column '{spec.text_column}' (the columns are "
                        f"{', '.join(c for c in frame.columns if c != 'row')}); set documents.text_column")
    if spec.name_column and spec.name_column not in frame.columns:
        raise DataError(f"unreadable: no name column '{spec.name_column}'; set documents.name_column or leave it out")
    names = frame[spec.name_column] if spec.name_column else f"{name}#" + frame.row.astype(str)
    yield from zip(names, frame[spec.text_column])


def documents_corpus(spec: DocumentsSpec, tokenizer) -> tuple[pd.DataFrame, dict]:
    """The chunk table as a task's corpus (id, text, document, start, end, heading; label "" and row for the
    loaders' shape), and what to store with the experiment: the summary, skipped documents and chunk spans."""
    documents = read_documents(spec)
    chunks = chunk_documents(documents.frame, tokenizer, spec.chunk_tokens, spec.chunk_overlap)
    corpus = chunks.assign(label="", row=range(1, len(chunks) + 1))
    digest = hashlib.sha256()
    for name, text in zip(documents.frame.document, documents.frame.text):
        digest.update(f"{name}\x1f{text}\x1e".encode())
    record = {**documents.summary(), "sha256": digest.hexdigest(), "chunks": len(chunks),
              "chunk_tokens": spec.chunk_tokens, "chunk_overlap": spec.chunk_overlap,
              # the spans, not the texts: the texts are stored once, as the experiment's passages
              "chunk_table": chunks.drop(columns="text").to_dict("records")}
    corpus.attrs["notes"] = documents.notes
    return corpus, record


def stored_chunks(task_info: dict) -> pd.DataFrame:
    """The chunk table stored with an experiment (core/running/runner.py), texts joined back from its passages."""
    record = (task_info.get("provenance") or {}).get("documents") or {}
    chunks = pd.DataFrame(record.get("chunk_table", []), columns=[c for c in CHUNK_COLUMNS if c != "text"])
    passages = task_info.get("passages") or {}
    chunks.insert(2, "text", chunks["id"].map(lambda i: passages.get(i, "")))
    return chunks
