"""What several methods' fits on a decoder LLM share: the prompt's instruction, the training pairs, a retriever
over the corpus, LoRA wrapping, supervised fine-tuning and the predictor every fit returns.

Each method's own decoder fit is in its module (core/methods/lora.py's fit_decoder, ...) and is built from
these pieces; the registry stays light because those fits import this module (and torch) only when they run.
"""

from __future__ import annotations

import torch
from transformers import set_seed

from core.backbone.lm import LanguageModel
from core.backbone.prompts import (
    ABSTAIN_CLAUSE,
    ABSTAIN_WITH_PASSAGES,
    CLASSIFY_INSTRUCTION,
    QA_INSTRUCTION,
    PromptBuilder,
    PromptParts,
    shorten,
)
from core.errors import ConfigError
from core.methods.base import FitContext
from core.methods.decoder.predictors import DecoderPredictor, Retriever
from core.training.sft import Example, train_decoder


def frozen_dtype(ctx: FitContext) -> torch.dtype:
    """Weights that do not train are kept in bf16 where bf16 runs natively: measured on 2 cores, a SmolLM2
    forward takes half the time of fp32 weights under bf16 autocast. Trained weights stay fp32 (autocast)."""
    return torch.bfloat16 if ctx.base.autocast_dtype == torch.bfloat16 else torch.float32


def instruction(ctx: FitContext, passages: bool = False) -> str:
    """The system instruction: the user's (llm.instruction), or adaptlab's for the task kind; with passages in the
    prompt, abstaining refers to them."""
    settings = ctx.config.llm
    if settings.instruction:
        return settings.instruction.replace("{labels}", ", ".join(ctx.labels))
    if ctx.kind == "classification":
        return CLASSIFY_INSTRUCTION.format(labels=", ".join(ctx.labels))
    if not settings.allow_abstain:
        return QA_INSTRUCTION
    return QA_INSTRUCTION + (ABSTAIN_WITH_PASSAGES if passages else ABSTAIN_CLAUSE)


def _lm_and_prompts(ctx: FitContext, model: torch.nn.Module) -> tuple[LanguageModel, PromptBuilder]:
    base, settings = ctx.base, ctx.config
    lm = LanguageModel(model, base.tokenizer, base.device, base.autocast_dtype,
                       batch_size=settings.training.eval_batch_size, max_new_tokens=settings.llm.max_new_tokens)
    return lm, PromptBuilder(base.tokenizer, base.max_length - settings.llm.max_new_tokens)


def answering(ctx: FitContext, model: torch.nn.Module) -> DecoderPredictor:
    """The model as it is now, asked closed-book as the fitted run will be (no shots, no retrieval), and unlike
    predictor() leaving its weights trainable: the known/unknown checkpoints during training."""
    lm, prompts = _lm_and_prompts(ctx, model)
    return DecoderPredictor(lm, prompts, ctx.kind, instruction(ctx), list(ctx.labels),
                            max_input_tokens=ctx.config.model.max_length)


def epoch_end(ctx: FitContext, model: torch.nn.Module, retriever: Retriever | None = None):
    """The loop's epoch-end callback where the run measures known and Unknown facts across epochs (closed-book
    fits only: with retrieval the base model's closed-book categories do not describe what it is asked)."""
    if ctx.epoch_checkpoints is None or retriever is not None:
        return None
    return ctx.epoch_checkpoints.hook(lambda: answering(ctx, model))


