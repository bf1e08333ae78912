"""Problems in the words of the page that shows them: settings named by their field labels, messages about data
as sentences. Pure functions (no streamlit): each is checked in a test."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from pydantic import ValidationError

# A setting's place in the config -> the label of its field on the Experiment page.
FIELD_LABELS = {
    "name": "Experiment name", "task": "Data", "methods": "Methods", "sizes": "Training-set sizes",
    "size_unit": "Size counts", "seeds": "Seeds", "reference": "Negative transfer against",
    "parallel_runs": "Runs at once", "prices": "Prices", "model.name": "Model folder or Hub id",
    "model.max_length": "Max length (tokens)", "model.device": "Device", "model.precision": "Precision",
    "budget.max_epochs": "Max epochs", "budget.min_steps": "Min steps", "budget.patience": "Patience",
    "budget.max_train_seconds": "Max seconds per run", "training.batch_size": "Batch size",
    "training.learning_rates": "Learning rates", "llm.learning_rates": "Learning rates",
    "lora.r": "LoRA rank r", "lora.alpha": "LoRA alpha", "rag.k": "RAG neighbours k", "rag.source": "RAG searches",
    "prompt.template": "Prompt template (prompt-only)", "llm.instruction": "Instruction",
    "llm.max_new_tokens": "Max new tokens", "llm.max_shots": "Max shots (few-shot)",
    "llm.context_length": "Context length (tokens)", "llm.allow_abstain": "Allow \"I don't know\"",
    "latency_queries": "Latency queries",
}
BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
          "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}
UNION_MEMBER = re.compile(r"^(int|float|str|bool|literal\[.*\])$")


def field_label(loc: tuple) -> str:
    """The page's label for a config location: ('sizes', 0, 'int') -> "Training-set sizes"."""
    parts = [str(p) for p in loc if not isinstance(p, int) and not UNION_MEMBER.match(str(p))]
    for length in range(len(parts), 0, -1):
        label = FIELD_LABELS.get(".".join(parts[:length]))
        if label:
            return label
    return ".".join(parts) or "Settings"


def _sentence(text: str) -> str:
    text = text.strip().removeprefix("Value error, ")
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def config_problems(error: ValidationError) -> list[str]:
    """One sentence per problem, naming the field as the page labels it (never `sizes.0.int`)."""
    problems, seen = [], set()
    for item in error.errors():
        loc, kind, ctx = tuple(item["loc"]), item["type"], item.get("ctx") or {}
        label, value = field_label(loc), item.get("input")
        place = tuple(p for p in loc if not UNION_MEMBER.match(str(p)))
        if place in seen:  # a value that fits no member of a union (a number or 'all') is one problem, not two
            continue
        seen.add(place)
        if label == "Training-set sizes" and kind in ("int_parsing", "literal_error", "int_type"):
            text = f"'{value}' is not a size; write whole numbers separated by commas, or 'all'"
        elif label == "Experiment name" and kind == "string_pattern_mismatch":
            text = ("use letters, digits, dots, dashes and underscores only (no spaces), starting with a letter "
                    "or a digit")
        elif kind in BOUNDS:
            key, words = BOUNDS[kind]
            text = f"must be {words} {ctx.get(key)}" + (f" (it is {value})" if value is not None else "")
        elif kind == "too_short":
            text = "choose at least one"
        elif kind == "string_too_short":
            text = "cannot be empty"
        elif kind == "too_long":
            text = f"at most {ctx.get('max_length')}"
        elif kind == "string_too_long":
            text = f"at most {ctx.get('max_length')} characters"
        elif kind in ("int_parsing", "float_parsing", "int_type", "float_type"):
            text = f"'{value}' is not a number"
        elif kind == "literal_error":
            text = f"choose one of {ctx.get('expected')}"
        elif kind == "missing":
            text = "is required"
        else:
            text = item["msg"].removeprefix("Value error, ")
        problems.append(_sentence(f"{label}: {text}") if loc else _sentence(text))
    return problems


def validated(settings: dict):
    """(the ExperimentConfig, []) or (None, one sentence per problem)."""
    from core.config import ExperimentConfig

    try:
        return ExperimentConfig.model_validate(settings), []
    except ValidationError as error:
        return None, config_problems(error)


