"""Load a labelled text task from CSV, JSONL or Parquet (or a built-in scenario) into fixed splits.

Every loader problem is collected and reported together, in words that name the file, the row or
column, and what to do, so a user fixes everything in one pass instead of one error per run.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.errors import DataError
from core.task.spec import CorpusSpec, TaskSpec

SHOWN = 5  # how many offending rows to quote in a message
SPLITS = ("train", "validation", "test")
MAX_FILE_BYTES = 2 * 1024**3  # a 2 GB text table is a mistake (or a job for a bigger tool)
# Tokenizers read a whole text before truncating it to max_length (a 10 MB text took 2 GB): longer values are
# cut here. 100,000 characters are about 25,000 tokens, three times the longest max_length (8,192).
MAX_TEXT_CHARS = 100_000


@dataclass
class KnowledgeUpdate:
    """Facts that arrive after training, and the examples that need them (see the geo-knowledge scenario)."""

    test: pd.DataFrame  # examples whose answers are only in `documents`
    documents: pd.DataFrame  # new corpus documents (text, label), added to a RAG index without retraining


@dataclass
class Task:
    """Labelled examples in fixed splits (columns `text`, `label`, `row`), plus an optional corpus."""

    name: str
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    corpus: pd.DataFrame | None = None  # columns `text`, `label` (label may be empty)
    provenance: dict = field(default_factory=dict)  # file names, hashes, row counts, licence
    notes: list[str] = field(default_factory=list)  # what loading changed (dropped duplicates...)
    knowledge_update: KnowledgeUpdate | None = None
    avoid_probes: set[str] = field(default_factory=set)  # forgetting probes too close to this task
    kind: str = "classification"  # or "qa": text = question, label = reference answer (see core/task/qa.py)

    @property
    def labels(self) -> list[str]:
        """The label set, sorted, as seen in any split: index i is class i everywhere."""
        seen = pd.concat([self.train.label, self.validation.label, self.test.label]).unique()
        return sorted(str(label) for label in seen)

    def fingerprint(self) -> str:
        """A hash of the task's content: experiments on different data never share results."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            for text, label in zip(split.text, split.label):
                digest.update(f"{label}\x1f{text}\x1e".encode())
            digest.update(b"\x1d")
        if self.corpus is not None:
            for text, label in zip(self.corpus.text, self.corpus.label):
                digest.update(f"{label}\x1f{text}\x1e".encode())
        return digest.hexdigest()[:16]


