"""Cut documents into chunks of about N tokens of the retriever's tokenizer, at the best boundary in reach.

    chunks = chunk_documents(docs.frame, load_tokenizer("default"), chunk_tokens=256, chunk_overlap=32)
    chunks.columns  # id ("<document>#<n>"), document, text, start, end (text == doc_text[start:end]), heading

A heading (Markdown `#`, an RST or Setext underline; HTML h1-h6 arrive as `#` from documents.py)
always starts a new chunk, so each chunk sits under one heading path ("Install > On Windows").
Inside a section a chunk ends at the last paragraph break in its second half, else the last sentence
end, else a line end, else a word boundary: mid-sentence only when a sentence is longer than a chunk.
The next chunk repeats up to `chunk_overlap` tokens, starting at a sentence where one is in reach.

Every section is tokenized once, in batches, by a fast tokenizer that reports each token's characters
(offset mapping); boundaries are found by regular expressions and numpy over characters, so the work in
Python is per chunk, not per token. Where the tokenizer drops whitespace and reads each word on its own
(BERT's and most retrievers'), a batch's distinct words are tokenized once each and their tokens placed
back at every occurrence by numpy: the same tokens for about a third of the tokenizer's time (a batch of
documentation holds its distinct words about three times over, measured on the bench/ingest.py documents).
"""

from __future__ import annotations

import json
import re
from itertools import chain

import numpy as np
import pandas as pd

WORDS_A_CALL = 2000  # distinct words in one text to the tokenizer (texts of about 20,000 characters)
BATCH = 256  # sections per tokenizer call: large enough for its threads, small enough for memory
# how good a place to end a chunk is a token starting at this character
PARAGRAPH, SENTENCE, LINE, WORD = 4, 3, 2, 1
BEST_FIRST = [bytes([value]) for value in (PARAGRAPH, SENTENCE, LINE, WORD, 0)]
AT_SENTENCE, AT_WORD = re.compile(b"[\\x03-\\x04]"), re.compile(b"[\\x01-\\x04]")  # SENTENCE or better, WORD or better
ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
# RST (optional overline, title, underline at least as long) and Markdown's Setext headings (=== and ---)
UNDERLINED = re.compile(r"^(?:([=\-~^\"'`#*+.:_])\1{2,}[ \t]*\n)?(\S[^\n]*)\n([=\-~^\"'`#*+.:_])\3{2,}[ \t]*$",
                        re.MULTILINE)
FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.MULTILINE | re.DOTALL)
PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")
SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
COLUMNS = ["id", "document", "text", "start", "end", "heading"]
# where a word ends for the tokenizers below: the characters their normalizers turn into a space (Unicode spaces
# that are not these, and control characters, which BERT's normalizer deletes, stay inside a word as they do there)
A_WORD = re.compile(r"[^ \t\n\r]+")
# normalizers and pre-tokenizers that read each character, or each word, without looking across a space
BY_CHARACTER = {"BertNormalizer", "Lowercase", "StripAccents", "NFD", "NFKD", "NFC", "NFKC"}
BY_WORD = {"BertPreTokenizer", "WhitespaceSplit", "Whitespace"}


def chunk_documents(documents: pd.DataFrame, tokenizer, chunk_tokens: int, chunk_overlap: int) -> pd.DataFrame:
    """The chunk table of `documents` (columns document, text); see the module's docstring."""
    if chunk_overlap >= chunk_tokens:
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_tokens ({chunk_tokens})")
    sections = [(document, start, end, heading)
                for document, text in zip(documents.document, documents.text)
                for start, end, heading in split_sections(text)]
    texts = dict(zip(documents.document, documents.text))
    words = word_tokenizer(tokenizer)
    token_offsets = _offsets_by_word if words is not None else _offsets_by_piece
    words = words or tokenizer
    rows, counters = [], {}
    for first in range(0, len(sections), BATCH):
        batch = sections[first:first + BATCH]
        pieces = [texts[document][start:end] for document, start, end, _ in batch]
        for (document, start, _, heading), piece, spans in zip(batch, pieces, token_offsets(words, pieces)):
            for a, b in cut_section(piece, spans, chunk_tokens, chunk_overlap):
                n = counters[document] = counters.get(document, -1) + 1
                rows.append((f"{document}#{n}", document, piece[a:b], start + a, start + b, heading))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"start": "int64", "end": "int64"})