def model_problem(name: str) -> str | None:
    """Why a model name cannot be used for a run, in words; None when it can (or may: a Hub id to download).

    Only what can be seen without loading anything: the built-ins, a folder (inside the allowed model folders,
    holding a config.json), a .gguf file, or a Hub id in the local cache (or reachable: not offline)."""
    from core.backbone import gguf
    from core.backbone.models import DEFAULT_MODEL, allowed_folder
    from core.errors import ModelLoadError

    name = name.strip()
    if name == DEFAULT_MODEL or name in gguf.BUILTIN_LLMS:
        return None
    if not name or "\x00" in name:
        return "Model folder or Hub id: give a model folder or a Hugging Face Hub id."
    try:
        local = Path(name).expanduser()
    except RuntimeError:
        return f"Model folder or Hub id: there is no folder '{name}'."
    looks_like_path = local.is_absolute() or name.startswith((".", "~")) or ".." in local.parts
    if looks_like_path or local.is_dir() or name.lower().endswith(".gguf"):
        try:
            target = allowed_folder(name, local)
        except ModelLoadError as problem:
            return f"Model folder or Hub id: {problem}."
        if name.lower().endswith(".gguf"):
            return None if target.is_file() else f"Model folder or Hub id: there is no GGUF file '{name}'."
        if not target.is_dir():
            return f"Model folder or Hub id: there is no folder '{name}'."
        if not (target / "config.json").is_file():
            return f"Model folder or Hub id: '{name}' holds no config.json, so it is not a model folder."
        return None
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", name):
        return (f"Model folder or Hub id: '{name}' is neither a folder here nor a Hub id (a Hub id reads "
                "owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct).")
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return None
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return (f"Model folder or Hub id: '{name}' is not in this machine's Hugging Face cache, and it is offline "
                "(HF_HUB_OFFLINE=1), so the model cannot be fetched. Download it first, or give a local folder.")
    return None


# -- the Data page ------------------------------------------------------------------------------------------------
IMBALANCE_RATIO = 2.5  # largest / smallest class at or above this is worth saying (core warns only above 10)
_LIST = r"(\[[^\]]*\])"


def _words(values: list) -> str:
    values = [f"'{v}'" for v in values]
    if len(values) <= 1:
        return "".join(values) or "none"
    return ", ".join(values[:-1]) + " and " + values[-1]


def _listed(text: str) -> list:
    try:
        values = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return list(values) if isinstance(values, (list, tuple)) else []


def data_message(message: str) -> str:
    """A message about the data as a sentence: no Python lists, settings named as the pages label them."""
    one_class = re.match(rf"train has (\d+) class\(es\) \({_LIST}\); (.*)$", message)
    if one_class:
        labels = _listed(one_class.group(2))
        have = (f"only one class, {_words(labels)}" if len(labels) == 1 else
                "no labelled examples" if not labels else f"{len(labels)} classes, {_words(labels)}")
        return (f"The training examples have {have}: a classifier needs at least two. Check that the label "
                "column is the right one, or add examples of the other classes.")
    unseen = re.match(rf"test has label\(s\) {_LIST} (that never appear in train.*)$", message)
    if unseen:
        labels = _listed(unseen.group(1))
        message = f"test has {'label' if len(labels) == 1 else 'labels'} {_words(labels)} {unseen.group(2)}"
    message = message.replace("raise model.max_length",
                              "raise \"Max length (tokens)\" (Experiment page, under Device and budget)")
    message = message.replace("set task.drop_leaked_from_train: true",
                              "set drop_leaked_from_train: true in a config file")
    return _sentence(message)


def imbalance(class_counts: dict[str, int]) -> str | None:
    """A warning when the largest class has IMBALANCE_RATIO times the examples of the smallest, else None."""
    counts = {label: int(n) for label, n in (class_counts or {}).items() if n}
    if len(counts) < 2:
        return None
    big, small = max(counts, key=counts.get), min(counts, key=counts.get)
    if counts[big] < IMBALANCE_RATIO * counts[small]:
        return None
    return (f"The classes are imbalanced: '{big}' has {counts[big]} training examples and '{small}' only "
            f"{counts[small]} ({counts[big] / counts[small]:.1f} to 1). A method can score well by favouring "
            f"'{big}': read macro-F1 and the per-class F1 on Compare, not only accuracy. Sizes counted per class "
            f"stop at {counts[small]}.")
