"""Salient spans in a sentence, and the answers a span accepts: the parts of cloze questions (core/task/questions.py).

A span is what a reader of the documents could be asked to recall: a term the text defines ("A validator is
a function..."), an identifier (`model_dump`, BaseModel, pydantic.fields, --strict, MAX_SIZE), a date, a
name (capitalised words not opening the sentence), or a number. Spans come in that order of preference, so
a sentence that defines a term is asked about the term, not about a number in its definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.task.answers import normalize_answer

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_MONTH = "(?:" + "|".join(MONTHS) + ")"
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")
# Upper-case words that are shouting or boilerplate, not identifiers worth asking about
NOT_IDENTIFIERS = {"NOTE", "TODO", "WARNING", "IMPORTANT", "README", "FAQ", "TIP", "CAUTION", "DEPRECATED", "AND",
                   "OR", "NOT", "THE", "MUST", "SHOULD", "MAY", "FIXME", "NEW", "OK"}
# Capitalised words that open clauses as often as names do: a "name" made only of these is no name
NOT_NAMES = {"The", "A", "An", "This", "That", "These", "Those", "It", "If", "In", "On", "For", "To", "And", "But",
             "Or", "We", "You", "I", "When", "Note", "See", "Also", "With", "As", "By", "At", "From", "Our", "Your"}

REFERENCE_MARKS = {"#", "@"}
# (kind, pattern); the group named `span` is the answer (backticks around code stay in the sentence's blank)
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("term", re.compile(r"^(?:(?:An?|The) )?(?P<span>[A-Za-z][\w-]*(?: [\w-]+){0,3}?) (?:is|are) (?:an?|the) \w")),
    ("term", re.compile(r"^(?:(?:An?|The) )?(?P<span>[A-Za-z][\w-]*(?: [\w-]+){0,3}?) "
                        r"(?:means|refers to|stands for) ")),
    ("identifier", re.compile(r"(?P<tick>``?)(?P<span>[^`\n]{1,60})(?P=tick)(?!`)")),  # Markdown `x`, RST ``x``
    ("identifier", re.compile(r"(?<![\w.-])(?P<span>--[a-z][\w-]*)")),  # --flags
    ("identifier", re.compile(r"(?<![\w.])(?P<span>[A-Za-z_]\w*(?:\.[A-Za-z_]\w+)+(?:\(\))?)(?![\w(])")),  # a.b.c
    ("identifier", re.compile(r"\b(?P<span>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)\b")),  # snake_case, ALL_CAPS_X
    ("identifier", re.compile(r"\b(?P<span>[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+|[a-z]+(?:[A-Z][a-z0-9]*)+)\b")),  # Camel
    ("identifier", re.compile(r"\b(?P<span>[A-Z]{3,}[0-9]*)\b")),  # ALL CAPS acronyms: JSON, HTTP
    ("date", re.compile(r"\b(?P<span>\d{4}-\d{2}-\d{2})\b")),
    ("date", re.compile(rf"\b(?P<span>{_MONTH} \d{{1,2}}, \d{{4}}|\d{{1,2}} {_MONTH} \d{{4}}|{_MONTH} \d{{4}})\b")),
    ("name", re.compile(r"(?<!^)(?<![.!?] )\b(?P<span>[A-Z][\w'-]*[a-z][\w'-]*"
                        r"(?: (?:of |de |von )?[A-Z][\w'-]*[a-z][\w'-]*)+)")),
    ("number", re.compile(r"(?<![\w.,-])(?P<span>\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|\d+(?:\.\d+)?%?)(?![\w-]|[.,]\d)")),
]


@dataclass(frozen=True)
class Span:
    kind: str  # term, identifier, date, name or number
    text: str  # the answer as written
    start: int  # where the blank starts and ends in the sentence (backticks included)
    end: int


def salient_spans(sentence: str) -> list[Span]:
    """Every salient span of the sentence, most preferred first, without overlaps with a preferred one."""
    found: list[Span] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(sentence):
            start, end = match.span(0) if kind == "identifier" and match.group(0).startswith("`") \
                else match.span("span")
            span = Span(kind, match.group("span").strip().lstrip("~"), start, end)  # RST's ~ is markup
            if sentence[start - 1:start] in REFERENCE_MARKS:
                continue  # #1234 and @name point at an issue or a person: a handle, not a fact about the subject
            if _plausible(span) and not any(start < other.end and other.start < end for other in found):
                found.append(span)
    return found


def _plausible(span: Span) -> bool:
    if len(normalize_answer(span.text)) < 2 and span.kind != "number":
        return False  # punctuation or one letter: nothing to compare an answer with
    if span.kind == "identifier" and (span.text in NOT_IDENTIFIERS or len(span.text) > 40
                                      or len(span.text.split()) > 4):
        return False  # a long code expression is not a thing to remember by heart
    if span.kind == "name" and all(word in NOT_NAMES for word in span.text.split()):
        return False
    if span.kind == "term" and span.text.split()[0] in NOT_NAMES:
        return False  # "It is a...", "This is a..." define nothing
    return True


def answer_forms(span: Span) -> list[str]:
    """The span and the other ways an answer may write it: 1,000 / 1000, 3 / three, model_dump / model dump,
    2023-06-30 / June 30, 2023. Distinct after answer normalisation (case, punctuation, articles)."""
    text = span.text
    forms = [text]
    if span.kind == "number":
        plain = text.replace(",", "")
        forms += [plain, f"{float(plain.rstrip('%')):,}".removesuffix(".0") + ("%" if plain.endswith("%") else "")]
        if plain.isdigit() and int(plain) < len(NUMBER_WORDS):
            forms.append(NUMBER_WORDS[int(plain)])
        if plain.endswith("%"):
            forms += [f"{plain[:-1]} percent", f"{plain[:-1]} per cent"]
    elif span.kind == "identifier" and " " not in text:
        forms.append(re.sub(r"[_.]+", " ", text.removesuffix("()").strip("-")))
    elif span.kind == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        year, month, day = (int(part) for part in text.split("-"))
        if 1 <= month <= 12:
            forms += [f"{MONTHS[month - 1]} {day}, {year}", f"{day} {MONTHS[month - 1]} {year}"]
    seen: dict[str, str] = {}
    for form in forms:
        seen.setdefault(normalize_answer(form), form)
    return [form for key, form in seen.items() if key]
