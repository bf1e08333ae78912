"""`geo-qa`: open-book questions about ISO 3166-2 subdivisions (knowledge injection on a decoder LLM).

Each subdivision is asked three things, each in several phrasings: which country it belongs to, what
kind of subdivision it is (pycountry's `type`) and its ISO 3166-2 code. Every question has a
reference answer, accepted aliases and four answer options for likelihood scoring.

The corpus is prose without labels: passages stating a subdivision's country, type and code, for
every train and validation subdivision and for the covered part of test, plus distractor passages
about other subdivisions with similar names (anywhere in the world) or of the same country.
Uncovered test subdivisions have no passage anywhere, so on them the honest answer is "I don't
know". `paraphrases` writes each fact in several wordings: Ovadia et al. ("Fine-Tuning or Retrieval?",
EMNLP 2024) found that decisive for fine-tuning on documents.

Knowledge update: a further set of subdivisions is held out of training, test and corpus; their
passages arrive after training (`Task.knowledge_update`).

Built deterministically and offline from the PyPI package `pycountry`; run it with
`adaptlab demo geo-qa` (`--quick` for the small variant).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from difflib import SequenceMatcher

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.schema import Seed
from core.task.data import KnowledgeUpdate, Task
from core.task.scenarios.geo import (
    COUNTRIES,
    covered_mask,
    fact,
    import_pycountry,
    nested_names,
    split_per_country,
    with_article,
)

QUICK_PER_COUNTRY = 12  # 24 test subdivisions (72 questions), 56 for training: minutes on a 2-core CPU
MIN_PER_COUNTRY = 10  # fewer, and rounding leaves some split without a subdivision of that country
DISTRACTOR_OPTIONS = 3  # plus the answer: four options per question
ISO_CODE = r"\b[A-Z]{2}-[A-Z0-9]{1,3}\b"  # an ISO 3166-2 subdivision code such as FR-75C
# The grid `adaptlab demo geo-qa` runs on the built-in LLM: every method of the knowledge-injection
# question, sizes in training questions (a question has no class), three seeds.
DEMO_GRID = {"sizes": [32, 128, 512], "seeds": [0, 1, 2], "task": {"kind": "qa"}, "model": {"name": "smollm2"},
             "methods": ["prompt", "fewshot", "rag", "lora", "full", "scratch", "corpus_ft", "rag_lora"]}
LLM_DEMO_GRID = DEMO_GRID  # an LLM is the only backbone that answers questions
# `adaptlab demo geo-qa --quick`, within 15 minutes on 2 CPU cores (measured in docs/BENCHMARKS.md, row 10b): the
# small build, every method once at 32 training questions, and what made the full-budget look take 18 minutes cut
# (bench/profile_grid.py geo-qa measured where they went): four passages in RAG's prompts instead of eight (recall@4
# 0.94 against 0.97 at 8 on this build; RAG + LoRA trains on those prompts), 12 steps of 8 questions and at most
# 2 epochs of the corpus (at least 16 steps of 16 and 3 epochs), and no forgetting probe. A first look: the full
# grid keeps the defaults.
QUICK_OPTIONS = {"task": {"kind": "qa", "builtin_options": {"quick": True}}, "sizes": [32], "rag": {"k": 4},
                 "training": {"batch_size": 8}, "budget": {"max_epochs": 2, "min_steps": 12}, "forgetting": "off"}

QUESTIONS = {
    "country": ("Which country is {name} in?",
                "In which country is the subdivision {name}?",
                "{name} is a subdivision of which country?",
                "What country does {name} belong to?"),
    "type": ("What kind of subdivision is {name}?",
             "What type of administrative division is {name}?",
             "Under ISO 3166-2, what category of subdivision is {name}?",
             "{name} is what kind of subdivision?"),
    "code": ("What is the ISO 3166-2 code of {name}?",
             "Which ISO 3166-2 code identifies {name}?",
             "Give the ISO 3166-2 subdivision code for {name}.",
             "{name} has which ISO 3166-2 code?"),
}
# Each passage states all three facts, so the passage that covers a subdivision answers all its questions.
PASSAGES = (
    "{fact} Its ISO 3166-2 code is {code}.",
    "{name}, coded {code} in ISO 3166-2, is {a_type} in {country}.",
    "Among the subdivisions of {country} listed in ISO 3166-2 is {name}, {a_type} with the code {code}.",
    "The ISO 3166-2 code {code} stands for {name}, which is {a_type} of {country}.",
    "{country} counts {name} among its subdivisions: it is {a_type}, and its ISO 3166-2 code is {code}.",
    "In {country}, {name} has the status of {a_type}. ISO 3166-2 lists it as {code}.",
)
# Aliases pycountry lacks: the short names people write (pycountry's own names and official names
# are accepted as well).
COUNTRY_ALIASES = {"GB": ("UK", "Britain", "Great Britain"), "RU": ("Russia",), "TR": ("Turkey", "Turkiye")}
# Other words for pycountry's types of the default countries that a correct answer may use.
TYPE_ALIASES = {
    "metropolitan department": ("department",),
    "metropolitan region": ("region",),
    "administrative region": ("oblast",),
    "administrative territory": ("krai", "kray"),
    "autonomous district": ("autonomous okrug",),
    "two-tier county": ("two tier county", "county"),
}
CARD = {
    "name": "geo-qa",
    "title": "Questions about subdivisions (open-book QA)",
    "source": "PyPI package pycountry (ISO 3166-2 subdivisions)",
    "licence": "LGPL-2.1 (pycountry); ISO 3166 names",
    "labels": [],  # questions, not classes: each has its own answer
    "probes": "knowledge injection: whether facts belong in the prompt (retrieval) or in the weights (fine-tuning), "
              "and whether a model abstains on facts it was never given",
    "built": "subdivisions of eight countries (`countries`) whose names are unambiguous worldwide, are not nested "
             "in another name of their country and carry no second code; at most `per_country` per country "
             "(`quick`: 12) with a fixed seed, split 55% train, 10% validation, 25% test, 10% knowledge update; three "
             "questions per subdivision (country, type, ISO code) in four phrasings each, four answer options; "
             "corpus = prose passages for train, validation and the covered half of test (`paraphrases` wordings "
             "each) plus distractor passages about similarly named or same-country subdivisions; uncovered test "
             "and update subdivisions have no passage in the corpus",
}


def fold(text: str) -> str:
    """Case, accents and punctuation removed: 'Córdoba' and 'Cordoba' are one name, 'FR-75C' is 'fr 75c'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"\W+", " ", ascii_text.casefold()).split())