def predictor(ctx: FitContext, model: torch.nn.Module, shots=(), retriever: Retriever | None = None,
              details: dict | None = None, shot_picker=None) -> DecoderPredictor:
    base, settings = ctx.base, ctx.config
    model.to(base.device).eval()
    lm, prompts = _lm_and_prompts(ctx, model)
    total = sum(p.numel() for p in model.parameters())
    if retriever is not None and retriever.embedder is not None:  # BM25 alone embeds nothing
        total += sum(p.numel() for p in retriever.embedder.base.encoder().parameters())
    if retriever is not None:
        total += retriever.details.get("reranker_parameters", 0)
    told = instruction(ctx, passages=retriever is not None)
    facts = {"prompt_format": "chat template" if prompts.chat else "plain (the model has no chat template)",
             "instruction": told, "shots": len(shots), **(details or {})}
    if retriever is not None:
        facts.update(retriever=retriever.embedder.base.name if retriever.embedder is not None else "BM25 (bm25s)",
                     passages_indexed=len(retriever.ids), k=retriever.k, **retriever.details)
    for param in model.parameters():
        param.requires_grad_(False)
    limit = settings.model.max_length
    shots = list(zip(shorten(base.tokenizer, [q for q, _ in shots], limit), [a for _, a in shots]))
    if shot_picker is not None:  # the examples shown per question, cut as fixed shots are
        pool = shot_picker.pool
        shot_picker.pool = list(zip(shorten(base.tokenizer, [q for q, _ in pool], limit), [a for _, a in pool]))
    # trainable parameters: 0 here; the fine-tuning methods set what they trained
    return DecoderPredictor(lm, prompts, ctx.kind, told, list(ctx.labels), list(shots), retriever,
                            0, total, facts, max_input_tokens=settings.model.max_length, shot_picker=shot_picker)


def training_pairs(ctx: FitContext) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(question, answer, context) for the run's training subset and the validation split.

    The answer is the label's name for classification, the reference answer for QA."""
    def pairs(texts, labels, frame):
        if ctx.kind == "classification":
            answers = [ctx.labels[i] for i in labels]
        else:
            answers = frame.label.tolist()
        contexts = frame.context.tolist() if frame is not None and "context" in frame else [""] * len(texts)
        return list(zip(texts, answers, contexts))

    return (pairs(ctx.train_texts, ctx.train_labels, ctx.train_frame),
            pairs(ctx.val_texts, ctx.val_labels, ctx.val_frame))


def build_retriever(ctx: FitContext) -> Retriever:
    """The search rag.retriever names (FAISS over the retrieval encoder's embeddings, BM25, or both fused), over
    corpus passages and, for classification, labelled examples; reranked when rag.reranker names a cross-encoder."""
    from core.backbone.retrieval import build_search, load_reranker
    from core.backbone.vector_index import build_index

    if ctx.retrieval is None:
        raise ConfigError("retrieval needs a retrieval encoder; set llm.retriever (default: the built-in encoder)")
    passages, ids = [], []
    limit = passage_tokens(ctx)
    tokenizer = ctx.base.tokenizer
    if ctx.corpus is not None and len(ctx.corpus):
        passages += shorten(tokenizer, ctx.corpus.text.tolist(), limit)
        ids += ctx.corpus["id"].astype(str).tolist() if "id" in ctx.corpus else [f"c{i}" for i in
                                                                                  range(len(ctx.corpus))]
    if ctx.kind == "classification" and ctx.config.rag.source != "corpus":
        train, _ = training_pairs(ctx)
        texts = shorten(tokenizer, [text for text, _, _ in train], limit)  # the label line stays whole
        passages += [f"Text: {text}\nLabel: {label}" for text, (_, label, _) in zip(texts, train)]
        ids += [f"t{i}" for i in range(len(train))]
    if not passages:
        raise ConfigError("RAG on an LLM needs passages to retrieve: give the task a corpus (task.corpus), "
                          "or, for classification, training examples")
    settings = ctx.config.rag
    reranker = load_reranker(settings.reranker, str(ctx.base.device)) if settings.reranker else None
    dense = settings.retriever != "bm25"
    index = build_index(ctx.retrieval.encode(passages), settings.index, settings.approximate_above) if dense else None
    named = ctx.corpus["document"].astype(str).tolist() if ctx.corpus is not None and "document" in ctx.corpus else []
    documents = named + [""] * (len(passages) - len(named)) if named else []
    retriever = Retriever(ctx.retrieval if dense else None,
                          build_search(settings.retriever, passages, ctx.retrieval, index, reranker),
                          passages, ids, settings.k, documents, passage_tokens=limit)
    if settings.retriever != "dense" or reranker is not None:  # today's dense records stay as they were
        retriever.details = {"retrieval": settings.retriever, "reranker": settings.reranker,
                             "reranker_parameters": sum(p.numel() for p in reranker.parameters()) if reranker else 0}
    return retriever


