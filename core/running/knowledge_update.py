"""The knowledge update, fair to every method: new facts arrive after training, and each method takes them in
the way it can, at a measured cost.

- Retrieval methods index the new documents (no retraining).
- Classifiers that learn from labelled examples are fitted again with the new labelled documents added to
  their training set (a probe in a fraction of a second, a fine-tune in minutes).
- A fine-tuned LLM continues training on the new passages (continued pre-training, the same loop).
- Methods that learn nothing (zero-shot prompts) cannot take facts in: they are scored before only.

The record keeps accuracy on the new facts before and after, how the method took them in, and what that
took in seconds and dollars, outside the run's own train time.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from core.evaluation.measure import dollars


def knowledge_update(method, fitted, ctx, update, labels: list[str], price_per_hour: float) -> dict:
    if ctx.kind == "qa":
        score = _qa_scorer(update)
    else:
        score = _classification_scorer(update, labels)
    before = score(fitted)
    started = time.perf_counter()
    how, after_model = _take_in(method, fitted, ctx, update, labels)
    seconds = time.perf_counter() - started
    after = score(after_model) if after_model is not None else before
    return {"accuracy_before": before, "accuracy_after": after, "examples": len(update.test),
            "updatable": after_model is not None, "how": how,
            "update_seconds": seconds if after_model is not None else None,
            "update_dollars": dollars(seconds, price_per_hour) if after_model is not None else None}


def _take_in(method, fitted, ctx, update, labels: list[str]):
    documents = update.documents
    if getattr(fitted, "retrieves", hasattr(fitted, "add_documents")):
        index = {label: i for i, label in enumerate(labels)}
        ids = documents["id"].astype(str).tolist() if "id" in documents else None
        if ctx.kind == "qa":
            fitted.add_documents(documents.text.tolist(), None, ids)
        else:
            fitted.add_documents(documents.text.tolist(), [index.get(label) for label in documents.label])
        return "indexed the new documents", fitted
    if ctx.kind == "qa":
        if getattr(fitted, "trained_names", None):
            _continue_pretraining(fitted, ctx, documents.text.tolist())
            return "continued training on the new passages", fitted
        return None, None
    if not method.uses_training_data:
        return None, None
    known = [label in labels for label in documents.label]
    if not any(known):
        return None, None
    index = {label: i for i, label in enumerate(labels)}
    kept = documents[known]
    extended = dataclasses.replace(
        ctx, train_texts=[*ctx.train_texts, *kept.text],
        train_labels=np.concatenate([ctx.train_labels, kept.label.map(index).to_numpy()]).astype(int))
    return "fitted again with the new labelled documents", method.fit_for(ctx.base.family)(extended)


def _continue_pretraining(fitted, ctx, passages: list[str]) -> None:
    from core.training.sft import Example, train_decoder

    model = fitted.lm.model
    for name, param in model.named_parameters():
        param.requires_grad_(name in fitted.trained_names)
    examples = [Example("", passage) for passage in passages]
    # new passages are continued pre-training whichever method trained the model: corpus_ft's learning rate (the
    # config's llm table always holds it, its default filled in)
    details = train_decoder(model, ctx, examples, examples[: max(1, len(examples) // 10)],
                            ctx.config.llm.learning_rates["corpus_ft"], ctx.base.tokenizer.eos_token or "")
    for param in model.parameters():
        param.requires_grad_(False)
    fitted.details["update_training"] = {k: details[k] for k in ("steps", "stop_reason", "best_val_loss")}


def _classification_scorer(update, labels: list[str]):
    index = {label: i for i, label in enumerate(labels)}
    texts, truth = update.test.text.tolist(), update.test.label.map(index).to_numpy()
    return lambda fitted: float((fitted.predict_proba(texts).argmax(1) == truth).mean())


def _qa_scorer(update):
    from core.evaluation.metrics import answer_match
    from core.evaluation.qa import column

    questions = update.test.text.tolist()
    aliases = [list(a) if len(a) else [ref] for a, ref in zip(column(update.test, "aliases", []), update.test.label)]
    contexts = column(update.test, "context", "")

    def score(fitted) -> float:
        answers = fitted.answer(questions, contexts)
        return float(np.mean([answer_match(a, refs) for a, refs in zip(answers, aliases)]))

    return score
