"""Questions from the documents: cloze questions built offline from the chunks, no model needed.

From each chunk (core/task/chunking.py: columns id, document, text, start, end, heading), sentences with a
salient span (core/task/spans.py: a defined term, an identifier, a date, a name, a number) become
fill-in-the-blank questions, the span hidden and its normalised forms accepted as answers. A question is
dropped, with its reason counted, when its sentence is too short to ask anything or too long to read as one
fact, when the answer can be read off the rest of the question, when it was asked already (the same
question, or nearly: the same answer and most of the same words), or when its chunk has given its
`max_per_chunk` already (which ones is drawn with the seed). Every question keeps its source chunk, so the
split keeps a chunk's facts out of training when they are tested, and documents withheld from every method
give test questions no method could know (`covered=False`): made-up answers on them are measured.

    questions = cloze_questions(chunks, max_per_chunk=2, seed=0)
    questions.frame      # question, answer, aliases, source, origin: readable, editable, a QA file once saved
    questions.report     # {"generated": 412, "kept": 180, "dropped": {"duplicate": 31, ...}, ...}
    task = documents_qa_task(chunks, questions, withheld_fraction=0.2)   # a qa Task; corpus = the chunks
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from core.errors import DataError
from core.task.answers import normalize_answer as _normalize_answer
from core.task.data import Task
from core.task.spans import Span, answer_forms, salient_spans

# the same answers and headings are normalised again and again; the normaliser reads a text character by character
normalize_answer = lru_cache(maxsize=1 << 16)(_normalize_answer)

QUESTION_COLUMNS = ("question", "answer", "aliases", "source", "origin")
CHUNK_COLUMNS = ("id", "document", "text", "heading")
BLANK = "____"
MIN_WORDS = 6  # fewer words leave nothing to ask by ("Version 2.0." -> "Version ____.")
MAX_WORDS = 60  # more is a run-on list or a table flattened into a line, not one fact
MAX_ANSWER_SHARE = 0.5  # an answer longer than half its sentence leaves too little to go on
NEAR_DUPLICATE = 0.8  # word-set overlap (Jaccard) above which two questions with one answer are the same question
CLOSED = re.compile(r"[.!?:][\"')\]]*$")  # a sentence ends so, perhaps inside a quote or a bracket
LIST_ITEM = "\x02"  # marks a list item's first line while its paragraph is put together
REASONS = {
    "too short": f"sentence under {MIN_WORDS} words",
    "too long": f"sentence over {MAX_WORDS} words",
    "cut by chunking": "the chunk starts inside the sentence",
    "not a sentence": "no closing full stop: a title, a table cell or a fragment",
    "answer in question": "the answer is still readable in the question",
    "answer too long": f"the answer is over {MAX_ANSWER_SHARE:.0%} of its sentence",
    "duplicate": "the same question was asked already",
    "near duplicate": "nearly the same question, with the same answer, was asked already",
    "over per-chunk limit": "its chunk gave max_per_chunk questions already",
}


@dataclass
class QuestionSet:
    """A question table and what building it kept and dropped."""

    frame: pd.DataFrame  # QUESTION_COLUMNS: aliases is a list holding the answer first; source is a chunk id
    report: dict = field(default_factory=dict)  # generated, kept, dropped {reason: count}, reasons, by kind


def cloze_questions(chunks: pd.DataFrame, max_per_chunk: int = 2, seed: int = 0) -> QuestionSet:
    """Fill-in-the-blank questions from the chunks' sentences, at most max_per_chunk per chunk."""
    check_chunks(chunks, max_per_chunk)
    rng = np.random.default_rng([seed, 26])  # its own stream: the same chunks and seed give the same questions
    dropped: Counter = Counter()
    kinds: Counter = Counter()
    asked: dict[str, str] = {}  # normalised question -> its answer's normalised form
    words_by_answer: dict[str, list[set[str]]] = {}
    rows, generated, sentences = [], 0, 0
    for chunk in chunks.itertuples(index=False):
        found = split_sentences(chunk.text)
        sentences += len(found)
        candidates = [(sentence, spans) for sentence in found if (spans := salient_spans(sentence))]
        generated += len(candidates)
        if candidates and candidates[0][0] is found[0] and found[0][:1].islower():
            # the chunk starts inside a sentence: the chunk before it, which overlaps it, holds it whole
            dropped["cut by chunking"] += 1
            candidates = candidates[1:]
        kept_here = 0
        for index in rng.permutation(len(candidates)):
            sentence, spans = candidates[index]
            # the cheap checks first, then the limit, so the costly ones run only on questions that could be kept
            reason = _unfit(sentence) or ("over per-chunk limit" if kept_here == max_per_chunk else None)
            if reason is None:
                question, span, reason = _cloze(sentence, spans, chunk.heading)
                reason = reason or _repeat(question, span, asked, words_by_answer)
            if reason:
                dropped[reason] += 1
                continue
            _remember(question, span, asked, words_by_answer)
            kept_here += 1
            kinds[span.kind] += 1
            forms = answer_forms(span)
            rows.append({"question": question, "answer": forms[0], "aliases": forms, "source": str(chunk.id),
                         "origin": "cloze"})
    frame = pd.DataFrame(rows, columns=list(QUESTION_COLUMNS))
    report = {"chunks": len(chunks), "sentences": sentences, "generated": generated, "kept": len(frame),
              "dropped": dict(sorted(dropped.items())), "reasons": {r: REASONS[r] for r in sorted(dropped)},
              "kept_by_kind": dict(sorted(kinds.items())), "max_per_chunk": max_per_chunk, "seed": seed}
    return QuestionSet(frame, report)