def passage_tokens(ctx: FitContext) -> int:
    """How much of a passage the prompt carries: rag.passage_tokens, or what the model reads of any input
    (model.max_length, as questions and shots are cut). Fortunes' labelled examples run to 200 tokens, and eight
    of them made RAG's prompts 460 tokens long."""
    return ctx.config.rag.passage_tokens or ctx.config.model.max_length


def with_lora(ctx: FitContext, model: torch.nn.Module) -> torch.nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    settings = ctx.config.lora
    targets = settings.target_modules or "all-linear"  # every linear projection, as QLoRA's authors recommend
    rank, alpha = ctx.lora_rank_and_alpha()  # the search's rank under `tuning`
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=rank, lora_alpha=alpha, lora_dropout=settings.dropout,
                        target_modules=targets)
    # the adapters train in fp32 over a frozen base that may be bf16 (peft's autocast_adapter_dtype)
    return get_peft_model(model, config, autocast_adapter_dtype=True)


def sft_examples(ctx: FitContext, prompts: PromptBuilder, rows, retriever: Retriever | None = None) -> list[Example]:
    rows = list(rows)
    questions = shorten(ctx.base.tokenizer, [q for q, _, _ in rows], ctx.config.model.max_length)
    rows = [(q, a, c) for q, (_, a, c) in zip(questions, rows)]
    found = retriever.search([q for q, _, _ in rows]) if retriever is not None else [[] for _ in rows]
    told = instruction(ctx, passages=retriever is not None)
    return [Example(prompts.render(PromptParts(told, question,
                                               passages=[retriever.passages[i] for i in hit] if retriever else [],
                                               context=context)), answer)
            for (question, answer, context), hit in zip(rows, found)]


def supervised(ctx: FitContext, model: torch.nn.Module, method: str,
               retriever: Retriever | None = None) -> DecoderPredictor:
    """Fine-tune on the run's training examples (answer tokens only); then predict like `prompt` (or `rag`)."""
    set_seed(ctx.seed)
    prompts = PromptBuilder(ctx.base.tokenizer, ctx.base.max_length - ctx.config.llm.max_new_tokens)
    train, validation = training_pairs(ctx)
    if not train:
        raise ConfigError(f"{method} trains on examples, and this run has none; give it a training-set size")
    details = train_decoder(model, ctx, sft_examples(ctx, prompts, train, retriever),
                            sft_examples(ctx, prompts, validation, retriever), ctx.learning_rate(method),
                            prompts.answer_suffix(), epoch_end(ctx, model, retriever))
    details["train_prompts_cut"] = prompts.cut
    if ctx.train_frame is not None and "knowledge" in ctx.train_frame:  # the known-facts pass ran (QA)
        from core.evaluation.known_facts import trained_on

        details.update(trained_on(ctx.train_frame["knowledge"]))
    return trained(ctx, model, details, retriever)


def trained(ctx: FitContext, model: torch.nn.Module, details: dict,
            retriever: Retriever | None = None) -> DecoderPredictor:
    """A fine-tuned model as a predictor that remembers what it trained (a knowledge update trains that again)."""
    names = {name for name, param in model.named_parameters() if param.requires_grad}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fitted = predictor(ctx, model, retriever=retriever, details=details)
    fitted.trainable_parameters, fitted.trained_names = trainable, names
    return fitted
