"""What a fitted decoder method is: a language model plus how it is prompted (shots, retrieval).

Classification: each label's words are scored after the prompt (log-likelihood), so nothing is
parsed; the generated answer is also read back and parsed, and its accuracy kept beside.
QA: a greedy answer per question, and, where the question has answer options, the option the model
finds most likely (the knowledge score of Ovadia et al.).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.backbone.lm import LanguageModel
from core.backbone.prompts import PromptBuilder, PromptParts, shorten
from core.evaluation.metrics import normalize_answer


@dataclass
class Retriever:
    """Top-k passages of a corpus by the search `rag.retriever` chose (core/backbone/retrieval.py)."""

    embedder: object | None  # core.backbone.embeddings.Embedder over the retrieval encoder (None: BM25 alone)
    engine: object  # a search of core.backbone.retrieval: dense (FAISS), BM25, hybrid, or one of them reranked
    passages: list[str]
    ids: list[str]
    k: int
    documents: list[str] = field(default_factory=list)  # each passage's document where the corpus names it
    details: dict = field(default_factory=dict)  # what the run records about the search (retriever, reranker)
    passage_tokens: int = 0  # passages are cut to this many tokens as they are indexed (0: kept whole)

    def search(self, queries: list[str]) -> list[list[int]]:
        if not queries or not self.passages:
            return [[] for _ in queries]
        return self.engine.search(queries, self.k)

    def add(self, passages: list[str], ids: list[str]) -> None:
        self.engine.add(passages)
        self.passages.extend(passages)
        self.ids.extend(ids)
        if self.documents:
            self.documents.extend([""] * len(passages))


@dataclass
class DecoderPredictor:
    lm: LanguageModel
    prompts: PromptBuilder
    kind: str  # "classification" or "qa"
    instruction: str
    labels: list[str] = field(default_factory=list)
    shots: list[tuple[str, str]] = field(default_factory=list)
    retriever: Retriever | None = None
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)
    trained_names: set[str] = field(default_factory=set)  # the parameters fine-tuning trained (none: prompting)
    max_input_tokens: int = 0  # 0: inputs are never cut (the prompt builder still fits the context)
    last_retrieved: list[list[str]] = field(default_factory=list)  # passage ids per query of the last call
    prompt_tokens: list[int] = field(default_factory=list)
    generated_tokens: list[int] = field(default_factory=list)
    cut_off: list[bool] = field(default_factory=list)  # per question of the last answer(): stopped by max_new_tokens
    # per question shots in place of `shots` (few-shot's similar selection: core/methods/fewshot.py's SimilarShots);
    # the prompts then differ per question and still run in batches (the shared start is the instruction)
    shot_picker: object | None = None

    # ---- prompts -------------------------------------------------------------------------------------
    def render(self, questions: list[str], contexts: list[str] | None = None) -> list[str]:
        contexts = contexts or [""] * len(questions)
        questions = shorten(self.lm.tokenizer, questions, self.max_input_tokens)
        found = self.retriever.search(questions) if self.retriever is not None else [[] for _ in questions]
        self.last_retrieved = [[self.retriever.ids[i] for i in row] for row in found] if self.retriever else []
        shots = self.shot_picker.pick(questions) if self.shot_picker is not None else [self.shots] * len(questions)
        rendered = [self.prompts.render(PromptParts(
            self.instruction, question, shown,
            [self.retriever.passages[i] for i in row] if self.retriever else [], context))
            for question, context, row, shown in zip(questions, contexts, found, shots)]
        self.prompt_tokens = [self.prompts.length(p) for p in rendered]
        return rendered

    # ---- classification ------------------------------------------------------------------------------
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        prompts = self.render(texts)
        scores = np.stack(self.lm.choice_loglikelihoods(prompts, [self.labels] * len(prompts)))
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def generated_labels(self, texts: list[str]) -> list[int | None]:
        """The label the model writes when asked to generate, parsed (None when it names none)."""
        answers, _ = self.lm.generate(self.render(texts))
        by_form = {normalize_answer(label): i for i, label in enumerate(self.labels)}
        parsed = []
        for answer in answers:
            form = normalize_answer(answer)
            hit = by_form.get(form)
            if hit is None:  # "The label is sports." -> the one label named in it, if exactly one
                named = [i for f, i in by_form.items() if f and f in form.split() or (f and f" {f} " in f" {form} ")]
                hit = named[0] if len(set(named)) == 1 else None
            parsed.append(hit)
        return parsed

    # ---- question answering --------------------------------------------------------------------------
    def answer(self, questions: list[str], contexts: list[str] | None = None) -> list[str]:
        answers, generated = self.lm.generate(self.render(questions, contexts))
        self.generated_tokens, self.cut_off = generated, list(self.lm.last_cut_off)
        return answers

    def option_choice(self, questions: list[str], options: list[list[str]],
                      contexts: list[str] | None = None) -> list[int | None]:
        """Index of the most likely option for each question (None for a question without options)."""
        prompts = self.render(questions, contexts)
        # the plain layout ends with "Answer:", after which a word starts with a space
        lead = "" if self.prompts.chat else " "
        scores = self.lm.choice_loglikelihoods(prompts, [[lead + o for o in opts] for opts in options])
        return [int(np.argmax(row)) if len(row) else None for row in scores]

    def latency(self, questions: list[str], contexts: list[str] | None, queries: int) -> dict:
        """Seconds per query answered alone (batch 1): median and 95th percentile over the first `queries` (the
        config's latency_queries; no warm-up query, as batch_one_latency has: the test pass before it warmed up)."""
        contexts = contexts or [""] * len(questions)
        times = []
        for question, context in list(zip(questions, contexts))[:queries]:
            tick = time.perf_counter()
            if self.kind == "qa":
                self.lm.generate(self.render([question], [context]), batch_size=1)
            else:
                self.predict_proba([question])
            times.append(time.perf_counter() - tick)
        return {"latency_p50_ms": float(np.median(times) * 1000), "latency_p95_ms": float(np.percentile(times, 95) *
                                                                                       1000),
                "latency_queries": len(times)} if times else {}

    # ---- new knowledge -------------------------------------------------------------------------------
    def add_documents(self, texts: list[str], labels=None, ids: list[str] | None = None) -> None:
        """Passages that arrive after training, indexed without retraining (retrieval methods only)."""
        if self.retriever is None:
            raise AttributeError("this method does not retrieve: new documents need retraining")
        start = len(self.retriever.ids)
        texts = shorten(self.lm.tokenizer, list(texts), self.retriever.passage_tokens)  # as the first ones were
        self.retriever.add(texts, ids or [f"new{start + i}" for i in range(len(texts))])

    @property
    def retrieves(self) -> bool:
        return self.retriever is not None

    # ---- what a deployment stores --------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        model = self.lm.model
        if self.trainable_parameters:  # peft saves the adapter only; a full or scratch model saves every weight
            model.save_pretrained(folder, safe_serialization=True)
        settings = {"instruction": self.instruction, "shots": self.shots, "labels": self.labels}
        if self.shot_picker is not None:  # the examples each question's shots are chosen from, and how
            settings.update(shot_pool=self.shot_picker.pool, shot_count=self.shot_picker.count)
            self.shot_picker.save(folder)
        (folder / "prompt.json").write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
        if self.retriever is not None:
            self.retriever.engine.save(folder)
            pd.DataFrame({"id": self.retriever.ids, "text": self.retriever.passages}).to_parquet(
                folder / "passages.parquet")