def report_lines(report: dict) -> list[str]:
    """The report in sentences: generated, kept, and each reason for dropping with its count."""
    origin = f"from {report['sentences']} sentence(s)" if "sentences" in report \
        else f"by {report['attempts']} prompt(s) per chunk" + (f" to {report['model']}" if "model" in report else "")
    retried = f" ({report['retried']} of them a second try after a drop)" if report.get("retried") else ""
    lines = [f"{report['generated']} question(s) generated {origin}{retried} in {report['chunks']} chunk(s); "
             f"{report['kept']} kept"]
    if report.get("answers_cut_to_the_chunk"):
        lines.append(f"{report['answers_cut_to_the_chunk']} answer(s) cut to the words of their chunk they pointed at")
    lines += [f"{count} dropped: {report['reasons'][reason]} ({reason})" for reason, count in report["dropped"].items()]
    return lines


def split_sentences(text: str) -> list[str]:
    """Prose sentences of a chunk: headings, code blocks, tables and list markers are not sentences."""
    prose, in_code = [], False
    text = re.sub(r"<!--.*?-->|<[^<>\n]+>", " ", text, flags=re.DOTALL)  # HTML inside Markdown: its visible text
    text = re.sub(r"`([^`<\n]+?)\s*(?:<[^>\n]*>)?`__?(?!\w)", r"\1", text)  # an RST link reads as its words
    text = re.sub(r"!?\[([^\]\n]*)\]\([^)\s]*\)", r"\1", text)  # a Markdown link reads as its words
    # bold marks no word  # an address is no fact to recall, and its parts look like names
    text = re.sub(r"<?https?://\S+", "", text).replace("**", "")
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code or line.startswith(("    ", "\t")) or stripped.startswith(("#", "|", ">>>", "$ ", "..", ":")) \
                or re.fullmatch(r"[-=~*^_+#]{3,}[-=~*^_+#\s]*", stripped):  # code, headings, tables, directives
            prose.append("")  # a paragraph break: a sentence never runs across code or a heading
            continue
        item = re.match(r"(?:[-*+]|\d+[.)])\s+", stripped)
        if item:  # a list item is a statement of its own, without its marker (LIST_ITEM: closed below)
            prose += ["", LIST_ITEM + stripped[item.end():]]
        else:
            prose.append(stripped)
    paragraphs = re.split(r"\n\s*\n", "\n".join(prose))
    found = []
    for paragraph in paragraphs:
        flat = " ".join(paragraph.split())
        if flat.startswith(LIST_ITEM):  # an item of a changelog or a feature list states a fact without a full stop
            flat = flat.removeprefix(LIST_ITEM)
            flat += "" if CLOSED.search(flat) else "."
        # a sentence ends at . ! ? before a capital, a digit, a quote or a backtick (not inside "e.g. the")
        found += [s.strip() for s in re.split(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z0-9\"'`(\[])", flat)
                  if s.strip()]
    return found


def _unfit(sentence: str) -> str | None:
    """Why a sentence cannot carry a question whatever is hidden in it, or None."""
    words = len(sentence.split())
    if words < MIN_WORDS or words > MAX_WORDS:
        return "too short" if words < MIN_WORDS else "too long"
    if not CLOSED.search(sentence):
        return "not a sentence"  # a title, a table cell, a fragment: no statement to recall
    return None


