"""How results are written for a reader: dollars, counts and bytes, options by name, the quality's name, and text
that came from a user made safe to put inside Markdown (markdown_text: the one way, for the report and every page)::

    money(0.000021)                       # "$0.000021"
    option_label("lora", "32")            # "lora (32 per class)": by the key a person types (config, CLI, runs)
    option_title("lora", "32")            # "LoRA adapter (32 per class)": what a reader reads (verdicts, reasons,
                                          # the report's tables, break-even lines)
    quality_words(0.4)                    # "answers 4 in 10 correctly"
    markdown_text("**label** <img>")      # shown as the characters it is
"""

from __future__ import annotations

import math
import re

import pandas as pd

from core.methods import METHODS
from core.task.sizes import size_label

# The two latencies a run measures, named the same way wherever they appear. A latency limit is on the first.
LATENCY_ALONE = "one query alone"  # batch 1: the time a user waits for one answer (median)
LATENCY_BATCHED = "in batches"  # test queries batched: throughput, time per query when many wait together


def quality_name(kind: str) -> str:
    """What the quality axis measures, in words: answer match for questions answered in words, else accuracy.

    Either way the number is in the `accuracy` column (a QA run stores answer match there: an accepted answer
    appears in the reply)."""
    return "answer match" if kind == "qa" else "accuracy"


def money(dollars: float) -> str:
    """Dollars as a person reads them: $1,234.50, $0.0421, $0.000021 (never 2.1e-05)."""
    if pd.isna(dollars):
        return "–"
    if dollars == 0 or abs(dollars) >= 1:
        return f"${dollars:,.2f}"
    decimals = min(8, max(2, 1 - math.floor(math.log10(abs(dollars)))))
    return f"${dollars:,.{decimals}f}"


def option_label(method: str, size: str, unit: str = "per_class") -> str:
    """An option by the key a person types (a config, the CLI, a run's key) and its training-set size, "tfidf (24 per
    class)"; a reader's sentences and tables use option_title."""
    return f"{method} ({size_label(size, unit)})"


def method_name(method: str) -> str:
    """A method as a stakeholder reads it: its title without the parenthesis ("tfidf" -> "TF-IDF + logistic
    regression"); an unknown key stays as it is."""
    spec = METHODS.get(method)
    return spec.title.split(" (")[0] if spec else method


def option_title(method: str, size: str, unit: str = "per_class") -> str:
    """An option as a reader reads it, in headlines, verdicts, reasons, the report's tables and break-even lines:
    "TF-IDF + logistic regression (32 per class)"."""
    return f"{method_name(method)} ({size_label(size, unit)})"


def quality_words(value: float, quality: str = "accuracy") -> str:
    """A quality figure in words beside it: "answers 4 in 10 correctly", "about 77 in 100"; answer match counts
    answers that hold an accepted one."""
    if pd.isna(value):
        return ""
    tenths = value * 10
    share = f"{round(tenths)} in 10" if abs(tenths - round(tenths)) < 0.05 else f"about {round(value * 100)} in 100"
    if quality == "answer match":
        return f"gives an accepted answer to {share} questions"
    return f"answers {share} correctly"


def human_count(n: float) -> str:
    """A parameter count as a person reads it: 1.2M, 70.0k, 512."""
    if pd.isna(n):
        return ""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    if pd.isna(n):
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


# What gives characters a meaning inside one line of Markdown as GitHub and Streamlit read it: code, emphasis, links and
# images (no [, no link: "!" and "(" alone mean nothing), raw HTML and <autolinks>, strikethrough, LaTeX, tables,
# entities (&), and a ":" that touches the next character (Streamlit's :red[...], :material/...: and :emoji:).
# "_" only counts at the edge of a word ("max_length" stays as it is).
INLINE_MARKUP = re.compile(r"[\\`*\[\]<~$|&]|:(?=\S)|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
LINE_START = re.compile(r"\d+[.)]|[-+=>#]")  # a list ("-", "+", "1." or "1)"), a quote, a heading, an underline
# Bare links (https://..., www.x, a@b.c) are found by remark-gfm in the text *after* backslash escapes are read, so
# no escape stops them: an invisible WORD JOINER (U+2060) inside each breaks the pattern and shows nothing.
BARE_LINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=\bwww)(?=\.)|(?=@)")
JOINER = "\u2060"


def markdown_text(value) -> str:
    """Text that came from a user (a label, a column or file name, a question, an error naming them) to put inside
    Markdown, shown as the characters it is: no image fetched, no link, no emphasis or directive from its
    characters. One line: line breaks become spaces, so it cannot start a heading or a list.

    The one way to do this, for the decision report's Markdown and every dashboard page. Plain sentences come
    through unchanged, so a message reads the same in a terminal and on a page; an address keeps an invisible
    WORD JOINER (BARE_LINK)."""
    text = BARE_LINK.sub(JOINER, " ".join(str(value).split()))
    text = INLINE_MARKUP.sub(lambda mark: "\\" + mark.group(0), text)
    start = LINE_START.match(text)
    return f"{text[:start.end() - 1]}\\{text[start.end() - 1:]}" if start else text


def markdown_table(frame: pd.DataFrame, text: bool = False) -> str:
    """A Markdown table; text=True where its cells came from a user (markdown_text on each)."""
    if frame.empty:
        return "_none_"
    cell = markdown_text if text else lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
