"""`kaomoji`: which emotion a kaomoji shows, from its characters alone (distant domain).

English pretraining knows little of these symbols, so this is where transfer may help less than
training from scratch. Built deterministically from the PyPI package `kaomoji-dataset` (CC BY 4.0).

Which categories, and why: only the package's `core` tier (the characters alone; the other tiers
mix in words such as アリガトー that would give the label away), and only the emotion categories
with at least 200 core kaomoji, so 128 per class can train with a test set left over: happy, sad,
angry, surprised, shy, love, sleepy. `uncategorized` and `special` are left out (no emotion), and
so are gesture categories (greeting, fight, dance), which are about actions, not feelings.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from core.errors import DataError
from core.schema import Count, Seed
from core.task.data import Task, normalize_text, stratified_split

CATEGORIES = ("happy", "sad", "angry", "surprised", "shy", "love", "sleepy")
# The grid `adaptlab demo kaomoji` runs: every method, sizes per class, three seeds.
DEMO_GRID = {"sizes": [8, 32, 128], "seeds": [0, 1, 2]}
# `adaptlab demo kaomoji --model smollm2`: every run prompts or fine-tunes an LLM, so on a CPU the test set
# is smaller (100 texts), the sizes stop at 32 per class and few-shot prompts show at most 8 examples
LLM_DEMO_GRID = {"sizes": [8, 32], "seeds": [0, 1, 2], "task": {"builtin_options": {"per_class": 80}},
                 "llm": {"max_shots": 8}}
CARD = {
    "name": "kaomoji",
    "title": "Kaomoji emotions",
    "source": "PyPI package kaomoji-dataset (fontvibe kaomoji collection)",
    "licence": "CC BY 4.0 (attribution: fontvibe.ai kaomoji dataset)",
    "labels": list(CATEGORIES),
    "probes": "distant domain: symbol sequences English pretraining rarely saw; may show negative transfer. Read "
              "it with the tokenizer in mind: the default model's tokenizer maps about 23% of kaomoji tokens to "
              "[UNK], and 60 of the 279 test kaomoji then read exactly like one with another label, so every method "
              "that reads those tokens (prompt, RAG, probe, LoRA, full, and from scratch on the same tokenizer) is "
              "capped there; TF-IDF's character n-grams are not. A gap to TF-IDF there says more about the "
              "tokenizer than about pretraining: compare the pretrained methods with scratch, which shares it",
    "built": "core-tier kaomoji of seven emotion categories (each with at least 200), text = the characters only; "
             "kaomoji listed under two categories dropped; at most `per_class` per category with a fixed seed; "
             "stratified 70/10/20 split (so the smallest category, sleepy, still has 128 to train on)",
}


def load_entries() -> list[dict]:
    try:
        import kaomoji_dataset
    except ImportError:
        raise DataError("the kaomoji scenario needs the package kaomoji-dataset: pip install kaomoji-dataset") from None
    return kaomoji_dataset.all()


def build(per_class: Count = 200, seed: Seed = 0) -> Task:
    entries = [e for e in load_entries() if e.get("tier") == "core" and e.get("category") in CATEGORIES]
    frame = pd.DataFrame({"text": [e["text"].strip() for e in entries], "label": [e["category"] for e in entries]})
    frame = frame[frame.text != ""].drop_duplicates()
    frame = frame[~frame.text.map(normalize_text).duplicated(keep=False)]  # one kaomoji, two emotions: ambiguous
    frame = pd.concat([group.sample(min(len(group), per_class), random_state=seed)
                       for _, group in frame.groupby("label")], ignore_index=True)
    frame["row"] = range(1, len(frame) + 1)
    splits = stratified_split(frame, validation_fraction=0.10, test_fraction=0.20, seed=seed)
    digest = hashlib.sha256("\n".join(sorted(f"{t}\t{l}" for t, l in zip(frame.text, frame.label))).encode())
    return Task(name="kaomoji", **{k: v.reset_index(drop=True) for k, v in splits.items()},
                provenance={"scenario": CARD, "sources": [{"file": "kaomoji_dataset/data/kaomoji.jsonl.gz"}],
                            "sha256": digest.hexdigest(), "options": {"per_class": per_class, "seed": seed}})