def _cloze(sentence: str, spans: list[Span], heading: str) -> tuple[str, Span, str | None]:
    """The sentence as a question with its best span hidden, and the reason to drop it (None: keep).
    A span whose answer the rest would give away yields to the next."""
    context = f" (in “{heading}”)" if heading else ""  # the heading tells which part of the documents is meant
    first = None
    for span in spans:
        question = f"Fill in the blank{context}: {sentence[:span.start]}{BLANK}{sentence[span.end:]}"
        reason = _given_away(question, span, len(sentence.split()))
        if reason is None:
            return question, span, None
        first = first or (question, span, reason)
    return first


def _given_away(question: str, span: Span, sentence_words: int) -> str | None:
    if len(span.text.split()) > MAX_ANSWER_SHARE * sentence_words:
        return "answer too long"
    words = f" {normalize_answer(question)} "
    if any(f" {form} " in words for form in map(normalize_answer, answer_forms(span))):
        return "answer in question"
    return None


def _repeat(question: str, span: Span, asked: dict[str, str], words_by_answer: dict[str, list[set[str]]]) -> str | None:
    key = normalize_answer(question)
    if key in asked:
        return "duplicate"  # chunks overlap, and documentation repeats itself
    words = set(key.split())
    for other in words_by_answer.get(normalize_answer(span.text), []):
        if len(words & other) / len(words | other) >= NEAR_DUPLICATE:
            return "near duplicate"
    return None


def _remember(question: str, span: Span, asked: dict[str, str], words_by_answer: dict[str, list[set[str]]]) -> None:
    key = normalize_answer(question)
    asked[key] = normalize_answer(span.text)
    words_by_answer.setdefault(normalize_answer(span.text), []).append(set(key.split()))


def check_chunks(chunks: pd.DataFrame, max_per_chunk: int) -> None:
    missing = [column for column in CHUNK_COLUMNS if column not in chunks.columns]
    if missing:
        raise DataError(f"the chunk table has no column(s) {missing}; it needs {list(CHUNK_COLUMNS)} "
                        "(core.task.chunking.chunk_documents makes them)")
    if max_per_chunk < 1:
        raise DataError(f"max_per_chunk is {max_per_chunk}; ask at least 1 question per chunk")
    repeated = chunks.id.astype(str).duplicated()
    if repeated.any():
        raise DataError(f"chunk id(s) {sorted(set(chunks.id[repeated].astype(str)))[:5]} are used more than once; "
                        "each chunk needs its own id, or questions cannot name their source")


def withheld_documents(chunks: pd.DataFrame, fraction: float, seed: int = 0) -> set[str]:
    """A share of the documents, drawn with the seed, that no method sees: never indexed, never trained on."""
    if not 0 <= fraction < 1:
        raise DataError(f"withheld_fraction is {fraction}; it is the share of documents no method sees, from 0 "
                        "(none, the default) to below 1")
    documents = sorted(chunks.document.astype(str).unique())
    count = round(fraction * len(documents))
    if fraction and count == 0:
        count = 1  # asked to withhold some: one document is the least that measures anything
    if fraction and count >= len(documents):
        raise DataError(f"withholding {fraction:.0%} of {len(documents)} document(s) leaves none for the methods; "
                        "add documents or lower withheld_fraction")
    rng = np.random.default_rng([seed, 27])
    return {documents[i] for i in rng.choice(len(documents), size=count, replace=False)} if count else set()


def withheld_note(withheld: set[str], test: pd.DataFrame) -> str:
    return (f"{len(withheld)} document(s) withheld from every method (never indexed, never trained on): their "
            f"{int((~test.covered).sum())} question(s) are test questions marked covered=False, where an answer "
            "can only be made up")