def word_tokenizer(tokenizer):
    """The tokenizer's own fast tokenizer, unpadded and uncut, where it reads words alone (see A_WORD); else None."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    spec = json.loads(backend.to_str())

    def kinds(part):
        return set() if part is None else set(chain.from_iterable(
            kinds(p) for p in part.get("normalizers", part.get("pretokenizers", [])))) | {part["type"]} - {"Sequence"}

    alone = all(not (token["lstrip"] or token["rstrip"] or A_WORD.fullmatch(token["content"]) is None)
                for token in spec["added_tokens"])  # an added token that takes in a space, or holds one, looks across
    if not (alone and kinds(spec["normalizer"]) <= BY_CHARACTER and kinds(spec["pre_tokenizer"]) <= BY_WORD):
        return None
    words = type(backend).from_str(backend.to_str())
    words.no_truncation()  # transformers leaves the last call's padding and truncation set on its tokenizer
    words.no_padding()
    return words


def _offsets_by_piece(tokenizer, pieces: list[str]) -> list[np.ndarray]:
    """(start, end) characters of each token of each piece, the pieces tokenized as they are."""
    offsets = tokenizer(pieces, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, return_token_type_ids=False, verbose=False)["offset_mapping"]
    # fromiter over the flattened pairs: several times faster than np.asarray on a list of tuples
    return [np.fromiter(chain.from_iterable(spans), dtype=np.int64, count=2 * len(spans)).reshape(-1, 2)
            for spans in offsets]


def _offsets_by_word(words, pieces: list[str]) -> list[np.ndarray]:
    """What _offsets_by_piece finds, each distinct word of the pieces tokenized once (`words`: word_tokenizer's)."""
    joined = "\n".join(pieces)  # a newline between pieces: no word spans two
    occurrences = A_WORD.findall(joined)
    if not occurrences:
        return [np.zeros((0, 2), dtype=np.int64) for _ in pieces]
    ids, distinct = pd.factorize(np.array(occurrences, dtype=object))
    counts, spans = _tokens_of_words(words, distinct.tolist())
    # every occurrence's tokens: its word's spans, moved to where the occurrence starts
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    gap = (codes == 32) | (codes == 9) | (codes == 10) | (codes == 13)
    starts = np.flatnonzero(~gap & np.append(True, gap[:-1]))
    per_occurrence = counts[ids]
    occurrence = np.repeat(np.arange(len(ids)), per_occurrence)
    first = (np.cumsum(counts) - counts)[ids]
    within = np.arange(len(occurrence)) - np.repeat(np.cumsum(per_occurrence) - per_occurrence, per_occurrence)
    offsets = spans[first[occurrence] + within] + starts[occurrence][:, None]
    # back to each piece's own characters
    piece_starts = np.cumsum([0] + [len(p) + 1 for p in pieces[:-1]])
    piece = np.searchsorted(piece_starts, starts[occurrence], side="right") - 1
    bounds = np.searchsorted(piece, np.arange(len(pieces) + 1))
    return [offsets[a:b] - piece_starts[n] for n, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def _tokens_of_words(words, distinct: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """How many tokens each word has, and all their (start, end) within their word, word after word.

    The words go to the tokenizer joined by spaces, WORDS_A_CALL to a text: one Python object a text, not a word.
    """
    texts = [" ".join(distinct[first:first + WORDS_A_CALL]) for first in range(0, len(distinct), WORDS_A_CALL)]
    lengths = np.fromiter(map(len, distinct), dtype=np.int64, count=len(distinct))
    counts, spans = np.zeros(len(distinct), dtype=np.int64), []
    encodings = words.encode_batch(texts, add_special_tokens=False)
    for first, encoding in zip(range(0, len(distinct), WORDS_A_CALL), encodings):
        found = encoding.offsets
        found = np.fromiter(chain.from_iterable(found), dtype=np.int64, count=2 * len(found)).reshape(-1, 2)
        starts = np.cumsum(lengths[first:first + WORDS_A_CALL] + 1) - lengths[first:first + WORDS_A_CALL] - 1
        word = np.searchsorted(starts, found[:, 0], side="right") - 1
        counts[first:first + WORDS_A_CALL] = np.bincount(word, minlength=len(starts))
        spans.append(found - starts[word][:, None])
    return counts, np.concatenate(spans)


def split_sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading path) of each run of text between headings; blank runs left out."""
    headings = _headings(text)
    bounds = [(0, "")] + [(start, path) for start, path in headings]
    sections, carried = [], None
    for index, ((start, path), (end, _)) in enumerate(zip(bounds, [*bounds[1:], (len(text), "")])):
        if index and not text[start:end].strip().partition("\n")[2].strip() and index < len(headings):
            carried = start if carried is None else carried  # a heading with nothing under it but a subheading:
            continue  # "# Lima" then "## Hours": one chunk, not a chunk of a lone heading
        if text[start:end].strip():
            sections.append((start if carried is None else carried, end, path))
        carried = None
    return sections


def _headings(text: str) -> list[tuple[int, str]]:
    """(where the heading's line starts, the heading path it opens), in order; none inside code fences."""
    fenced = [match.span() for match in FENCE.finditer(text)]
    found = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in ATX.finditer(text)]
    styles: dict[tuple[bool, str], int] = {}  # RST: a style's level is the order in which it first appears
    for match in UNDERLINED.finditer(text):
        title = match.group(2).strip()
        if len(match.group(0).split("\n")[-1].rstrip()) < len(title) or title.startswith(("#", "-", "*", "|")):
            continue  # too short an underline (RST requires it), or a list item or table above a rule
        if match.start() > 0 and text[max(0, match.start() - 2):match.start()].strip("\n"):
            continue  # a heading stands after a blank line; this is the last line of a paragraph
        level = styles.setdefault((match.group(1) is not None, match.group(3)), len(styles) + 1)
        found.append((match.start(), level, title))
    stack: list[tuple[int, str]] = []
    headings = []
    for start, level, title in sorted(found):
        if any(a <= start < b for a, b in fenced):
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        headings.append((start, " > ".join(t for _, t in stack)))
    return headings


def cut_section(text: str, offsets: np.ndarray, size: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans (start, end) of a section's chunks, stripped of surrounding whitespace."""
    n = len(offsets)
    if n == 0:
        return [_strip(text, 0, len(text))] if text.strip() else []
    # one byte a token: the searches below run in C, a chunk costs a few calls whatever its size
    priority = _token_priority(text, offsets[:, 0]).tobytes()
    starts, ends = offsets[:, 0].tolist(), offsets[:, 1].tolist()
    spans, first = [], 0
    while True:
        if n - first <= size:
            last = n
        else:  # the next chunk starts at the best-placed token in this chunk's second half (the last of the best)
            low = first + max(1, size // 2)
            last = next(at for value in BEST_FIRST if (at := priority.rfind(value, low, first + size + 1)) >= 0)
        spans.append(_strip(text, starts[first], ends[last - 1]))
        if last >= n:
            return [span for span in spans if span[1] > span[0]]
        first = _overlap_start(priority, first, last, overlap)


def _overlap_start(priority: bytes, first: int, last: int, overlap: int) -> int:
    """Where the next chunk starts: up to `overlap` tokens back from `last`, at a sentence start if one is there."""
    low = max(first + 1, last - overlap)
    if low >= last:
        return last
    found = AT_SENTENCE.search(priority, low, last) or AT_WORD.search(priority, low, last)
    return found.start() if found else low


def _token_priority(text: str, token_starts: np.ndarray) -> np.ndarray:
    """For each token, how good a place it is to start a chunk (PARAGRAPH ... WORD, 0 mid-word)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    space = (codes == 32) | ((codes >= 9) & (codes <= 13)) | (codes == 0xA0) | (codes == 0x3000)
    char = np.zeros(len(codes) + 1, dtype=np.int8)
    char[1:-1][space[:-1] & ~space[1:]] = WORD
    newline = np.flatnonzero(codes == 10) + 1
    char[newline] = LINE
    for pattern, value in ((SENTENCE_END, SENTENCE), (PARAGRAPH_END, PARAGRAPH)):
        char[[m.end() for m in pattern.finditer(text)]] = value
    # a token may start on the space before its word (byte-level BPE): look at the next non-space character
    position = np.where(np.append(~space, True), np.arange(len(codes) + 1), len(codes))
    next_visible = np.minimum.accumulate(position[::-1])[::-1]
    return char[next_visible[np.clip(token_starts, 0, len(codes))]]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())
