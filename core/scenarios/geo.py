"""`geo-knowledge`: which country a subdivision (state, province, region...) belongs to (knowledge).

The text is only the subdivision's name; the label its country. Test subdivisions never appear in
training, so a model can only answer from knowledge it has or can retrieve. The knowledge corpus
holds one short fact document per subdivision (name, type, country).

Knowledge update: a further set of subdivisions is held out of everything, training and corpus.
After fitting, their facts are added to the corpus and they are evaluated: RAG can use new facts
without retraining; a fine-tuned model cannot.

Built deterministically from the PyPI package `pycountry` (ISO 3166-2 subdivisions).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from core.data import KnowledgeUpdate, Task, normalize_text
from core.errors import DataError

# The eight countries with the most subdivisions (at least 69 each), Latin-script names throughout.
COUNTRIES = ("GB", "IT", "FR", "PH", "RU", "TR", "TH", "ES")
SHARES = {"train": 0.55, "validation": 0.10, "test": 0.25, "update": 0.10}
# The grid `adaptlab demo geo-knowledge` runs: every method, sizes per class, three seeds.
DEMO_GRID = {"sizes": [8, 32], "seeds": [0, 1, 2]}
CARD = {
    "name": "geo-knowledge",
    "title": "Subdivision to country (knowledge)",
    "source": "PyPI package pycountry (ISO 3166-2 subdivisions)",
    "licence": "LGPL-2.1 (pycountry); ISO 3166 names",
    "labels": [],  # filled in below from pycountry's country names
    "probes": "knowledge: the answer is a fact; retrieval can supply it, and keep it current without retraining",
    "built": "subdivisions of eight countries (the most subdivisions, at least 69 each); names that occur in two "
             "countries dropped; at most `per_class` per country with a fixed seed; split per country 55% train, "
             "10% validation, 25% test, 10% knowledge update; corpus = one fact document per subdivision outside "
             "the update set",
}


def _pycountry():
    try:
        import pycountry
    except ImportError:
        raise DataError("the geo-knowledge scenario needs the package pycountry: pip install pycountry") from None
    return pycountry


def country_names() -> dict[str, str]:
    pycountry = _pycountry()
    return {code: pycountry.countries.get(alpha_2=code).name for code in COUNTRIES}




def fact(name: str, kind: str, country: str) -> str:
    kind = kind.lower()
    return f"{name} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} of {country}."


def build(per_class: int = 69, seed: int = 0) -> Task:
    pycountry = _pycountry()
    names = country_names()
    rows = [{"text": s.name.strip(), "label": names[s.country_code], "type": s.type}
            for s in pycountry.subdivisions if s.country_code in names]
    frame = pd.DataFrame(rows)
    frame = frame[~frame.text.map(normalize_text).duplicated(keep=False)]  # "Georgia" is a state and a country's name
    rng = np.random.default_rng(seed)
    parts: dict[str, list[pd.DataFrame]] = {split: [] for split in SHARES}
    for _, group in frame.groupby("label"):
        group = group.iloc[rng.permutation(len(group))[:per_class]]
        bounds = [0, *np.cumsum([round(share * len(group)) for share in SHARES.values()])[:-1], len(group)]
        for split, start, stop in zip(SHARES, bounds, bounds[1:]):
            parts[split].append(group.iloc[start:stop])
    splits = {split: pd.concat(chunks, ignore_index=True) for split, chunks in parts.items()}
    for split in splits.values():
        split["row"] = range(1, len(split) + 1)
    known = pd.concat([splits["train"], splits["validation"], splits["test"]], ignore_index=True)
    corpus = pd.DataFrame({"text": [fact(n, k, c) for n, k, c in zip(known.text, known.type, known.label)],
                           "label": known.label})
    update = splits.pop("update")
    new_facts = pd.DataFrame({"text": [fact(n, k, c) for n, k, c in zip(update.text, update.type, update.label)],
                              "label": update.label})
    digest = hashlib.sha256("\n".join(sorted(f"{t}\t{l}" for t, l in zip(frame.text, frame.label))).encode())
    card = {**CARD, "labels": sorted(names.values())}
    return Task(name="geo-knowledge", corpus=corpus, avoid_probes={"countries"},  # countries are this task
                knowledge_update=KnowledgeUpdate(test=update[["text", "label", "row"]], documents=new_facts),
                **{k: v[["text", "label", "row"]] for k, v in splits.items()},
                provenance={"scenario": card, "sources": [{"file": "pycountry/databases/iso3166-2.json"}],
                            "sha256": digest.hexdigest(), "options": {"per_class": per_class, "seed": seed},
                            "pycountry": pycountry.__version__ if hasattr(pycountry, "__version__") else None})
