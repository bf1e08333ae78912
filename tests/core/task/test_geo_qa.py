"""The geo-qa scenario: open-book questions whose answers are in the corpus for covered subdivisions only."""

import re

import pandas as pd
import pytest

from core.errors import ConfigError
from core.task.qa import validate_qa_task
from core.task.scenarios import build_scenario
from core.task.scenarios.geo_qa import PASSAGES, QUESTIONS, fold
from core.task.validation import whole_words

SPLITS = ("train", "validation", "test")
CODE = re.compile(r"\b[A-Z]{2}-[A-Z0-9]{1,3}\b")


@pytest.fixture(scope="module")
def task():
    return build_scenario("geo-qa", quick=True)


@pytest.fixture(scope="module")
def full_task():
    return build_scenario("geo-qa")


def _kind(label: str) -> str:
    """Which fact a question asks for, read off its answer: types are lowercase, country names are not."""
    if CODE.fullmatch(label):
        return "code"
    return "country" if label[0].isupper() else "type"


def _codes(frame: pd.DataFrame) -> dict[str, str]:
    """subject -> its ISO code (the answer to its code question)."""
    return {row.subject: row.label for row in frame.itertuples() if CODE.fullmatch(row.label)}


def _passage_codes(passages: pd.Series) -> list[str]:
    codes = [CODE.findall(text) for text in passages]
    assert codes and all(len(found) == 1 for found in codes), "every passage names exactly one code"
    return [found[0] for found in codes]


def test_the_task_is_qa_with_the_contracted_columns(task):
    assert task.kind == "qa"
    for frame in (task.train, task.validation, task.test, task.knowledge_update.test):
        assert list(frame.columns) == ["text", "label", "row", "aliases", "options", "context", "covered",
                                       "passage_id", "subject"]
        assert len(frame) and frame.row.tolist() == list(range(1, len(frame) + 1))
        assert (frame.context == "").all()
    for corpus in (task.corpus, task.knowledge_update.documents):
        assert list(corpus.columns) == ["text", "label", "id"] and len(corpus) and (corpus.label == "").all()
    assert validate_qa_task(task).ok


def test_the_build_is_deterministic_and_the_seed_matters():
    first, second = build_scenario("geo-qa", quick=True), build_scenario("geo-qa", quick=True)
    for split in SPLITS:
        pd.testing.assert_frame_equal(getattr(first, split), getattr(second, split))
    pd.testing.assert_frame_equal(first.corpus, second.corpus)
    pd.testing.assert_frame_equal(first.knowledge_update.test, second.knowledge_update.test)
    pd.testing.assert_frame_equal(first.knowledge_update.documents, second.knowledge_update.documents)
    other = build_scenario("geo-qa", quick=True, seed=1)
    assert set(other.test.subject) != set(first.test.subject)


