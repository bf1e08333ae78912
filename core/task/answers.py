"""How an answer is compared as text: SQuAD's normalisation. The task's question builders (spans, questions) and
the evaluation's scoring (core/evaluation/metrics.py) both use it, so it sits here, at the start of the flow."""

from __future__ import annotations

import re
import string
import unicodedata

ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    # SQuAD strips ASCII punctuation; Unicode punctuation goes too, since models write "don’t" and "—"
    kept = (ch for ch in str(text).lower()
            if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return " ".join(ARTICLES.sub(" ", "".join(kept)).split())
