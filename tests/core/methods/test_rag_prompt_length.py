"""RAG's prompts on a decoder stay within a bound however long the passages (core/methods/decoder/fits.py cuts each
to rag.passage_tokens, else model.max_length), and the passage that carries the answer is still in them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.backbone.models import BaseModel
from core.config import parse_config

FILLER = " ".join(["the sea and the sky and the weather"] * 40)  # about 300 tokens of nothing useful


@pytest.fixture
def rag_context(tiny_llama, tmp_path):
    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.methods.base import FitContext

    base = BaseModel.load(str(tiny_llama), device="cpu", precision="fp32")
    base.max_length = 2048

    def make(kind="classification", **rag):
        config = parse_config({"name": "tiny-rag", "task": {"builtin": "fortunes"},
                               "model": {"name": str(tiny_llama), "precision": "fp32", "max_length": 48},
                               "sizes": [4], "seeds": [0], "rag": {"retriever": "bm25", "k": 3, **rag},
                               "llm": {"context_length": 2048, "max_new_tokens": 4}})
        # labelled examples whose answer-bearing words open a long text, as fortunes' long ones do
        texts = [f"Zippy the pinhead speaks {FILLER}", f"A limerick has five lines {FILLER}",
                 f"Murphy says anything can go wrong {FILLER}", "short one"]
        corpus = pd.DataFrame({"text": [f"Paris is in France. {FILLER}", f"Rimini is in Italy. {FILLER}"],
                               "label": "", "id": ["p1", "p2"]}) if kind == "qa" else None
        retrieval = Embedder(BaseModel.load("default", device="cpu", max_length=64), EmbeddingCache(tmp_path / "e.db"))
        return FitContext(labels=["zippy", "limerick", "murphy", "other"], train_texts=texts,
                          train_labels=np.array([0, 1, 2, 3]), val_texts=[], val_labels=np.array([], dtype=int),
                          corpus=corpus, base=base, embedder=retrieval, config=config, seed=0, kind=kind,
                          retrieval=retrieval)
    return make


@pytest.mark.parametrize("passage_tokens", [None, 24])
def test_labelled_passages_are_cut_to_what_the_model_reads_and_keep_their_label(rag_context, passage_tokens):
    from core.methods.rag import fit_decoder

    ctx = rag_context(**({"passage_tokens": passage_tokens} if passage_tokens else {}))
    fitted = fit_decoder(ctx)
    limit = passage_tokens or ctx.config.model.max_length
    [prompt] = fitted.render(["Zippy the pinhead speaks again"])
    label_line = len(fitted.lm.tokenizer("\nLabel: limerick", add_special_tokens=False)["input_ids"])
    instruction = len(fitted.lm.tokenizer(fitted.instruction)["input_ids"])
    # the bound: the instruction, k passages of at most `limit` tokens and a label line each, the question, the
    # template's few tokens per part
    bound = instruction + ctx.config.rag.k * (limit + label_line + 8) + 48
    assert fitted.prompt_tokens[0] <= bound < 3 * 300  # whole, the three passages alone would be about 900 tokens
    assert "Zippy the pinhead speaks" in prompt and "Label: zippy" in prompt  # the answer-bearing passage, kept
    assert fitted.last_retrieved[0][0] == "t0"  # ... and still ranked first


def test_a_corpus_passage_is_cut_and_the_one_with_the_answer_kept(rag_context):
    from core.methods.rag import fit_decoder

    ctx = rag_context(kind="qa", k=2, passage_tokens=16)
    fitted = fit_decoder(ctx)
    [prompt] = fitted.render(["Which country is Paris in?"])
    assert "Paris is in France." in prompt
    assert fitted.prompt_tokens[0] < 150  # two passages of 16 tokens, not of 300
    # passages that arrive later are cut the same way
    fitted.add_documents([f"Lyon is in France. {FILLER}"], ids=["p3"])
    assert fitted.retriever.passages[-1].startswith("Lyon is in France.")
    assert len(fitted.lm.tokenizer(fitted.retriever.passages[-1], add_special_tokens=False)["input_ids"]) <= 16
