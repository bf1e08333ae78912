"""Questions written by a language model from the chunks (the third source beside the user's and cloze ones).

The model is asked, per chunk and a few times with the fact numbered, for one question and its short answer
(`PROMPT`, editable; one worked example before the passage). Its reply is begun for it with "Question:", and the
question and the answer are each one line, stopped at its line break. A pair is kept only when its answer is
supported by its chunk (it appears there as whole words; an answer that is not, but whose longest run of words in
the chunk is most of it, is cut to that run: core/task/llm_questions_spans.py), the question does not hold the
answer, it was not asked already (the same words, or a question whose embedding is nearly the same: `similarity`),
and its chunk has not given `max_per_chunk`. A dropped pair is written once more, sampled (RETRY_TEMPERATURE). Like
cloze_questions, the report counts what was generated (retries included), kept, and dropped for which reason.

A 135M model (the built-in SmolLM2) writes few usable questions even so: bench/llm_question_share.py measures it.
Name a larger instruct model as the question writer (task.documents.questions.model, a Hub id or a local folder),
on a GPU.

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
from core.task.llm_questions_spans import supported_span
from core.task.questions import (
    NEAR_DUPLICATE,
    QUESTION_COLUMNS,
    QuestionSet,
    check_chunks,
    cloze_questions,
    normalize_answer,
)

# One worked example before the passage: a 135M model copies the shape it is shown far more often than it follows a
# description of it. It comes first so every prompt shares it (the language model computes a shared start once).
PROMPT = ("Write a question about one fact in a passage, and its answer: a few words copied from the passage.\n\n"
          "Passage:\nThe library closes at six on Fridays. Members may borrow up to five books at a time.\n"
          "Question: How many books may a member borrow at a time?\nAnswer: five books\n\n"
          "Passage:\n{passage}\n\nWrite question {n} about this passage.")
QUESTION_TOKENS = 48  # the question's line; its end (a line break) stops the writing before this
ANSWER_TOKENS = 16  # the answer's line: a few words
MAX_NEW_TOKENS = QUESTION_TOKENS + ANSWER_TOKENS  # what one reply may hold in all
BATCH_SIZE = 16  # prompts generated together
RETRY_TEMPERATURE = 0.8  # a dropped pair is written once more, sampled: greedy would write the same pair again
RETRY_SEED = 26  # the retries' samples are drawn from this seed, so the same chunks give the same questions
SIMILARITY = 0.9  # cosine similarity of two questions' embeddings above which they ask the same thing
PAIR = re.compile(r"question\s*\d*\s*[:：]\s*(?P<question>.+?)\s*answer\s*[:：]\s*(?P<answer>.+)", re.IGNORECASE)
RETRIED = ("unreadable reply", "answer not in its chunk", "answer in question", "duplicate", "near duplicate")
REASONS = {
    "unreadable reply": "the reply is not a question and an answer",
    "answer not in its chunk": "the answer is not in its chunk (not supported)",
    "answer in question": "the answer is readable in the question",
    "duplicate": "the same question was asked already",
    "near duplicate": "a question that means nearly the same was asked already",
    "over per-chunk limit": "its chunk gave max_per_chunk questions already",
}


def llm_questions(chunks: pd.DataFrame, write: Callable[..., list[str]], prompt: str = PROMPT,
                  max_per_chunk: int = 2, attempts: int | None = None,
                  embed: Callable[[list[str]], np.ndarray] | None = None, similarity: float = SIMILARITY,
                  progress: Callable[[int, int, int, dict], None] | None = None,
                  retry_temperature: float | None = None) -> QuestionSet:
    """Question and answer pairs written by `write` (prompts -> replies) for each chunk, filtered as above.

    attempts: prompts per chunk (default max_per_chunk + 1, so a dropped pair can be replaced); embed: texts
    -> unit vectors for near-duplicates by meaning (without it, by shared words); progress(chunks done, chunks,
    kept, dropped by reason): called as each group of chunks is written and filtered (a worker job's progress);
    retry_temperature: a prompt whose pair was dropped (RETRIED reasons) while its chunk still gives fewer than
    max_per_chunk is written once more by write(prompts, temperature=retry_temperature)."""
    check_chunks(chunks, max_per_chunk)
    attempts = attempts or max_per_chunk + 1
    keeper = _Keeper(max_per_chunk, similarity)
    step = max(1, BATCH_SIZE // attempts)  # chunks per write: one batch of prompts, filtered and reported as it comes
    if progress is not None:
        progress(0, len(chunks), 0, {})
    for start in range(0, len(chunks), step):
        group = list(chunks.iloc[start:start + step].itertuples(index=False))
        asks = [(chunk, prompt.format(passage=chunk.text, n=n + 1)) for chunk in group for n in range(attempts)]
        again = keeper.add(asks, _written(write, [text for _, text in asks], embed))
        if retry_temperature is not None:
            again = [(chunk, text) for chunk, text in again if keeper.wanted(chunk)]
            if again:
                keeper.add(again, _written(write, [text for _, text in again], embed, temperature=retry_temperature))
        if progress is not None:
            progress(min(start + step, len(chunks)), len(chunks), len(keeper.rows), dict(keeper.dropped))
    frame = pd.DataFrame(keeper.rows, columns=list(QUESTION_COLUMNS))
    report = {"chunks": len(chunks), "generated": keeper.generated, "kept": len(frame),
              "dropped": dict(sorted(keeper.dropped.items())),
              "reasons": {r: REASONS[r] for r in sorted(keeper.dropped)}, "max_per_chunk": max_per_chunk,
              "attempts": attempts, "retried": keeper.generated - len(chunks) * attempts,
              "answers_cut_to_the_chunk": keeper.cut}
    return QuestionSet(frame, report)


def _written(write, prompts: list[str], embed, **options) -> tuple[list, np.ndarray | None]:
    """The pairs `write` replied to the prompts, and their questions' embeddings (None without `embed`)."""
    replies = list(write(prompts, **options))
    if len(replies) != len(prompts):
        raise ValueError(f"{len(replies)} replies for {len(prompts)} prompts")
    pairs = [parse_pair(reply) for reply in replies]
    return pairs, (embed([pair[0] if pair else "" for pair in pairs]) if embed is not None else None)


class _Keeper:
    """The pairs kept so far, chunk by chunk, and why the others were dropped."""

    def __init__(self, max_per_chunk: int, similarity: float):
        self.max_per_chunk, self.similarity = max_per_chunk, similarity
        self.rows: list[dict] = []
        self.dropped: Counter = Counter()
        self.kept_by_chunk: Counter = Counter()
        self.generated = self.cut = 0
        self.asked: set[str] = set()
        self.kept_words: list[set[str]] = []
        self.kept_vectors: list[np.ndarray] = []

    def wanted(self, chunk) -> bool:
        return self.kept_by_chunk[str(chunk.id)] < self.max_per_chunk

    def add(self, asks: list[tuple], written: tuple[list, np.ndarray | None]) -> list[tuple]:
        """Keep or drop each pair (asks: (chunk, prompt) in the order written); returns the asks dropped for a RETRIED
        reason, which a second try may mend."""
        pairs, vectors = written
        self.generated += len(pairs)
        again = []
        for index, ((chunk, text), pair) in enumerate(zip(asks, pairs)):
            pair = self._answer_from_chunk(pair, chunk.text)
            reason = _unsupported(pair, chunk.text)
            if reason is None and not self.wanted(chunk):
                reason = "over per-chunk limit"
            if reason is None:
                key = normalize_answer(pair[0])
                vector = vectors[index] if vectors is not None else None
                reason = "duplicate" if key in self.asked else _near(key, vector, self.kept_words, self.kept_vectors,
                                                                      self.similarity)
            if reason:
                self.dropped[reason] += 1
                again += [(chunk, text)] if reason in RETRIED else []
                continue
            self.asked.add(key)
            self.kept_words.append(set(key.split()))
            if vector is not None:
                self.kept_vectors.append(vector)
            self.kept_by_chunk[str(chunk.id)] += 1
            self.rows.append({"question": pair[0], "answer": pair[1], "aliases": [pair[1]], "source": str(chunk.id),
                              "origin": "llm"})
        return again

    def _answer_from_chunk(self, pair: tuple[str, str] | None, passage: str) -> tuple[str, str] | None:
        """The pair with its answer cut to the chunk's words it points at, when it is not in the chunk as written."""
        if pair is None or _unsupported(pair, passage) != "answer not in its chunk":
            return pair
        span = supported_span(pair[1], passage)
        if span is None or not normalize_answer(span):
            return pair
        self.cut += 1
        return pair[0], span


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
    safetensors only, inside ADAPTLAB_MODEL_ROOTS) for each chunk: greedy, batched, short, a dropped pair written once
    more sampled at RETRY_TEMPERATURE (from RETRY_SEED); near-duplicates found by the `encoder`'s embeddings; filtered
    and reported as llm_questions does. The same chunks, model and prompt give the same questions (the replies read
    back from the cache after the first time)."""
    from core.backbone.embeddings import encode_texts
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
    writer = _Writer(base, chat)
    embedder = BaseModel.load(encoder, device=str(base.device))
    questions = llm_questions(chunks, writer.write, prompt, max_per_chunk,
                              embed=lambda texts: encode_texts(embedder, texts), progress=progress,
                              retry_temperature=RETRY_TEMPERATURE)
    questions.report.update(model=base.name, max_new_tokens=MAX_NEW_TOKENS, chat_template=chat)
    return questions


class _Writer:
    """Replies from a loaded model: the question's line, then the answer's line, each stopped by its line break."""

    def __init__(self, base, chat: bool):
        self.base, self.chat = base, chat
        self.lm = None  # loaded only when a reply is not in the cache

    def write(self, prompts: list[str], temperature: float = 0.0) -> list[str]:
        # an instruct model reads the request as its user's turn; its reply is begun for it with "Question:", so its
        # first line is the question and nothing before it needs reading
        framed = [(self.base.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                           add_generation_prompt=True) if self.chat else text + "\n")
                  + "Question:" for text in prompts]
        key = _replies_key(self.base, framed, temperature)
        replies = _read_replies(key, len(framed))
        if replies is None:
            replies = self._generate(framed, temperature)
            _write_replies(key, replies)
        return replies

    def _generate(self, framed: list[str], temperature: float) -> list[str]:
        import torch

        from core.backbone.lm import LanguageModel

        base = self.base
        self.lm = self.lm or LanguageModel(base.causal_lm(), base.tokenizer, base.device, base.autocast_dtype,
                                           batch_size=BATCH_SIZE)
        if temperature > 0:
            torch.manual_seed(RETRY_SEED)
        # Two short lines, each ended by its line break (the stop that spares a small model's running on into more
        # questions): the question, sampled on a retry; then its answer, greedy, after "Answer:"
        self.lm.max_new_tokens = QUESTION_TOKENS
        questions = self.lm.generate(framed, temperature=temperature)[0]
        replies = [f"Question: {question}" for question in questions]
        needed = [i for i, question in enumerate(questions) if question and not PAIR.search(replies[i])]
        if needed:
            self.lm.max_new_tokens = ANSWER_TOKENS
            answers = self.lm.generate([f"{framed[i]} {questions[i]}\nAnswer:" for i in needed])[0]
            for i, answer in zip(needed, answers):
                replies[i] += f"\nAnswer: {answer}"
        return replies


# The model's replies are cached, not the questions kept from them: the filter runs again on every load, so a
# change to it applies at once, while the writing (minutes on a CPU) is done once per model, prompt and chunk.
def _replies_key(base, prompts: list[str], temperature: float = 0.0) -> str:
    digest = hashlib.sha256(json.dumps([base.name, base.fingerprint, QUESTION_TOKENS, ANSWER_TOKENS, temperature,
                                        RETRY_SEED]).encode())
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