def test_no_subdivision_is_asked_about_in_two_splits(task):
    subjects = {split: set(getattr(task, split).subject) for split in SPLITS}
    subjects["update"] = set(task.knowledge_update.test.subject)
    names = list(subjects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not subjects[a] & subjects[b], (a, b)
    assert all(len(group) for group in subjects.values())


def test_test_subdivisions_split_into_covered_and_uncovered(task, full_task):
    for built, subjects in ((task, 24), (full_task, 80)):
        test = built.test
        per_subject = test.groupby("subject").covered.agg(["min", "max"])
        assert (per_subject["min"] == per_subject["max"]).all()  # a subdivision is covered for all its questions
        assert len(per_subject) == subjects and per_subject["min"].sum() == subjects // 2
        assert (test.passage_id[test.covered] != "").all() and (test.passage_id[~test.covered] == "").all()
        assert len(built.train) and built.train.covered.all()
        assert len(built.validation) and built.validation.covered.all()


def test_each_question_with_a_passage_can_be_answered_from_it(task):
    passages = task.corpus.set_index("id").text
    for split in SPLITS:
        frame = getattr(task, split)
        covered = frame[frame.covered]
        assert len(covered) and covered.passage_id.isin(passages.index).all()
        for row in covered.itertuples():
            assert row.label in passages[row.passage_id] and row.subject in passages[row.passage_id]


def test_uncovered_and_update_subdivisions_have_no_passage_anywhere(task):
    update = task.knowledge_update.test
    codes = {**_codes(task.test), **_codes(update)}
    uncovered = set(task.test.subject[~task.test.covered])
    corpus_codes = set(_passage_codes(task.corpus.text))
    document_codes = set(_passage_codes(task.knowledge_update.documents.text))
    assert not {codes[s] for s in uncovered} & (corpus_codes | document_codes)
    assert not {codes[s] for s in update.subject} & corpus_codes
    assert {codes[s] for s in update.subject} == document_codes
    asked = pd.concat([task.test[~task.test.covered], update])
    country = {row.subject: row.label for row in asked.itertuples() if _kind(row.label) == "country"}
    for subject in uncovered | set(update.subject):  # not even named in a passage about a neighbour
        assert not any(whole_words(subject) in whole_words(text) for text in task.corpus.text
                       if country[subject] in text), subject


def test_the_update_brings_the_passages_its_questions_need(task):
    update, documents = task.knowledge_update.test, task.knowledge_update.documents.set_index("id").text
    assert len(documents) and len(update) == 3 * len(documents) and update.passage_id.isin(documents.index).all()
    assert not set(documents.index) & set(task.corpus.id)
    for row in update.itertuples():
        assert row.label in documents[row.passage_id]


def test_distractor_passages_are_about_similar_names_and_neighbours(task):
    import pycountry

    known = {**_codes(task.train), **_codes(task.validation), **_codes(task.test)}
    distractors = set(_passage_codes(task.corpus.text)) - set(known.values())
    assert len(distractors) >= len(known) // 2
    countries = {code.split("-")[0] for code in known.values()}
    abroad = {code for code in distractors if code.split("-")[0] not in countries}
    assert {code.split("-")[0] for code in distractors} >= countries  # a neighbour in every country
    asked = {fold(subject) for subject in [*known, *task.knowledge_update.test.subject]}
    names = [fold(pycountry.subdivisions.get(code=code).name) for code in abroad]
    assert names and all(name[:3] in {subject[:3] for subject in asked} for name in names)  # for a similar name
    assert not asked & set(names)
    without = build_scenario("geo-qa", quick=True, similar_names=0, same_country=0)
    covered = pd.concat([without.train, without.validation, without.test[without.test.covered]])
    assert set(_passage_codes(without.corpus.text)) == set(_codes(covered).values())


def test_four_distinct_options_hold_the_answer_once_and_no_other_accepted_answer(full_task):
    for split in SPLITS:
        for row in getattr(full_task, split).itertuples():
            assert len(row.options) == 4 and len({fold(o) for o in row.options}) == 4, row.text
            assert row.options.count(row.label) == 1, row.text
            accepted = {fold(alias) for alias in row.aliases}
            assert sum(fold(option) in accepted for option in row.options) == 1, row.text


def test_aliases_hold_the_answer_and_its_other_forms(full_task):
    test = full_task.test
    assert len(test) and all(row.aliases[0] == row.label for row in test.itertuples())
    code_rows = test[test.label.str.fullmatch(CODE)]
    assert len(code_rows) and all(row.label.split("-")[1] in row.aliases for row in code_rows.itertuples())
    uk = test[test.label == "United Kingdom"]
    assert len(uk) and all({"UK", "United Kingdom of Great Britain and Northern Ireland"} <= set(a) for a in uk.aliases)
    types = test[test.label == "metropolitan department"]
    assert len(types) and all("department" in aliases for aliases in types.aliases)


def test_every_kind_of_question_comes_in_several_phrasings_in_every_part_of_test(task):
    def phrasings(frame):
        used = {kind: set() for kind in QUESTIONS}
        for row in frame.itertuples():
            kind = _kind(row.label)
            matches = [i for i, template in enumerate(QUESTIONS[kind]) if template.format(name=row.subject) == row.text]
            assert len(matches) == 1, row.text
            used[kind].add(matches[0])
        return used

    assert all(len(used) >= 3 for used in phrasings(task.test).values())
    for covered in (True, False):
        assert all(len(used) >= 2 for used in phrasings(task.test[task.test.covered == covered]).values())
    assert all(len(used) >= 3 for used in phrasings(task.train).values())


def test_paraphrases_word_each_fact_several_ways(task):
    more = build_scenario("geo-qa", quick=True, paraphrases=3)
    facts = len(set(task.corpus.id) & set(pd.concat([task.train, task.validation, task.test]).passage_id))
    assert len(more.corpus) == len(task.corpus) + 2 * facts
    code = more.test.label[more.test.covered & more.test.label.str.fullmatch(CODE)].iloc[0]
    about = [text for text in more.corpus.text if re.search(rf"\b{code}\b", text)]
    assert len(about) == 3 and len(set(about)) == 3
    assert len(more.knowledge_update.documents) == 3 * len(task.knowledge_update.documents)
    assert len(PASSAGES) >= 3


def test_passages_are_prose_without_questions_or_bare_answers(task):
    passages = set(task.corpus.text)
    questions = set(task.test.text)
    assert not any(question in passage for question in questions for passage in passages)
    assert passages and all(len(passage.split()) >= 8 for passage in passages)
    assert task.corpus.id.is_unique


def test_sizes_fit_the_demo_grids(task, full_task):
    from core.config import parse_config
    from core.task.scenarios import demo_config

    quick = parse_config(demo_config("geo-qa", quick=True))
    assert quick.task.kind == "qa" and quick.size_unit == "total" and quick.task.builtin_options == {"quick": True}
    assert max(quick.sizes) <= len(task.train) and 50 <= len(task.test) <= 80
    full = parse_config(demo_config("geo-qa"))
    assert max(full.sizes) <= len(full_task.train) and full.seeds == [0, 1, 2]
    assert validate_qa_task(full_task, sizes=full.sizes).ok


@pytest.mark.parametrize("options, named", [({"per_country": 5}, "per_country"), ({"countries": ["XX"]}, "XX"),
                                            ({"paraphrases": 0}, "paraphrases"),
                                            ({"covered_share": 1.5}, "covered_share"),
                                            ({"countries": ["AD"]}, "AD has")])
def test_bad_options_are_named(options, named):
    with pytest.raises(ConfigError, match=named):
        build_scenario("geo-qa", **options)
