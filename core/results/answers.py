"""What each run answered: a QA experiment's test questions and every finished run's answer to each, side by side.

Pure: a stored experiment's task info (`SqlStore.experiment(name)["task"]`) and its runs
(`SqlStore.runs_frame(name, with_predictions=True)`) in, DataFrames out. The dashboard's Answers page
shows exactly this, and a script can read it too::

    experiment = store.experiment(name)
    questions = question_table(experiment["task"])
    answers = answer_table(store.runs_frame(name, with_predictions=True), len(questions))
    answers[answers.question == 3][["method", "size", "seed", "answer", "verdict"]]

A run's record keeps `answers` (one per test question, in order) and, for methods that retrieve,
`retrieved` (per question, passage ids in rank order); its `predictions` are the per-question answer
match 0/1 (core/evaluation/qa.py).
"""

from __future__ import annotations

import pandas as pd

from core.evaluation.metrics import is_abstention, normalize_answer
from core.methods import METHODS
from core.results.text import method_name
from core.task.sizes import size_order

RIGHT, WRONG, ABSTAINED, EMPTY, CUT_OFF = "right", "wrong", "I don't know", "no answer", "cut off"
# a wrong answer of a run stored before runs recorded which answers max_new_tokens cut off: made up, or cut off
# mid-answer, nothing stored tells which (only the mean tokens generated per question was kept, not each answer's)
WRONG_OR_CUT = "wrong or cut off"
MADE_UP = (WRONG, WRONG_OR_CUT)  # the verdicts a "wrong answers only" filter keeps
COVERAGE = {"all": "every question", "covered": "covered by the documents", "uncovered": "not covered"}


def question_table(task_info: dict) -> pd.DataFrame:
    """One row per test question, numbered from 0 as the runs' answers are: text, answer, aliases, options,
    covered (None where the task does not say), passage_id ("" where no passage holds the answer) and source (the
    chunk id or document name the question came from, "" where it does not say)."""
    rows = []
    for number, item in enumerate(task_info.get("questions") or []):
        answer = str(item.get("answer", ""))
        rows.append({"question": number, "text": str(item.get("question", "")), "answer": answer,
                     "aliases": [str(a) for a in item.get("aliases") or [answer]],
                     "options": [str(o) for o in item.get("options") or []],
                     "covered": None if item.get("covered") is None else bool(item["covered"]),
                     "passage_id": str(item.get("passage_id") or ""), "source": _text(item.get("source"))})
    return pd.DataFrame(rows, columns=["question", "text", "answer", "aliases", "options", "covered", "passage_id",
                                       "source"])


def _text(value) -> str:
    return value if isinstance(value, str) else ""  # None, or NaN from a table without it


def source_chunks(source: str, chunks: pd.DataFrame) -> pd.DataFrame:
    """The chunk a question came from (its id is the source), or every chunk of the document the source names."""
    if not source or chunks.empty:
        return chunks.iloc[:0]
    return chunks[(chunks.id.astype(str) == source) | (chunks.document.astype(str) == source)]


def source_ranks(passages: list[str], source: str, chunks: pd.DataFrame) -> list[int]:
    """The ranks (from 1) of the retrieved passages that are the question's source: the chunk itself, or a chunk of
    the document it names (how core/evaluation/retrieval.py counts a hit)."""
    document_of = dict(zip(chunks.id.astype(str), chunks.document.astype(str)))
    return [rank for rank, passage in enumerate(passages, start=1) if source and source in (passage,
                                                                                          document_of.get(passage))]


def passages_with_answer(passage_ids: list[str], passages: dict[str, str], aliases: list[str]) -> list[str]:
    """The passages (of those given) whose text holds an accepted answer as whole words (answer match's rule): how a
    question's coverage is worked out where the task does not mark which passage holds its answer."""
    forms = [form for form in (normalize_answer(alias) for alias in aliases) if form]
    return [passage for passage in passage_ids
            if any(f" {form} " in f" {normalize_answer(passages.get(passage, ''))} " for form in forms)]


def cut_off_recorded(record: dict) -> bool:
    """Whether a run recorded which answers max_new_tokens cut off (`cut_off`, or its `cut_off_rate`): a run stored
    before either cannot tell a cut-off answer from a made-up one, so its wrong answers are WRONG_OR_CUT. The one
    test of it, for the Answers and the Knowledge pages."""
    return "cut_off" in record or "cut_off_rate" in record