def prose_name(country) -> str:
    """The name a sentence can carry: 'Bolivia', not 'Bolivia, Plurinational State of'."""
    if getattr(country, "common_name", None):
        return country.common_name
    if "," in country.name and getattr(country, "official_name", None):
        return country.official_name
    return country.name


def build(countries: tuple[str, ...] | list[str] = COUNTRIES, per_country: int = 40, covered_share: float = 0.5,
          paraphrases: int = 1, similar_names: int = 1, same_country: int = 1, quick: bool = False,
          seed: Seed = 0) -> Task:
    """quick: at most QUICK_PER_COUNTRY subdivisions per country, for a demo within minutes on a CPU."""
    pycountry = import_pycountry()
    countries = tuple(code.upper() for code in countries)
    per_country = min(per_country, QUICK_PER_COUNTRY) if quick else per_country
    _check_options(pycountry, countries, per_country, covered_share, paraphrases, similar_names, same_country)
    world = _subdivisions(pycountry)
    subjects = _unambiguous(world, pycountry, countries)
    _check_sizes(subjects, countries)
    splits = split_per_country(subjects, per_country, np.random.default_rng([seed, 1]))
    splits["test"]["covered"] = covered_mask(len(splits["test"]), covered_share)
    known = pd.concat([splits["train"], splits["validation"], splits["test"][splits["test"].covered]],
                      ignore_index=True)
    sampled = pd.concat(splits.values(), ignore_index=True)
    distractors = _distractors(world, sampled, similar_names, same_country, np.random.default_rng([seed, 2]))
    corpus = _corpus(known, paraphrases, np.random.default_rng([seed, 3]), "p", distractors)
    update = splits.pop("update")
    documents = _corpus(update, paraphrases, np.random.default_rng([seed, 4]), "u")
    choices = _option_pools(pycountry, world, countries)
    rng = np.random.default_rng([seed, 5])
    frames = {split: _questions(frame, corpus, choices, rng) for split, frame in splits.items()}
    update_test = _questions(update.assign(covered=True), documents, choices, rng)  # covered once the update lands
    options = {"countries": list(countries), "per_country": per_country, "covered_share": covered_share,
               "paraphrases": paraphrases, "similar_names": similar_names, "same_country": same_country,
               "quick": quick, "seed": seed}
    return Task(name="geo-qa", kind="qa", avoid_probes={"countries"},  # countries are what this task asks
                corpus=corpus[["text", "label", "id"]], knowledge_update=KnowledgeUpdate(
                    test=update_test, documents=documents[["text", "label", "id"]]),
                **frames, provenance=_provenance(pycountry, subjects, options, corpus, distractors))


