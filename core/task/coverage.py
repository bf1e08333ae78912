"""How well the base model's tokenizer covers a task's text: a first, cheap hint of domain distance.

    coverage = tokenizer_coverage(task.train.text, load_tokenizer("default"))
    coverage["unknown_rate"], coverage["pieces_per_word"], coverage["verdict"]

A tokenizer maps text it never saw in pretraining to an unknown token (WordPiece, SentencePiece) or
to many short pieces (byte-level BPE). Either way, much of it means the model reads this text
poorly: prompt-only, RAG and the probe (frozen embeddings) will struggle, and training matters more.
Only the tokenizer loads, never the weights, so this runs in a second.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

SAMPLE_TEXTS = 2000  # enough for stable rates on any task; more only costs time
TEXT_CHARS = 20_000  # a text is read this far: a 10 MB text tokenized whole takes gigabytes, and adds nothing
HIGH_UNKNOWN = 0.02  # share of tokens unknown above which frozen-model methods visibly suffer
HIGH_PIECES = 2.0  # subword pieces per word above which the text is far from the pretraining data


def load_tokenizer(model_name: str = "default"):
    """The tokenizer of a base model (default, local folder or cached Hub id), without its weights."""
    from transformers import AutoTokenizer

    from core.backbone.models import _quiet_transformers, refuse_custom_code, resolve_model

    _quiet_transformers()
    _, path = resolve_model(model_name)
    refuse_custom_code(path)
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def tokenizer_coverage(texts, tokenizer, max_length: int | None = None, sample: int = SAMPLE_TEXTS) -> dict:
    """Unknown-token rate, pieces per word, texts cut by max_length, and the words the tokenizer cannot read."""
    texts = [str(t)[:TEXT_CHARS] for t in texts]
    if len(texts) > sample:  # a fixed sample: the same data gives the same report
        texts = [texts[i] for i in sorted(np.random.default_rng(0).choice(len(texts), sample, replace=False))]
    if not texts:
        return {"texts": 0, "tokens": 0, "unknown_rate": 0.0, "texts_with_unknown": 0.0, "pieces_per_word": 0.0,
                "truncated": 0.0, "unknown_words": [], "verdict": "no text to check"}
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    tokens = sum(len(row) for row in ids)
    unknown = [sum(token == unk for token in row) for row in ids] if unk is not None else [0] * len(ids)
    words = [word for text in texts for word in text.split()]
    report = {
        "texts": len(texts),
        "tokens": tokens,
        "unknown_rate": sum(unknown) / max(1, tokens),
        "texts_with_unknown": float(np.mean([n > 0 for n in unknown])),
        "pieces_per_word": tokens / max(1, len(words)),
        "truncated": float(np.mean([len(row) + 2 > max_length for row in ids])) if max_length else 0.0,
        "unknown_words": _unknown_words(words, tokenizer) if unk is not None and sum(unknown) else [],
    }
    report["verdict"] = verdict(report)
    return report


def _unknown_words(words: list[str], tokenizer, shown: int = 10) -> list[tuple[str, int]]:
    """The most frequent whitespace-separated words that contain an unknown token."""
    counts = Counter(words)
    distinct = list(counts)
    ids = tokenizer(distinct, add_special_tokens=False)["input_ids"]
    bad = Counter({word: counts[word] for word, row in zip(distinct, ids) if tokenizer.unk_token_id in row})
    return bad.most_common(shown)


def verdict(report: dict) -> str:
    """One sentence a user can act on."""
    if report["unknown_rate"] > HIGH_UNKNOWN:
        return (f"{report['unknown_rate']:.1%} of tokens are unknown to the base model's tokenizer: this text is far "
                "from what the model was trained on, so prompt-only, RAG and the probe will likely struggle and "
                "training (LoRA, full, or TF-IDF's character n-grams) matters more")
    if report["pieces_per_word"] > HIGH_PIECES:
        return (f"words split into {report['pieces_per_word']:.1f} pieces on average: unusual vocabulary for this "
                "model (a specialised domain, another language, or code); expect adaptation to help")
    return (f"the tokenizer covers this text well ({report['unknown_rate']:.2%} unknown tokens, "
            f"{report['pieces_per_word']:.1f} pieces per word): the base model reads it as familiar text")


def token_collisions(task, tokenizer, max_length: int | None = None) -> dict:
    """Test texts that the tokenizer turns into exactly the token ids of a text with another label.

    Unknown tokens can erase what tells classes apart (two kaomoji that differ only in characters the
    tokenizer maps to [UNK] become one input): no model reading those tokens can tell them apart, whatever
    it learned before, so a low score there says little about transfer."""
    frames = [frame for frame in (task.train, task.validation, task.test) if len(frame)]
    if task.kind != "classification" or not frames:
        return {"test_texts": len(task.test), "colliding": 0, "share": 0.0, "examples": []}
    texts = [str(text) for frame in frames for text in frame.text]
    labels = [label for frame in frames for label in frame.label]
    # what the model reads: the first max_length tokens (a long text is cut before tokenizing, see TEXT_CHARS)
    limit = {"truncation": True, "max_length": max_length} if max_length else {}
    keys = [tuple(row) for row in
            tokenizer([text[:TEXT_CHARS] for text in texts], add_special_tokens=False, **limit)["input_ids"]]
    labels_of: dict[tuple, set] = {}
    for key, label in zip(keys, labels):
        labels_of.setdefault(key, set()).add(label)
    start = len(texts) - len(task.test)
    colliding = [i for i in range(start, len(texts)) if len(labels_of[keys[i]]) > 1]
    examples = [{"text": texts[i], "label": labels[i], "others": sorted(labels_of[keys[i]] - {labels[i]})}
                for i in colliding[:5]]
    return {"test_texts": len(task.test), "colliding": len(colliding),
            "share": len(colliding) / max(1, len(task.test)), "examples": examples}


def tokenizer_report(task, tokenizer, max_length: int | None = None) -> dict:
    """What a review needs to know about how the model reads this task: coverage of the training text and
    the test texts that collide with another label's."""
    return {**tokenizer_coverage(task.train.text, tokenizer, max_length),
            "collisions": token_collisions(task, tokenizer, max_length)}