def verdict(answer: str, correct: bool, cut_off: bool | None = False) -> str:
    """right; I don't know (an abstention, honest where nothing holds the answer); no answer; cut off (generation
    stopped at max_new_tokens before the answer ended: not an answer made up); wrong; or, where whether it was cut
    off is unknown (cut_off None: a run stored before it was recorded), wrong or cut off."""
    if correct:
        return RIGHT
    if not normalize_answer(answer):
        return EMPTY
    if is_abstention(answer):
        return ABSTAINED
    return WRONG_OR_CUT if cut_off is None else CUT_OFF if cut_off else WRONG


def answer_table(runs: pd.DataFrame, questions: int) -> pd.DataFrame:
    """One row per (finished run that kept its answers, question): method, size, seed, answer, correct, verdict,
    retrieved (passage ids in rank order, or None). Runs in the registry's order, then by size and seed. A run that
    recorded which answers max_new_tokens cut off (`cut_off`) has them as "cut off"; one from before (its record has
    neither `cut_off` nor `cut_off_rate`) cannot tell a cut-off answer from a made-up one: "wrong or cut off"."""
    columns = ["run_key", "method", "size", "seed", "question", "answer", "correct", "verdict", "retrieved"]
    rows = []
    for run in _in_order(runs[runs.status == "finished"]).itertuples():
        record = run.record or {}
        answers, retrieved, cut_off = record.get("answers"), record.get("retrieved"), record.get("cut_off") or []
        recorded = cut_off_recorded(record)  # a run from before: whether one was cut, unknown
        predictions = getattr(run, "predictions", None)
        if not answers or len(answers) != questions or predictions is None or len(predictions) != questions:
            continue  # a run from before answers were kept, or of another test set: nothing to line up
        for number, (answer, hit) in enumerate(zip(answers, predictions)):
            answer = "" if answer is None else str(answer)
            found = retrieved[number] if retrieved and number < len(retrieved) else None
            rows.append({"run_key": run.run_key, "method": run.method, "size": run.size, "seed": run.seed,
                         "question": number, "answer": answer, "correct": bool(hit),
                         "verdict": verdict(answer, bool(hit), number < len(cut_off) and bool(cut_off[number])
                                            if recorded else None),
                         "retrieved": None if found is None else [str(p) for p in found]})
    return pd.DataFrame(rows, columns=columns)


def questions_to_show(questions: pd.DataFrame, answers: pd.DataFrame, coverage: str = "all",
                      wrong_only: bool = False) -> list[int]:
    """Question numbers passing the filters: coverage ("all", "covered", "uncovered"), and, with wrong_only,
    only questions at least one run answered wrongly (an "I don't know" is not a wrong answer)."""
    shown = questions
    if coverage != "all":
        shown = shown[shown.covered.map(lambda c: pd.notna(c) and bool(c) == (coverage == "covered"))]
    if wrong_only:
        missed = set(answers.loc[answers.verdict.isin(MADE_UP), "question"])
        shown = shown[shown.question.isin(missed)]
    return shown.question.tolist()


def right_counts(answers: pd.DataFrame) -> pd.Series:
    """Per question number: how many runs got it right, out of how many ("3 of 12")."""
    if answers.empty:
        return pd.Series(dtype=str)
    grouped = answers.groupby("question").correct
    return grouped.sum().astype(int).astype(str) + " of " + grouped.size().astype(str)


def retrieval_groups(answers: pd.DataFrame) -> list[dict]:
    """The passages retrieved for one question, grouped: runs that retrieved the same list share one entry.

    answers: the rows of answer_table for one question. Each entry: {"runs": "RAG (4 runs), RAG + LoRA (2 runs)"
    (methods by the names a reader reads), "passages": [ids in rank order]}, in the order the runs come."""
    groups: dict[tuple, dict[str, int]] = {}
    for row in answers.itertuples():
        if row.retrieved is None:
            continue
        counts = groups.setdefault(tuple(row.retrieved), {})
        counts[row.method] = counts.get(row.method, 0) + 1
    return [{"runs": ", ".join(f"{method_name(method)} ({n} run{'s' if n > 1 else ''})"
                             for method, n in counts.items()),
             "passages": list(passages)} for passages, counts in groups.items()]


def _in_order(runs: pd.DataFrame) -> pd.DataFrame:
    if runs.empty:
        return runs
    order = {name: i for i, name in enumerate(METHODS)}
    keys = runs.assign(_m=runs.method.map(order), _s=runs["size"].map(size_order))
    return keys.sort_values(["_m", "_s", "seed"]).drop(columns=["_m", "_s"])