def _check_options(pycountry, countries, per_country, covered_share, paraphrases, similar_names, same_country):
    unknown = [code for code in countries if pycountry.countries.get(alpha_2=code) is None]
    if unknown or not countries:
        raise ConfigError(f"countries: {unknown or 'none given'}; name countries by ISO 3166-1 alpha-2 code, "
                          f"e.g. {list(COUNTRIES)}")
    if per_country < MIN_PER_COUNTRY:
        raise ConfigError(f"per_country is {per_country}; it must be at least {MIN_PER_COUNTRY} so every split "
                          "gets subdivisions of each country")
    if not 0 <= covered_share <= 1:
        raise ConfigError(f"covered_share is {covered_share}; it is the share of test subdivisions with a passage "
                          "in the corpus, between 0 and 1")
    if not 1 <= paraphrases <= len(PASSAGES):
        raise ConfigError(f"paraphrases is {paraphrases}; each fact can be worded 1 to {len(PASSAGES)} ways")
    if similar_names < 0 or same_country < 0:
        raise ConfigError("similar_names and same_country count distractor passages per subdivision; "
                          "use 0 or more")


def _check_sizes(subjects: pd.DataFrame, countries: tuple[str, ...]) -> None:
    counts = subjects.country_code.value_counts()
    short = [f"{code} has {counts.get(code, 0)}" for code in countries if counts.get(code, 0) < MIN_PER_COUNTRY]
    if short:
        raise ConfigError(f"countries need at least {MIN_PER_COUNTRY} subdivisions with unambiguous names, but "
                          f"{', '.join(short)}; choose countries with more subdivisions")


def _subdivisions(pycountry) -> pd.DataFrame:
    """Every ISO 3166-2 subdivision in the world: name, lowercase type, code, its country in prose (label)."""
    prose = {country.alpha_2: prose_name(country) for country in pycountry.countries}
    frame = pd.DataFrame([{"name": s.name.strip(), "type": s.type.lower(), "code": s.code,
                           "country_code": s.country_code, "label": prose[s.country_code]}
                          for s in pycountry.subdivisions])
    frame["key"] = frame.name.map(fold)
    # 'Cardiff [Caerdydd GB-CRD]' carries a second, Welsh code: its code question would have two answers
    frame = frame[~frame.name.str.contains(ISO_CODE)]
    return frame.sort_values("code", ignore_index=True)  # pycountry's order is not promised