def detect_format(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    suffixes = "".join(path.suffixes).lower()
    for ext, fmt in ((".csv", "csv"), (".tsv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                     (".json", "jsonl"), (".parquet", "parquet"), (".pq", "parquet")):
        if suffixes.endswith(ext) or path.suffix.lower() == ext:
            return fmt
    raise DataError(f"{path.name}: cannot tell the format from the extension '{path.suffix}'; "
                    "use .csv, .jsonl or .parquet, or set `format:` in the task config")


def _decode(raw: bytes, name: str) -> str:
    """The file as text; a binary file (an image, a workbook, an archive) is said to be one, by what it looks like."""
    kinds = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
             b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive or an Excel/Office file",
             b"\xd0\xcf\x11\xe0": "an old Excel/Office file", b"\x1f\x8b": "a gzip archive",
             b"PAR1": "a Parquet file (name it .parquet)", b"SQLite format 3": "a SQLite database"}
    kind = next((what for magic, what in kinds.items() if raw.startswith(magic)), None)
    if kind is None and b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        kind = "a binary file (it holds NUL bytes, which text never does)"  # UTF-16 has a byte-order mark: below
    if kind is not None:
        raise DataError(f"{name} is not a text file: it looks like {kind}, not a table of examples. Upload a CSV, "
                        "JSON Lines or Parquet file (from a spreadsheet: 'Save as CSV UTF-8')")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{name}: byte {error.start} (line {line}) is not valid UTF-8; "
                        "re-save the file as UTF-8 (e.g. 'Save as CSV UTF-8' in a spreadsheet)") from None


def read_table(path: Path, fmt: str = "auto", name: str | None = None) -> pd.DataFrame:
    """Read one file into a DataFrame of strings; a `row` column keeps the 1-based source row.

    What reading changed or doubts (a column named twice, texts cut to MAX_TEXT_CHARS) is listed, one
    sentence each, in frame.attrs["notes"]; a task built from the file warns with them.
    """
    name = name or path.name
    if not path.is_file():
        raise DataError(f"{name}: file not found at {path}")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{name}: the file is empty; upload a file with a header row and examples")
    if size > MAX_FILE_BYTES:
        raise DataError(f"{name}: {size / 1e9:.1f} GB is larger than the {MAX_FILE_BYTES / 1e9:.0f} GB limit; "
                        "sample it down first")
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        frame = _read_parquet(path, name)
    else:
        text = _decode(path.read_bytes(), name)
        frame = _read_csv(text, name, sep="\t" if path.suffix.lower() == ".tsv" else ",") if fmt == "csv" \
            else _read_jsonl(text, name)
    if frame.empty:
        raise DataError(f"{name}: no data rows found; the file needs a header and at least one example")
    notes = list(frame.attrs.get("notes", []))
    for column in frame.columns:  # 1, 2, None in Parquet/JSON arrive as floats: keep the labels "1", "2"
        values = frame[column]
        # (only where every value is a whole number an int64 holds exactly: 9.2e18 from a JSON file is kept as it is)
        if values.dtype.kind == "f" and values.dropna().map(float.is_integer).all() and values.abs().max() < 2**53:
            frame[column] = values.astype("Int64")
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    notes.extend(_cut_long_values(frame, name))
    frame["row"] = range(1, len(frame) + 1)
    frame.attrs["notes"] = notes
    return frame


def _cut_long_values(frame: pd.DataFrame, name: str) -> list[str]:
    """Cut values longer than MAX_TEXT_CHARS (in place); a sentence naming the rows, if any were."""
    too_long = frame.apply(lambda values: values.str.len() > MAX_TEXT_CHARS).any(axis=1).to_numpy()
    if not too_long.any():
        return []
    for column in frame.columns:
        frame[column] = frame[column].str.slice(0, MAX_TEXT_CHARS)
    rows = (np.flatnonzero(too_long) + 1).tolist()
    shown = ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
    return [f"{name}: row{'s' if len(rows) > 1 else ''} {shown} had a value longer than {MAX_TEXT_CHARS:,} characters, "
            "cut to that length (a model reads at most max_length tokens of it anyway)"]


def _read_csv(text: str, name: str, sep: str) -> pd.DataFrame:
    if "\x00" in text:
        raise DataError(f"{name}: contains NUL bytes, so it is binary, not CSV; export the table as CSV text")
    try:
        # keep_default_na=False: a text that reads "NA" or "null" is a text, not a missing value
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        header = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, header=None, nrows=1, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: no columns found; the first line must be a header such as 'text,label'") from None
    except pd.errors.ParserError as error:
        raise DataError(f"{name}: rows do not line up with the header ({error}); "
                        "quote fields that contain commas or line breaks") from None
    names = header.iloc[0].tolist()
    twice = sorted({column for column in names if names.count(column) > 1})
    if twice:  # pandas renames the second 'text' to 'text.1' without a word
        renamed = [column for column in frame.columns if column not in names]
        frame.attrs["notes"] = [f"{name}: the header names column(s) {', '.join(repr(c) for c in twice)} more than "
                                f"once; the first of each is used and the others are read as "
                                f"{', '.join(repr(c) for c in renamed)}. Rename the columns to choose"]
    return frame


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{name}: line {number} is not valid JSON ({error.msg}); "
                            "each line must be one object such as {\"text\": \"...\", \"label\": \"...\"}") from None
        except RecursionError:  # the decoder recurses once per bracket: 100,000 '[' exhaust Python's stack
            raise DataError(f"{name}: line {number} nests brackets too deep to read as JSON; each line must be one "
                            "object such as {\"text\": \"...\", \"label\": \"...\"}") from None
        if not isinstance(record, dict):
            raise DataError(f"{name}: line {number} is a JSON {type(record).__name__}, not an object; "
                            "each line must be one object such as {\"text\": \"...\", \"label\": \"...\"}")
        records.append(record)
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises many types for a corrupt file
        raise DataError(f"{name}: not a readable Parquet file ({type(error).__name__}: {error})") from None