def split_by_source(questions: pd.DataFrame, chunks: pd.DataFrame | None, validation_fraction: float = 0.1,
                    test_fraction: float = 0.25, seed: int = 0,
                    withheld_documents: set[str] = frozenset()) -> dict[str, pd.DataFrame]:
    """Train, validation and test questions from different chunks, so fine-tuning on the training questions
    cannot have seen a test question's fact; questions about withheld documents are test-only, `covered=False`.

    A question's source is a chunk id or a document name (a user's own questions); one without a source is a
    group of its own. Whole sources are drawn, with the seed, until test and then validation hold their share.
    A question already marked `covered=False` (a user's file) is test-only too: no method could know it."""
    document_of = {} if chunks is None else dict(zip(chunks.id.astype(str), chunks.document.astype(str)))
    sources = questions.source.fillna("").astype(str) if "source" in questions else pd.Series("", questions.index)
    covered = ~sources.map(lambda source: document_of.get(source, source)).isin(set(withheld_documents))
    if "covered" in questions:
        covered &= questions.covered.astype(bool)
    questions = questions.assign(covered=covered.to_numpy())
    if "row" not in questions:  # the question table's row, so a split question can be found in the saved table
        questions["row"] = range(1, len(questions) + 1)
    # a question without a source stands alone: its own group, named so no chunk id can share it
    groups = sources.where(sources != "", "\x00" + pd.Series(range(len(questions)), index=questions.index).astype(str))
    taken = _draw_groups(groups[covered], {"test": test_fraction, "validation": validation_fraction}, seed)
    splits = {split: questions.loc[covered & groups.isin(chosen)] for split, chosen in taken.items()}
    splits["train"] = questions.loc[covered & ~groups.isin(set().union(*taken.values()))]
    splits["test"] = pd.concat([splits["test"], questions.loc[~covered]])
    empty = [split for split in ("train", "validation", "test") if splits[split].empty]
    if empty:
        raise DataError(f"{int(covered.sum())} question(s) from {groups[covered].nunique()} source(s) cannot fill "
                        f"{' and '.join(empty)} when the questions of one source stay in one split; add questions "
                        "from more documents or chunks (or more per chunk: max_per_chunk)")
    return {split: splits[split].reset_index(drop=True) for split in ("train", "validation", "test")}


def _draw_groups(groups: pd.Series, fractions: dict[str, float], seed: int) -> dict[str, set[str]]:
    """Whole groups, in a seeded order, to each split in turn until it holds its share of the rows."""
    sizes = groups.value_counts(sort=False)
    order = sizes.index[np.random.default_rng([seed, 28]).permutation(len(sizes))]
    taken, position = {}, 0
    for split, fraction in fractions.items():
        wanted, rows, chosen = max(1, round(fraction * len(groups))), 0, set()
        while rows < wanted and position < len(order) - 1:  # the last group is kept for train
            chosen.add(order[position])
            rows += int(sizes[order[position]])
            position += 1
        taken[split] = chosen
    return taken


def documents_qa_task(chunks: pd.DataFrame, questions: QuestionSet | pd.DataFrame, validation_fraction: float = 0.1,
                      test_fraction: float = 0.25, seed: int = 0, withheld_fraction: float = 0.0,
                      name: str = "documents") -> Task:
    """A qa Task from the chunk table and a question table: the corpus is the chunks of every document not
    withheld (what RAG indexes and corpus fine-tuning trains on); the splits come from split_by_source."""
    report = questions.report if isinstance(questions, QuestionSet) else {}
    table = questions.frame if isinstance(questions, QuestionSet) else questions
    if "question" not in table and "text" in table:  # a QA task's frame (core/task/qa.py), e.g. the user's file
        table = table.rename(columns={"text": "question", "label": "answer"})
    withheld = withheld_documents(chunks, withheld_fraction, seed)
    splits = split_by_source(table, chunks, validation_fraction, test_fraction, seed, withheld)
    keep_covered = bool(withheld) or "covered" in table
    frames = {split: _qa_frame(frame, keep_covered) for split, frame in splits.items()}
    corpus = chunks[~chunks.document.astype(str).isin(withheld)].reset_index(drop=True)
    corpus = corpus.assign(id=corpus.id.astype(str), label="", row=range(1, len(corpus) + 1))
    notes = report_lines(report) if report else []
    if withheld:
        notes.append(withheld_note(withheld, splits["test"]))
    provenance = {"sources": [{"documents": int(chunks.document.nunique()), "chunks": len(chunks),
                               "questions": len(table)}],
                  "questions": report, "split": "by source chunk", "withheld_documents": sorted(withheld)}
    return Task(name=name, kind="qa", corpus=corpus, provenance=provenance, notes=notes, **frames)


def _qa_frame(questions: pd.DataFrame, keep_covered: bool) -> pd.DataFrame:
    """A question table as a QA split (core/task/qa.py's columns, plus source, origin and covered)."""
    aliases = [list(dict.fromkeys([answer, *(aliases if isinstance(aliases, list | tuple | np.ndarray) else [])]))
               for answer, aliases in zip(questions.answer, questions.aliases if "aliases" in questions
                                          else [[]] * len(questions))]
    frame = pd.DataFrame({"text": questions.question.astype(str), "label": questions.answer.astype(str).str.strip(),
                          "row": questions.row.to_numpy(), "aliases": aliases, "options": [[]] * len(questions),
                          "context": "", "source": questions.source.astype(str) if "source" in questions else "",
                          "origin": questions.origin if "origin" in questions else "user"})
    if keep_covered:  # without withheld documents every question is covered: an empty 'uncovered' group says nothing
        frame["covered"] = questions.covered.to_numpy(dtype=bool)
    return frame