def _unambiguous(world: pd.DataFrame, pycountry, countries: tuple[str, ...]) -> pd.DataFrame:
    """The countries' subdivisions whose name names nothing else ('La Rioja' is in Spain and Argentina,
    'Guadeloupe' is a country) and neither holds nor is held in another name of its country (see nested_names)."""
    country_keys = {fold(name) for country in pycountry.countries
                    for name in (country.name, getattr(country, "common_name", ""))}
    unique = ~world.key.duplicated(keep=False) & ~world.key.isin(country_keys)
    local = world[world.country_code.isin(countries)]
    return local[unique[local.index] & ~nested_names(local.name, local.country_code)].reset_index(drop=True)


def _distractors(world: pd.DataFrame, sampled: pd.DataFrame, similar_names: int, same_country: int,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Subdivisions asked about nowhere: the most similar names to each sampled one, and some of its country.

    None shares a code or a name with a sampled subdivision, so no distractor is about a question's subject."""
    pool = world[~world.code.isin(sampled.code) & ~world.key.isin(sampled.key)].reset_index(drop=True)
    by_prefix = pool.groupby(pool.key.str[:3]).indices  # a shared prefix first: difflib on every pair is slow
    by_country = pool.groupby("country_code").indices
    chosen: set[int] = set()
    for subject in sampled.itertuples():
        candidates = by_prefix.get(subject.key[:3], [])
        ranked = sorted(candidates, key=lambda i: (-SequenceMatcher(None, subject.key, pool.key[i]).ratio(), i))
        chosen.update(ranked[:similar_names])
        neighbours = by_country.get(subject.country_code, [])
        chosen.update(rng.choice(neighbours, size=min(same_country, len(neighbours)), replace=False).tolist())
    return pool.iloc[sorted(chosen)].reset_index(drop=True)


def _corpus(facts: pd.DataFrame, paraphrases: int, rng: np.random.Generator, prefix: str,
            distractors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Prose passages in a shuffled order, ids `<prefix>00001`...; `code` says which subdivision each is about.

    Each fact in `paraphrases` different wordings; each distractor in one."""
    entries = [(row.code, _passage(row, template)) for row in facts.itertuples()
               for template in rng.choice(len(PASSAGES), size=paraphrases, replace=False)]
    if distractors is not None:
        entries += [(row.code, _passage(row, rng.integers(len(PASSAGES)))) for row in distractors.itertuples()]
    frame = pd.DataFrame(entries, columns=["code", "text"]).iloc[rng.permutation(len(entries))]
    return frame.assign(label="", id=[f"{prefix}{i:05d}" for i in range(1, len(frame) + 1)]).reset_index(drop=True)


def _passage(subdivision, template: int) -> str:
    return PASSAGES[template].format(
        fact=fact(subdivision.name, subdivision.type, subdivision.label), name=subdivision.name,
        a_type=with_article(subdivision.type), country=subdivision.label, code=subdivision.code)


def _option_pools(pycountry, world: pd.DataFrame, countries: tuple[str, ...]) -> dict:
    """Where wrong options come from, nearest first: a question's distractors should be plausible."""
    scenario = world[world.country_code.isin(countries)]
    return {"country_names": sorted(scenario.label.unique()), "all_countries": sorted(world.label.unique()),
            "types_by_country": world.groupby("country_code").type.unique().map(sorted).to_dict(),
            "scenario_types": sorted(scenario.type.unique()), "all_types": sorted(world.type.unique()),
            "codes_by_country": world.groupby("country_code").code.apply(sorted).to_dict(),
            "aliases": _country_aliases(pycountry, countries)}


def _country_aliases(pycountry, countries: tuple[str, ...]) -> dict[str, list[str]]:
    aliases = {}
    for code in countries:
        country = pycountry.countries.get(alpha_2=code)
        names = [prose_name(country), country.name, getattr(country, "official_name", None),
                 getattr(country, "common_name", None), *COUNTRY_ALIASES.get(code, ())]
        aliases[code] = _distinct([name for name in names if name])
    return aliases


def _distinct(texts: list[str]) -> list[str]:
    """The texts in order, without repeats that differ only in case, accents or punctuation."""
    seen, kept = set(), []
    for text in texts:
        if fold(text) not in seen:
            seen.add(fold(text))
            kept.append(text)
    return kept


def _shape(code: str) -> str:
    """'FR-75C' -> '99A': codes of a similar shape make plausible wrong options."""
    return re.sub(r"[A-Z]", "A", re.sub(r"\d", "9", code.split("-", 1)[1]))


def _answers(subject, kind: str, choices: dict) -> tuple[str, list[str], list[list[str]]]:
    """The reference answer, its aliases, and the pools of wrong options, nearest first."""
    if kind == "country":
        return (subject.label, choices["aliases"][subject.country_code],
                [choices["country_names"], choices["all_countries"]])
    if kind == "type":
        return (subject.type, _distinct([subject.type, *TYPE_ALIASES.get(subject.type, ())]),
                [choices["types_by_country"][subject.country_code], choices["scenario_types"], choices["all_types"]])
    codes = choices["codes_by_country"][subject.country_code]
    suffix = subject.code.split("-", 1)[1]
    return (subject.code, [subject.code, suffix, subject.code.replace("-", " ")],
            [[c for c in codes if _shape(c) == _shape(subject.code)],
             [c for c in codes if len(c) == len(subject.code)], codes])


def _options(answer: str, aliases: list[str], pools: list[list[str]], rng: np.random.Generator) -> list[str]:
    """The answer and three wrong options, none of them an accepted answer, shuffled."""
    taken = {fold(alias) for alias in aliases}
    wrong: list[str] = []
    for pool in pools:
        for option in (pool[i] for i in rng.permutation(len(pool))):
            if len(wrong) < DISTRACTOR_OPTIONS and fold(option) not in taken:
                taken.add(fold(option))
                wrong.append(option)
    options = [answer, *wrong]
    return [options[i] for i in rng.permutation(len(options))]


def _questions(subjects: pd.DataFrame, corpus: pd.DataFrame, choices: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Three questions per subdivision; each kind's phrasings spread evenly over the split, in random order."""
    passage_ids = corpus.drop_duplicates("code").set_index("code").id
    templates = {kind: rng.permutation(np.resize(np.arange(len(phrasings)), len(subjects)))
                 for kind, phrasings in QUESTIONS.items()}
    rows = []
    for position, subject in enumerate(subjects.itertuples()):
        for kind, phrasings in QUESTIONS.items():
            answer, aliases, pools = _answers(subject, kind, choices)
            rows.append({"text": phrasings[templates[kind][position]].format(name=subject.name), "label": answer,
                         "aliases": aliases, "options": _options(answer, aliases, pools, rng), "context": "",
                         "covered": bool(subject.covered) if "covered" in subjects else True,
                         "passage_id": passage_ids.get(subject.code, ""), "subject": subject.name})
    frame = pd.DataFrame(rows)
    frame.insert(2, "row", range(1, len(frame) + 1))
    return frame


def _provenance(pycountry, subjects: pd.DataFrame, options: dict, corpus: pd.DataFrame,
                distractors: pd.DataFrame) -> dict:
    digest = hashlib.sha256("\n".join(f"{c}\t{n}\t{t}" for c, n, t in
                                      zip(subjects.code, subjects.name, subjects.type)).encode())
    return {"scenario": CARD, "sources": [{"file": "pycountry/databases/iso3166-2.json"}],
            "sha256": digest.hexdigest(), "options": options,
            "corpus": {"passages": len(corpus), "distractor_passages": int(corpus.code.isin(distractors.code).sum())},
            "pycountry": getattr(pycountry, "__version__", None)}
