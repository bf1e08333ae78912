"""Questions written by a language model from the chunks (the third source beside the user's and cloze ones).

The model is asked, per chunk and a few times with the fact numbered, for one question and its short answer
on one line (`PROMPT`, editable). A pair is kept only when its answer is supported by its chunk (it appears
there as whole words), the question does not hold the answer, it was not asked already (the same words, or
a question whose embedding is nearly the same: `similarity`), and its chunk has not given `max_per_chunk`.
Like cloze_questions, the report counts what was generated, kept, and dropped for which reason.

    questions = write_questions(chunks, "smollm2")         # loads the model, writes, embeds with the default encoder
    questions = document_questions(chunks, spec.documents.questions, seed=0)   # the source a config names
    # or with any writer: prompts -> replies, texts -> unit vectors
    questions = llm_questions(chunks, write, embed=embed)

What a model wrote is kept under ADAPTLAB_HOME/questions, keyed by the model's weights and the prompts: every
process that loads the task (a packed grid's, an estimate, a resumed run) asks the same questions without
writing them again, and a task's fingerprint does not change between loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.errors import ConfigError, ModelLoadError
from core.paths import adaptlab_home
from core.task.document_settings import QuestionsSpec, check_prompt
from core.task.questions import (
    NEAR_DUPLICATE,
    QUESTION_COLUMNS,
    QuestionSet,
    check_chunks,
    cloze_questions,
    normalize_answer,
)

PROMPT = ("Read the passage, then write question {n} about one fact it states, with the answer: a few words "
          "copied from the passage. Reply on one line as: Question: <question> Answer: <answer>\n\n"
          "Passage:\n{passage}\n")
MAX_NEW_TOKENS = 64  # a question and a short answer; a model that runs on is cut here and its reply read as it is
BATCH_SIZE = 16  # prompts generated together
SIMILARITY = 0.9  # cosine similarity of two questions' embeddings above which they ask the same thing
PAIR = re.compile(r"question\s*\d*\s*[:：]\s*(?P<question>.+?)\s*answer\s*[:：]\s*(?P<answer>.+)", re.IGNORECASE)
REASONS = {
    "unreadable reply": "the reply is not a question and an answer",
    "answer not in its chunk": "the answer is not in its chunk (not supported)",
    "answer in question": "the answer is readable in the question",
    "duplicate": "the same question was asked already",
    "near duplicate": "a question that means nearly the same was asked already",
    "over per-chunk limit": "its chunk gave max_per_chunk questions already",
}


def llm_questions(chunks: pd.DataFrame, write: Callable[[list[str]], list[str]], prompt: str = PROMPT,
                  max_per_chunk: int = 2, attempts: int | None = None,
                  embed: Callable[[list[str]], np.ndarray] | None = None, similarity: float = SIMILARITY,
                  progress: Callable[[int, int, int, dict], None] | None = None) -> QuestionSet:
    """Question and answer pairs written by `write` (prompts -> replies) for each chunk, filtered as above.

    attempts: prompts per chunk (default max_per_chunk + 1, so a dropped pair can be replaced); embed: texts
    -> unit vectors for near-duplicates by meaning (without it, by shared words); progress(chunks done, chunks,
    kept, dropped by reason): called as each group of chunks is written and filtered (a worker job's progress)."""
    check_chunks(chunks, max_per_chunk)
    attempts = attempts or max_per_chunk + 1
    keeper = _Keeper(max_per_chunk, similarity)
    step = max(1, BATCH_SIZE // attempts)  # chunks per write: one batch of prompts, filtered and reported as it comes
    if progress is not None:
        progress(0, len(chunks), 0, {})
    for start in range(0, len(chunks), step):
        group = chunks.iloc[start:start + step]
        prompts = [prompt.format(passage=text, n=n + 1) for text in group.text for n in range(attempts)]
        replies = list(write(prompts))
        if len(replies) != len(prompts):
            raise ValueError(f"{len(replies)} replies for {len(prompts)} prompts")
        pairs = [parse_pair(reply) for reply in replies]
        vectors = embed([pair[0] if pair else "" for pair in pairs]) if embed is not None else None
        for position, chunk in enumerate(group.itertuples(index=False)):
            here = slice(position * attempts, (position + 1) * attempts)
            keeper.add(chunk, pairs[here], None if vectors is None else vectors[here])
        if progress is not None:
            progress(min(start + step, len(chunks)), len(chunks), len(keeper.rows), dict(keeper.dropped))
    frame = pd.DataFrame(keeper.rows, columns=list(QUESTION_COLUMNS))
    report = {"chunks": len(chunks), "generated": len(chunks) * attempts, "kept": len(frame),
              "dropped": dict(sorted(keeper.dropped.items())),
              "reasons": {r: REASONS[r] for r in sorted(keeper.dropped)}, "max_per_chunk": max_per_chunk,
              "attempts": attempts}
    return QuestionSet(frame, report)


class _Keeper:
    """The pairs kept so far, chunk by chunk, and why the others were dropped."""

    def __init__(self, max_per_chunk: int, similarity: float):
        self.max_per_chunk, self.similarity = max_per_chunk, similarity
        self.rows: list[dict] = []
        self.dropped: Counter = Counter()
        self.asked: set[str] = set()
        self.kept_words: list[set[str]] = []
        self.kept_vectors: list[np.ndarray] = []

    def add(self, chunk, pairs: list, vectors) -> None:
        kept_here = 0
        for index, pair in enumerate(pairs):
            reason = _unsupported(pair, chunk.text)
            if reason is None and kept_here == self.max_per_chunk:
                reason = "over per-chunk limit"
            if reason is None:
                key = normalize_answer(pair[0])
                vector = vectors[index] if vectors is not None else None
                reason = "duplicate" if key in self.asked else _near(key, vector, self.kept_words, self.kept_vectors,
                                                                      self.similarity)
            if reason:
                self.dropped[reason] += 1
                continue
            self.asked.add(key)
            self.kept_words.append(set(key.split()))
            if vector is not None:
                self.kept_vectors.append(vector)
            kept_here += 1
            self.rows.append({"question": pair[0], "answer": pair[1], "aliases": [pair[1]], "source": str(chunk.id),
                              "origin": "llm"})


def document_questions(chunks: pd.DataFrame, settings: QuestionsSpec, seed: int = 0,
                       device: str | None = None) -> QuestionSet:
    """The questions a documents task asks when it brings no QA file, from the source its settings name (cloze
    questions, or written by settings.model); seed: the cloze sentences' draw when settings.seed is not set."""
    if settings.source == "cloze":
        return cloze_questions(chunks, settings.max_per_chunk, seed if settings.seed is None else settings.seed)
    if settings.model is None:
        raise ConfigError("task.documents.questions: source llm needs the model that writes the questions; set "
                          "questions.model (e.g. smollm2) or model.name in the config")
    return write_questions(chunks, settings.model, prompt=settings.prompt or PROMPT,
                           max_per_chunk=settings.max_per_chunk, device=device)


def write_questions(chunks: pd.DataFrame, model: str, *, prompt: str = PROMPT, max_per_chunk: int = 2,
                    device: str | None = None, encoder: str = "default",
                    progress: Callable[[int, int, int, dict], None] | None = None) -> QuestionSet:
    """Question and answer pairs written by `model` (smollm2, a Hub id or a local folder, loaded as every model is:
    safetensors only, inside ADAPTLAB_MODEL_ROOTS) for each chunk: greedy, batched, short; near-duplicates found by
    the `encoder`'s embeddings; filtered and reported as llm_questions does. Decoding is greedy, so no seed: the
    same chunks, model and prompt give the same questions (the replies read back from the cache after the first
    time)."""
    from core.backbone.embeddings import encode_texts
    from core.backbone.lm import LanguageModel
    from core.backbone.models import BaseModel

    try:
        check_prompt(prompt)
    except ValueError as problem:
        raise ConfigError(str(problem)) from None
    check_chunks(chunks, max_per_chunk)
    base = BaseModel.load(model, device=device or "auto")
    if base.family != "decoder":
        raise ModelLoadError(f"{model} is a sentence encoder ({base.config.model_type}) and cannot write questions; "
                             "name a language model, such as smollm2 or a larger instruct model on a GPU")
    chat = bool(getattr(base.tokenizer, "chat_template", None))
    lm = None  # loaded only when a reply is not in the cache

    def write(prompts: list[str]) -> list[str]:
        nonlocal lm
        # an instruct model reads the request as its user's turn; a question and its answer may take two lines
        framed = [base.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                     add_generation_prompt=True) if chat else text for text in prompts]
        key = _replies_key(base, framed)
        replies = _read_replies(key, len(framed))
        if replies is None:
            lm = lm or LanguageModel(base.causal_lm(), base.tokenizer, base.device, base.autocast_dtype,
                                     batch_size=BATCH_SIZE, max_new_tokens=MAX_NEW_TOKENS)
            replies = lm.generate(framed, first_line=False)[0]
            _write_replies(key, replies)
        return replies

    embedder = BaseModel.load(encoder, device=str(base.device))
    questions = llm_questions(chunks, write, prompt, max_per_chunk, embed=lambda texts: encode_texts(embedder, texts),
                              progress=progress)
    questions.report.update(model=base.name, max_new_tokens=MAX_NEW_TOKENS, chat_template=chat)
    return questions


# The model's replies are cached, not the questions kept from them: the filter runs again on every load, so a
# change to it applies at once, while the writing (minutes on a CPU) is done once per model, prompt and chunk.
def _replies_key(base, prompts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([base.name, base.fingerprint, MAX_NEW_TOKENS]).encode())
    for prompt in prompts:
        digest.update(prompt.encode() + b"\x1e")
    return digest.hexdigest()[:32]


def _read_replies(key: str, count: int) -> list[str] | None:
    try:
        replies = json.loads((adaptlab_home() / "questions" / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet, or damaged: written again
    return replies if isinstance(replies, list) and len(replies) == count else None


def _write_replies(key: str, replies: list[str]) -> None:
    folder = adaptlab_home() / "questions"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{key}.{os.getpid()}.part"
        partial.write_text(json.dumps(list(replies)), encoding="utf-8")
        partial.replace(folder / f"{key}.json")  # whole or not at all: another process may be reading it
    except OSError:
        pass  # a full or read-only disk costs writing them again next time, not the questions


def parse_pair(reply: str) -> tuple[str, str] | None:
    """(question, answer) from "Question: ... Answer: ..." or {"question": ..., "answer": ...}; None if neither."""
    text = str(reply).strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
            question, answer = str(record["question"]).strip(), str(record["answer"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError):
            return None
    else:
        match = PAIR.search(text)
        if match is None:
            return None
        question, answer = match["question"].strip(), match["answer"].strip().rstrip(".")
    if re.match(r"(question\b|```|~~~)", answer, re.IGNORECASE):
        return None  # "Answer:" left empty, then the next question or a code fence: SmolLM2 writes both
    return (question, answer) if normalize_answer(question) and normalize_answer(answer) else None


def _unsupported(pair: tuple[str, str] | None, passage: str) -> str | None:
    if pair is None:
        return "unreadable reply"
    answer = normalize_answer(pair[1])
    if f" {answer} " not in f" {normalize_answer(passage)} ":
        return "answer not in its chunk"  # a model that adds facts of its own writes answers no chunk supports
    if f" {answer} " in f" {normalize_answer(pair[0])} ":
        return "answer in question"
    return None


def _near(key: str, vector: np.ndarray | None, kept_words: list[set[str]], kept_vectors: list[np.ndarray],
          similarity: float) -> str | None:
    if vector is not None:
        if kept_vectors and float(np.max(np.stack(kept_vectors) @ vector)) >= similarity:
            return "near duplicate"
        return None
    words = set(key.split())
    if any(len(words & other) / len(words | other) >= NEAR_DUPLICATE for other in kept_words):
        return "near duplicate"
    return None
