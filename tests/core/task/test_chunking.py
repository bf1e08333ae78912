"""Chunking: by tokens of the retriever's tokenizer, at headings, paragraphs and sentences, spans exact."""

from __future__ import annotations

import pandas as pd
import pytest

from core.task.chunking import chunk_documents, split_sections
from core.task.coverage import load_tokenizer
from core.task.documents import html_text


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("default")


def _tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _chunks(tokenizer, documents: dict[str, str], size: int, overlap: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame({"document": list(documents), "text": list(documents.values())})
    return chunk_documents(frame, tokenizer, size, overlap)


SENTENCES = " ".join(f"Pump model {i} runs at {10 + i} bar and needs service every {i + 2} months." for i in range(40))
MARKDOWN = f"""Preface line.

# Pumps

{SENTENCES}

## Valves

Close the valve first.

```
# not a heading: a comment in code
```

# Safety

Wear gloves.
"""


def test_spans_are_exact_and_chunks_keep_document_and_heading_path(tokenizer):
    chunks = _chunks(tokenizer, {"manual.md": MARKDOWN, "other.txt": "Just one line."}, 48, 8)
    assert list(chunks.columns) == ["id", "document", "text", "start", "end", "heading"]
    for chunk in chunks.itertuples():
        assert ({"manual.md": MARKDOWN, "other.txt": "Just one line."}[chunk.document][chunk.start:chunk.end]
                == chunk.text)
    manual = chunks[chunks.document == "manual.md"]
    assert manual.id.tolist() == [f"manual.md#{n}" for n in range(len(manual))]
    assert manual.heading.iloc[0] == "" and manual.text.iloc[0] == "Preface line."
    assert set(manual.heading) == {"", "Pumps", "Pumps > Valves", "Safety"}  # the fenced '#' is no heading
    valves = manual[manual.heading == "Pumps > Valves"].text.iloc[0]
    assert valves.startswith("## Valves") and "# not a heading" in valves
    assert chunks[chunks.document == "other.txt"].id.tolist() == ["other.txt#0"]


def test_chunks_fit_the_size_and_end_at_sentences(tokenizer):
    chunks = _chunks(tokenizer, {"a.md": MARKDOWN}, 64, 16)
    pumps = chunks[chunks.heading == "Pumps"]
    assert len(pumps) > 5
    assert all(_tokens(tokenizer, text) <= 64 for text in chunks.text)
    assert all(text.endswith(".") for text in pumps.text)  # never mid-sentence: sentences here are ~20 tokens
    assert all(text.startswith(("# Pumps", "Pump model")) for text in pumps.text)
    # the overlap repeats the previous chunk's last sentence
    first, second = pumps.text.iloc[0], pumps.text.iloc[1]
    assert second.split(". ")[0] + "." in first


def test_a_paragraph_break_wins_over_a_sentence_end(tokenizer):
    late = " ".join(f"Lead sentence {i}." for i in range(6)) + "\n\nNext paragraph starts. " + "More words. " * 40
    assert _chunks(tokenizer, {"d.txt": late}, 40).text.iloc[0].endswith("Lead sentence 5.")


def test_a_sentence_longer_than_a_chunk_is_cut_at_a_word(tokenizer):
    words = " ".join(f"word{i}" for i in range(400))
    chunks = _chunks(tokenizer, {"d.txt": words}, 50, 10)
    assert len(chunks) > 3
    assert all(_tokens(tokenizer, t) <= 50 for t in chunks.text)
    assert all(t.startswith("word") and t.split()[-1] in words.split() for t in chunks.text)


def test_rst_and_setext_underlines_and_html_headings():
    rst = "Guide\n=====\n\nIntro.\n\nInstall\n-------\n\nSteps.\n\nLinux\n~~~~~\n\nApt.\n\nUsage\n-----\n\nRun it.\n"
    assert [path for _, _, path in split_sections(rst)] == ["Guide", "Guide > Install", "Guide > Install > Linux",
                                                            "Guide > Usage"]
    not_heading = "A paragraph line\n---------------\n"  # an underline below a paragraph's last line, no blank above
    assert [p for _, _, p in split_sections("Intro text\n" + not_heading)] == [""]
    lone = "# Lima\n\n## Hours\n\nOpen at 8.\n\n# Oslo\n\nClosed.\n\n# Empty\n"
    assert [(lone[a:b].strip(), p) for a, b, p in split_sections(lone)] == [
        ("# Lima\n\n## Hours\n\nOpen at 8.", "Lima > Hours"), ("# Oslo\n\nClosed.", "Oslo"), ("# Empty", "Empty")]
    html = html_text("<h1>Guide</h1><p>Intro.</p><h3>Deep</h3><p>Text.</p><h2>Next</h2><p>More.</p>")
    assert [p for _, _, p in split_sections(html)] == ["Guide", "Guide > Deep", "Guide > Next"]


def test_many_documents_in_one_call(tokenizer):
    documents = {f"doc{i}.md": f"# Title {i}\n\n" + SENTENCES[: 200 + i] for i in range(600)}
    chunks = _chunks(tokenizer, documents, 32, 4)
    assert chunks.document.nunique() == 600
    assert chunks.groupby("document").id.first().str.endswith("#0").all()


def _fortune_handbook() -> pd.DataFrame:
    """Real text with structure: each fortune file as a document, its fortunes under Markdown or RST headings."""
    from core.task.scenarios.fortunes import fortune_dir

    rows = []
    for file in sorted(p for p in fortune_dir().iterdir() if p.suffix != ".dat"):
        fortunes = file.read_text(encoding="utf-8", errors="replace").split("\n%\n")[:90]
        parts = [f"{file.name}\n{'=' * len(file.name)}" if len(rows) % 2 else f"# {file.name}"]
        for n in range(0, len(fortunes), 30):
            parts.append(f"Part {n // 30}\n--------" if len(rows) % 2 else f"## Part {n // 30}")
            parts += fortunes[n:n + 30]
        rows.append((f"{file.name}.md", "\n\n".join(parts)))
    return pd.DataFrame(rows, columns=["document", "text"])


@pytest.mark.parametrize(("size", "overlap", "chunks", "digest"), [
    (128, 32, 732, "b0b0910b3f7b0521b19436f2148dc751d320d97a642329914ae2800405e98df7"),
    (32, 8, 3089, "6681de9c3e89742cdecc8c8591cf01491ab999bc0bed1c6de6aa35d49c939f20"),
])
def test_the_chunk_table_of_a_real_corpus_is_pinned(tokenizer, size, overlap, chunks, digest):
    """Chunking may get faster, never different: ids, spans and headings of real text as they were (2026-12-07)."""
    import hashlib

    documents = _fortune_handbook()
    table = chunk_documents(documents, tokenizer, size, overlap)
    texts = dict(zip(documents.document, documents.text))
    assert all(text == texts[d][a:b] for text, d, a, b in zip(table.text, table.document, table.start, table.end))
    assert table.heading.nunique() == 26  # Markdown and RST headings, each fortune file's parts
    found = hashlib.sha256(table.drop(columns="text").to_csv(index=False).encode()).hexdigest()
    assert (len(table), found) == (chunks, digest)


def _varied_documents() -> pd.DataFrame:
    """Seeded documents mixing what chunking must get right: Markdown, RST and Setext headings, code fences, lists,
    long sentences and long words, special tokens' text, tabs, CRLF, no-break and ideographic spaces, control
    characters, accents, CJK, emoji, punctuation runs, a form feed and blank runs: where cutting by tokens could
    shift."""
    import random

    rng = random.Random(26)
    words = ["pump", "valve", "Zürich", "naïve", "東京", "データ", "🙂", "e.g.", "v2.3.1", "x=y+1", "__init__",
             "don't", "(see", "below)", "https://example.org/a_b?c=d", "café", "ﬁle", "straße", "10,000", "—", "…",
             "Ελληνικά", "[MASK]", "x[SEP]y", "a\u00a0b", "wörd\u3000word", "tab\there", "ctrl\x07x",
             "supercalifragilistic" * 8]
    headings = [lambda t: f"# {t}", lambda t: f"## {t}", lambda t: f"### {t} ###", lambda t: f"{t}\n{'=' * len(t)}",
                lambda t: f"{t}\n{'-' * len(t)}", lambda t: f"{'~' * len(t)}\n{t}\n{'~' * len(t)}",
                lambda t: f"{t}\n{'^' * (len(t) + 3)}"]

    def sentence() -> str:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 45)))
        return text[0].upper() + text[1:] + rng.choice([".", "!", "?", ".)", '."', "", ";", ":"])

    def block() -> str:
        kind = rng.random()
        if kind < 0.12:
            return rng.choice(headings)(" ".join(rng.choice(words[:12]) for _ in range(rng.randint(1, 4))))
        if kind < 0.2:
            return "```\n# not a heading\n" + "\n".join(sentence() for _ in range(rng.randint(1, 6))) + "\n```"
        if kind < 0.3:
            return "\n".join(f"{rng.choice('-*+')} {sentence()}" for _ in range(rng.randint(1, 8)))
        if kind < 0.35:
            return " ".join(rng.choice(words) for _ in range(rng.randint(100, 300)))  # no sentence end at all
        return rng.choice([" ", "  ", "\n", " \t"]).join(sentence() for _ in range(rng.randint(1, 12)))

    rows = []
    for n in range(24):
        separators = ["\n\n", "\n\n\n", "\r\n\r\n", "\n \n", "\n\t\n", "\n\x0c\n", "\n"]
        text = "".join(block() + rng.choice(separators) for _ in range(rng.randint(1, 30)))
        rows.append((f"doc{n:02d}.{rng.choice(['md', 'rst', 'txt'])}", text))
    return pd.DataFrame(rows, columns=["document", "text"])