def _pick_columns(frame: pd.DataFrame, name: str, columns: dict[str, str | None]) -> pd.DataFrame:
    """Rename the user's columns to ours (e.g. {'text': 'body'}), naming any that are missing."""
    missing = [f"{role} column '{col}'" for role, col in columns.items() if col and col not in frame.columns]
    if missing:
        available = ", ".join(repr(c) for c in frame.columns if c != "row")
        raise DataError(f"{name}: no {' and no '.join(missing)}; the columns are {available}. "
                        "Set text_column / label_column (and split_column) to the right names")
    picked = frame[[col for col in columns.values() if col] + ["row"]].copy()
    picked.columns = [role for role, col in columns.items() if col] + ["row"]
    for role in ("text", "label"):
        if role in picked.columns:
            picked[role] = picked[role].str.strip() if role == "label" else picked[role]
    return picked


def _source_record(path: Path, frame: pd.DataFrame) -> dict:
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "rows": len(frame)}


def stratified_split(frame: pd.DataFrame, validation_fraction: float, test_fraction: float,
                     seed: int, name: str | None = None) -> dict[str, pd.DataFrame]:
    """Split into train/validation/test keeping class shares, reproducibly for a given seed. name: the file,
    named in the message."""
    counts = frame.label.value_counts()
    small = counts[counts < 3]
    if len(small):
        detail = ", ".join(f"'{label}' ({n})" for label, n in small.items())
        raise DataError(f"{name + ': ' if name else ''}to split the data into train/validation/test every class "
                        "needs at least 3 examples; "
                        f"{detail} have fewer. Add examples, drop those classes, or provide a split column")
    # whole-example counts, at least one per class in each split (3 per class, checked above, suffice)
    classes = len(counts)
    n_test = max(classes, round(test_fraction * len(frame)))
    n_validation = max(classes, round(validation_fraction * len(frame)))
    if len(frame) - n_test - n_validation < classes:
        n_test = n_validation = classes
    rest, test = train_test_split(frame, test_size=n_test, stratify=frame.label, random_state=seed)
    train, validation = train_test_split(rest, test_size=n_validation, stratify=rest.label, random_state=seed)
    return {"train": train, "validation": validation, "test": test}


