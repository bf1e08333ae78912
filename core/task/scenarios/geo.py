"""`geo-knowledge`: which country a subdivision (state, province, region...) belongs to (knowledge).

The text is only the subdivision's name; the label its country. Test subdivisions never appear in
training, so a model can only answer from knowledge it has or can retrieve. The knowledge corpus
holds one short fact document per subdivision (name, type, country) for training, validation and
only part of test: the test frame's `covered` column says which, so results are reported for
covered and uncovered subdivisions apart (on covered ones retrieval reads a labelled fact; on
uncovered ones it cannot help).

Knowledge update: a further set of subdivisions is held out of everything, training and corpus.
After fitting, their facts are added to the corpus and they are evaluated: RAG can use new facts
without retraining; a fine-tuned model cannot.

Built deterministically from the PyPI package `pycountry` (ISO 3166-2 subdivisions).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError
from core.schema import Count, Seed
from core.task.data import KnowledgeUpdate, Task, normalize_text
from core.task.validation import whole_words

# The eight countries with the most subdivisions (at least 69 each), Latin-script names throughout.
COUNTRIES = ("GB", "IT", "FR", "PH", "RU", "TR", "TH", "ES")
SHARES = {"train": 0.55, "validation": 0.10, "test": 0.25, "update": 0.10}
# The grid `adaptlab demo geo-knowledge` runs: every method, sizes per class, three seeds. The largest size
# fits Spain, whose 29 training subdivisions are the fewest once nested and shared names are dropped.
DEMO_GRID = {"sizes": [8, 24], "seeds": [0, 1, 2]}
CARD = {
    "name": "geo-knowledge",
    "title": "Subdivision to country (knowledge)",
    "source": "PyPI package pycountry (ISO 3166-2 subdivisions)",
    "licence": "LGPL-2.1 (pycountry); ISO 3166 names",
    "labels": [],  # filled in below from pycountry's country names
    "probes": "knowledge: the answer is a fact; retrieval can supply it, and keep it current without retraining",
    "built": "subdivisions of eight countries (the most subdivisions, at least 69 each); names that occur in two "
             "countries dropped, and names nested in another of the same country ('Madrid' and 'Madrid, Comunidad "
             "de'); at most `per_class` per country with a fixed seed; split per country 55% train, 10% "
             "validation, 25% test, 10% knowledge update; corpus = one fact document per train, validation and "
             "covered test subdivision (`covered_share` of test, half by default, column `covered`); none for "
             "the uncovered test or the update subdivisions",
}


def import_pycountry():
    try:
        import pycountry
    except ImportError:
        raise DataError("the geo scenarios need the package pycountry: pip install pycountry") from None
    return pycountry


def country_names() -> dict[str, str]:
    pycountry = import_pycountry()
    return {code: pycountry.countries.get(alpha_2=code).name for code in COUNTRIES}


def with_article(kind: str) -> str:
    """'a province', 'an autonomous region', 'a unitary authority' (a vowel letter is not always a vowel sound)."""
    vowel = kind[0] in "aeiou" and not kind.startswith(("uni", "eu", "one"))
    return f"{'an' if vowel else 'a'} {kind}"


def fact(name: str, kind: str, country: str) -> str:
    return f"{name} is {with_article(kind.lower())} of {country}."


def nested_names(names: pd.Series, countries: pd.Series) -> pd.Series:
    """Names that hold, or are held in, another name of the same country as whole words ('Madrid' and
    'Madrid, Comunidad de'): a document about one answers for the other, so neither is honestly uncovered."""
    words = names.map(whole_words)
    nested = pd.Series(False, index=names.index)
    for _, group in words.groupby(countries):
        for i, inner in group.items():
            held = [j for j, outer in group.items() if j != i and inner in outer]
            if held:
                nested[[i, *held]] = True
    return nested


def split_per_country(frame: pd.DataFrame, per_class: int, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """At most `per_class` rows of each label (country), shuffled, cut by SHARES; each split numbered from 1."""
    parts: dict[str, list[pd.DataFrame]] = {split: [] for split in SHARES}
    for _, group in frame.groupby("label"):
        group = group.iloc[rng.permutation(len(group))[:per_class]]
        bounds = [0, *np.cumsum([round(share * len(group)) for share in SHARES.values()])[:-1], len(group)]
        for split, start, stop in zip(SHARES, bounds, bounds[1:]):
            parts[split].append(group.iloc[start:stop])
    splits = {split: pd.concat(chunks, ignore_index=True) for split, chunks in parts.items()}
    for split in splits.values():
        split["row"] = range(1, len(split) + 1)
    return splits


def covered_mask(count: int, share: float) -> np.ndarray:
    """Which of `count` rows the corpus covers: floor(count * share) of them, spread evenly along the rows.

    Rows arrive grouped by country, so spreading (rather than taking the first ones) covers every
    country in about the same proportion."""
    steps = np.floor(np.arange(count + 1) * share)
    return steps[1:] > steps[:-1]


def build(per_class: Count = 69, covered_share: float = 0.5, seed: Seed = 0) -> Task:
    if not 0 <= covered_share <= 1:
        raise ConfigError(f"covered_share is {covered_share}; it is the share of test subdivisions with a corpus "
                          "document, between 0 and 1")
    pycountry = import_pycountry()
    names = country_names()
    rows = [{"text": s.name.strip(), "label": names[s.country_code], "type": s.type}
            for s in pycountry.subdivisions if s.country_code in names]
    frame = pd.DataFrame(rows)
    frame = frame[~frame.text.map(normalize_text).duplicated(keep=False)]  # "Georgia" is a state and a country's name
    frame = frame[~nested_names(frame.text, frame.label)]
    splits = split_per_country(frame, per_class, np.random.default_rng(seed))
    splits["test"]["covered"] = covered_mask(len(splits["test"]), covered_share)
    known = pd.concat([splits["train"], splits["validation"], splits["test"][splits["test"].covered]],
                      ignore_index=True)
    corpus = pd.DataFrame({"text": [fact(n, k, c) for n, k, c in zip(known.text, known.type, known.label)],
                           "label": known.label})
    update = splits.pop("update")
    new_facts = pd.DataFrame({"text": [fact(n, k, c) for n, k, c in zip(update.text, update.type, update.label)],
                              "label": update.label})
    digest = hashlib.sha256("\n".join(sorted(f"{t}\t{l}" for t, l in zip(frame.text, frame.label))).encode())
    card = {**CARD, "labels": sorted(names.values())}
    return Task(name="geo-knowledge", corpus=corpus, avoid_probes={"countries"},  # countries are this task
                knowledge_update=KnowledgeUpdate(test=update[["text", "label", "row"]], documents=new_facts),
                train=splits["train"][["text", "label", "row"]],
                validation=splits["validation"][["text", "label", "row"]],
                test=splits["test"][["text", "label", "row", "covered"]],
                provenance={"scenario": card, "sources": [{"file": "pycountry/databases/iso3166-2.json"}],
                            "sha256": digest.hexdigest(),
                            "options": {"per_class": per_class, "covered_share": covered_share, "seed": seed},
                            "pycountry": pycountry.__version__ if hasattr(pycountry, "__version__") else None})