@pytest.mark.parametrize(("size", "overlap", "chunks", "digest"), [
    (128, 32, 1982, "a3ef211b28f1ff1635f89d6b4f1e24db8c5733aa2d2d98542b0abd01ea52c38e"),
    (48, 12, 5034, "eac58b7f248c0f78dbd3db56fbdfcb1806bcc3d6fe6c7bba73b70b0bfa93280e"),
    (16, 0, 11567, "6a972cf107c19387b179318f9fab0e392893dbc94aa8e41fd9b9dd2801271173"),
])
def test_the_chunk_table_of_varied_documents_is_pinned(tokenizer, size, overlap, chunks, digest):
    """The chunks of `_varied_documents` as the per-section tokenizer call made them (2026-12-07): chunking by
    words tokenized once must find the same tokens, so the same ids, spans and headings."""
    import hashlib

    documents = _varied_documents()
    table = chunk_documents(documents, tokenizer, size, overlap)
    texts = dict(zip(documents.document, documents.text))
    assert all(text == texts[d][a:b] for text, d, a, b in zip(table.text, table.document, table.start, table.end))
    found = hashlib.sha256(table.drop(columns="text").to_csv(index=False).encode()).hexdigest()
    assert (len(table), found) == (chunks, digest)


def test_words_tokenized_once_give_each_piece_the_tokens_of_the_piece_tokenized_whole(tokenizer):
    from core.task.chunking import _offsets_by_piece, _offsets_by_word, word_tokenizer

    pieces = _varied_documents().text.tolist() + ["", " \n\t ", "one", "[CLS] a"]
    tokenizer(["x" * 400], truncation=True, max_length=8, padding="max_length")  # leaves both set on its backend
    by_word = _offsets_by_word(word_tokenizer(tokenizer), pieces)
    by_piece = _offsets_by_piece(tokenizer, pieces)
    assert [offsets.tolist() for offsets in by_word] == [offsets.tolist() for offsets in by_piece]


def test_a_tokenizer_that_reads_spaces_gets_whole_pieces(tokenizer):
    """Byte-level BPE keeps a word's space in its token, and an added token may take in its neighbour's space:
    words tokenized alone would not be the text's tokens, so such tokenizers are called on the pieces."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from core.task.chunking import word_tokenizer

    assert word_tokenizer(tokenizer) is not None
    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    byte_level.train_from_iterator([MARKDOWN] * 3, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    gpt_like = PreTrainedTokenizerFast(tokenizer_object=byte_level)
    assert word_tokenizer(gpt_like) is None
    chunks = _chunks(gpt_like, {"a.md": MARKDOWN}, 48, 8)
    assert all(MARKDOWN[a:b] == text for a, b, text in zip(chunks.start, chunks.end, chunks.text))
    assert max(_tokens(gpt_like, text) for text in chunks.text) <= 48 < _tokens(gpt_like, MARKDOWN)
    stripping = load_tokenizer("default")
    stripping.add_tokens([AddedToken("<fact>", lstrip=True)])
    assert word_tokenizer(stripping) is None