def hold_out(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation split out of train: stratified when every class can spare an example."""
    classes = train.label.nunique()
    size = max(1, round(fraction * len(train)))
    if train.label.value_counts().min() >= 2 and classes <= size <= len(train) - classes:
        return tuple(train_test_split(train, test_size=size, stratify=train.label, random_state=seed))
    return tuple(train_test_split(train, test_size=size, random_state=seed))


def flip_labels(task: Task, share: float, seed: int) -> None:
    """Give `share` of the train labels another class, chosen at random: validation and test stay clean."""
    rng = np.random.default_rng([seed, 7919])  # its own stream: the split does not move when noise is added
    labels = task.labels
    train = task.train.copy()
    train["clean_label"] = train.label  # nested subsets are drawn by it, so noise never changes which texts train
    flipped = rng.choice(len(train), size=round(share * len(train)), replace=False)
    for i in flipped:
        others = [label for label in labels if label != train.label.iat[i]]
        train.iat[i, train.columns.get_loc("label")] = others[rng.integers(len(others))]
    task.train = train
    task.notes.append(f"label noise: {len(flipped)} of {len(train)} train labels ({share:.0%}) flipped on purpose")


def load_files(spec: TaskSpec, name: str) -> Task:
    notes: list[str] = []
    provenance: dict = {"sources": []}
    columns = {"text": spec.text_column, "label": spec.label_column}
    if spec.path is not None:
        frame = read_table(spec.path, spec.format)
        provenance["sources"].append(_source_record(spec.path, frame))
        notes.extend(frame.attrs["notes"])
        if spec.split_column:
            frame = _pick_columns(frame, spec.path.name, {**columns, "split": spec.split_column})
            splits = _split_by_column(frame, spec, spec.path.name)
        else:
            frame = _pick_columns(frame, spec.path.name, columns)
            _require_filled(frame, spec.path.name)
            frame, dropped = _drop_duplicate_texts(frame)
            if dropped:
                notes.append(f"{dropped} duplicate text(s) dropped before splitting, so none can land in "
                             "two splits")
            splits = stratified_split(frame, spec.validation_fraction, spec.test_fraction, spec.split_seed,
                                      spec.path.name)
    else:
        splits = {}
        for split in SPLITS:
            path = getattr(spec, split)
            if path is None:
                continue
            frame = read_table(path, spec.format)
            provenance["sources"].append({**_source_record(path, frame), "split": split})
            notes.extend(frame.attrs["notes"])
            splits[split] = _pick_columns(frame, path.name, columns)
        if "validation" not in splits:
            splits["train"], splits["validation"] = hold_out(splits["train"], spec.validation_fraction,
                                                             spec.split_seed)
            notes.append(f"no validation file: {spec.validation_fraction:.0%} of train held out for early stopping")
    corpus = load_corpus(spec.corpus) if spec.corpus is not None else None
    if corpus is not None:
        provenance["sources"].append({**_source_record(spec.corpus.path, corpus), "split": "corpus"})
        notes.extend(corpus.attrs.get("notes", []))  # the corpus file's (pandas keeps attrs through selections)
    task = Task(name=name, corpus=corpus, provenance=provenance, notes=notes,
                **{split: splits[split].reset_index(drop=True) for split in SPLITS})
    return task


def _split_by_column(frame: pd.DataFrame, spec: TaskSpec, name: str) -> dict[str, pd.DataFrame]:
    wanted = {value: split for split, value in spec.split_names.items()}
    unknown = sorted(set(frame.split) - set(wanted))
    if unknown:
        raise DataError(f"{name}: split column '{spec.split_column}' has value(s) {unknown[:5]} that are not "
                        f"{sorted(wanted)}; fix those rows or set split_names to map them")
    splits = {wanted[value]: part.drop(columns="split") for value, part in frame.groupby("split")}
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise DataError(f"{name}: split column '{spec.split_column}' has no rows for {missing}; "
                        "every task needs train and test rows")
    if "validation" not in splits:
        splits["train"], splits["validation"] = hold_out(splits["train"], spec.validation_fraction, spec.split_seed)
    return splits


def _require_filled(frame: pd.DataFrame, name: str) -> None:
    """Empty texts or labels must be fixed before a split is drawn, or they would be split too."""
    problems = check_rows(frame, name)
    if problems:
        raise DataError(problems)


def row_numbers(frame: pd.DataFrame, mask: pd.Series) -> str:
    rows = frame.loc[mask, "row"].tolist()
    shown = ", ".join(str(r) for r in rows[:SHOWN])
    return shown + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def check_rows(frame: pd.DataFrame, where: str) -> list[str]:
    """Rows with an empty text or label, named by row number."""
    problems = []
    empty_text = frame.text.str.strip() == ""
    if empty_text.any():
        problems.append(f"{where}: {int(empty_text.sum())} example(s) have an empty text (row(s) "
                        f"{row_numbers(frame, empty_text)}); remove those rows or fill in their text")
    empty_label = frame.label.str.strip() == ""
    if empty_label.any():
        problems.append(f"{where}: {int(empty_label.sum())} example(s) have no label (row(s) "
                        f"{row_numbers(frame, empty_label)}); label them or remove them")
    return problems


def _drop_duplicate_texts(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    key = frame.text.map(normalize_text)
    keep = ~key.duplicated()
    return frame[keep], int((~keep).sum())


def normalize_text(text: str) -> str:
    """The form in which two texts count as the same (case, spacing): used for leakage and duplicates."""
    return " ".join(str(text).split()).casefold()


def load_corpus(spec: CorpusSpec) -> pd.DataFrame:
    frame = read_table(spec.path, spec.format)
    columns = {"text": spec.text_column, "label": spec.label_column if spec.label_column in frame.columns else None}
    corpus = _pick_columns(frame, spec.path.name, columns)
    if "label" not in corpus.columns:
        corpus["label"] = ""
    corpus = corpus[corpus.text.str.strip() != ""].reset_index(drop=True)
    if corpus.empty:
        raise DataError(f"{spec.path.name}: the corpus has no non-empty documents in column '{spec.text_column}'")
    return corpus
