"""The results store: one row per finished run, in a real database.

SQLite by default (one file any SQLite client opens; WAL mode, so readers never block the writer),
through SQLAlchemy Core, so a server database (`postgresql://...`) replaces it by URL alone. A run
is written when it finishes, in one transaction; an interrupted grid resumes by skipping the runs
already finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from core.errors import ExperimentConflict, StoreError, StoreNotFound
from core.paths import adaptlab_home, now

metadata = MetaData()

experiments = Table(
    "experiments", metadata,
    Column("name", String(120), primary_key=True),
    Column("identity", String(64), nullable=False),  # hash of the settings a result depends on
    Column("config", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("test_labels", JSON, nullable=False),  # so paired analyses can score stored predictions
    Column("task", JSON, nullable=False),  # provenance, statistics, notes, device
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

RUN_COLUMNS = {  # the columns a SQL user (or the dashboard) filters on; everything else is in `record`
    "method": String(32), "size": String(16), "seed": Integer, "status": String(16),
    "train_examples": Integer, "accuracy": Float, "accuracy_low": Float, "accuracy_high": Float,
    "macro_f1": Float, "train_seconds": Float, "inference_seconds_per_1k": Float, "peak_memory_mb": Float,
    "trainable_parameters": Integer, "total_parameters": Integer, "bytes_stored": Integer,
    "train_dollars": Float, "inference_dollars_per_1k": Float, "device": String(64), "error": Text,
    "started_at": String(32), "finished_at": String(32),
}

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(120), nullable=False, index=True),
    Column("run_key", String(80), nullable=False),
    *(Column(name, kind) for name, kind in RUN_COLUMNS.items()),
    Column("record", JSON, nullable=False),
    Column("predictions", JSON),
    UniqueConstraint("experiment", "run_key"),
)

# Settings that may change between invocations of one experiment: the grid can grow (a new seed,
# size or method adds runs), and its price table, budget for the whole grid and artifact keeping
# may change; anything else changes what a result means and needs a new name.
GRID_FIELDS = ("methods", "sizes", "seeds", "prices", "keep_artifacts", "grid_budget", "parallel_runs", "executor",
               "ray", "tracking")
RETRIES = 8


def experiment_identity(config: dict, task_fingerprint: str) -> str:
    kept = {k: v for k, v in config.items() if k not in GRID_FIELDS}
    blob = json.dumps(kept, sort_keys=True, default=str) + task_fingerprint
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def with_later_defaults(stored: dict, new: dict) -> dict:
    """The stored config with each setting it lacks (a later adaptlab added it) filled in from the new config,
    where the new config leaves that setting at its default: the experiment means what it meant, so its runs
    stay its runs. A new setting set to anything but its default is left out, and still tells them apart."""
    from core.config import ExperimentConfig  # the defaults of this version

    defaults = _flat(ExperimentConfig.model_validate({"name": "defaults", "task": {"builtin": "fortunes"}})
                     .model_dump(mode="json"))
    stored_keys, completed = set(_flat(stored)), json.loads(json.dumps(stored, default=str))
    for key, value in _flat(new).items():
        if key not in stored_keys and key in defaults and defaults[key] == value \
                and not any(key.startswith(f"{other}.") for other in stored_keys):
            *parents, leaf = key.split(".")
            node = completed
            for part in parents:
                node = node.setdefault(part, {})
            if isinstance(node, dict):
                node[leaf] = value
    return completed


def _same_but_for_later_defaults(row, config: dict, task_fingerprint: str) -> bool:
    """The stored experiment, on the same data (its identity recomputed from its stored config proves that), differs
    from config only by settings a later adaptlab added, left at their defaults."""
    return (experiment_identity(row.config, task_fingerprint) == row.identity and
            experiment_identity(with_later_defaults(row.config, config), task_fingerprint)
            == experiment_identity(config, task_fingerprint))


def settings_changed(stored: dict, new: dict, shown: int = 4) -> str:
    """The settings (dotted names) on which two configs differ, outside the grid fields, in words."""

    def flat(config: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in config.items():
            if not prefix and key in GRID_FIELDS:
                continue
            if isinstance(value, dict) and value:
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    before, after = flat(stored), flat(new)
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k, "<unset>") != after.get(k, "<unset>"))
    words = [f"{k}: {before.get(k, 'not set (stored by an earlier adaptlab)')} -> {after.get(k, 'not set')}"
             for k in keys[:shown]]
    return "; ".join(words) + (f"; and {len(keys) - shown} more" if len(keys) > shown else "")


def default_store_url() -> str:
    return str(adaptlab_home() / "results.db")


def _to_url(location: str | Path, create: bool = True) -> str:
    location = str(location)
    if "://" in location:
        return location
    path = Path(location).expanduser().resolve()
    if path.is_dir():
        raise StoreError(f"the results database {path} is a folder; point --store at a file, e.g. "
                         f"{path / 'results.db'}")
    if not create:
        return f"sqlite:///{path}"
    if on_read_only_disk(path):
        raise StoreError(f"the results database {path} is on a read-only disk, so nothing can be written there (list, "
                         "show, export and report can still read it); point --store at a writable copy to run")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the results folder {path.parent}: {error.strerror}; "
                         "choose a writable location with --store or ADAPTLAB_HOME") from None
    if not os.access(path.parent, os.W_OK):
        raise StoreError(f"the results folder {path.parent} is not writable; "
                         "choose another with --store or ADAPTLAB_HOME")
    return f"sqlite:///{path}"


def on_read_only_disk(path: Path) -> bool:
    """Whether the file system holding path (or its nearest existing parent) is mounted read-only."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def _read_only(path: str):
    """A connection factory for a SQLite file on read-only media. With no write-ahead log beside it, `immutable`: SQLite
    then needs no lock and no `-shm` file, which it could not create there. With one, `mode=ro`, which reads the log
    through its `-shm` file (immutable would ignore the log, and with it the runs written last)."""
    log = Path(f"{path}-wal")
    if not log.is_file() or log.stat().st_size == 0:
        query = "mode=ro&immutable=1"
    elif Path(f"{path}-shm").is_file():
        query = "mode=ro"
    else:
        raise StoreError(f"the results database {path} is on a read-only disk with a write-ahead log ({log.name}) but "
                         f"without its {Path(path).name}-shm file, so SQLite cannot read its latest runs there; copy "
                         "the three files (or the folder) to a writable place and point --store at the copy")
    return lambda: sqlite3.connect(f"file:{quote(path)}?{query}", uri=True, check_same_thread=False)


class SqlStore:
    """Experiments and runs in SQLite or any SQLAlchemy database.

    create=False opens a store only to read it: nothing is created (no folder, no file, no table), and
    a SQLite file is checked to be sound first, so a damaged one is reported instead of half listed. A file
    on a read-only disk is read as it is (read_only). create=True checks an existing file before anything
    is written to it (and each grid and job checks again: check_sound).
    """

    def __init__(self, location: str | Path | None = None, create: bool = True):
        self.url = _to_url(location or default_store_url(), create)
        url = make_url(self.url)
        database = url.database if url.get_backend_name() == "sqlite" else None
        if not create and database and database != ":memory:" and not Path(database).is_file():
            raise StoreNotFound(f"no results database at {database}: run an experiment first (adaptlab run CONFIG), "
                                "or point --store at the right file")
        self.read_only = bool(database) and not create and on_read_only_disk(Path(database))
        if self.read_only:
            self.engine = create_engine(self.url, creator=_read_only(database))
        else:
            self.engine = create_engine(self.url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            if create:
                if database and Path(database).is_file():
                    self.check_sound()  # before create_all, which would write into a damaged file
                self._retry(lambda: metadata.create_all(self.engine))
            else:
                self._check_readable()
        except DatabaseError as error:  # a file that is not SQLite at all ("file is not a database")
            raise StoreError(f"{self.url} is not an adaptlab results database, or it is damaged ({error.orig}); "
                             "point --store at the right file, or restore a backup") from None

    def _check_readable(self) -> None:
        if not inspect(self.engine).has_table("experiments"):
            raise StoreError(f"{self.url} is not an adaptlab results database (it has no experiments table); "
                             "point --store at the right file")
        self.check_sound()

    def check_sound(self) -> None:
        """Refuse a SQLite file that SQLite's quick check finds damaged: before a read lists half of it, and before
        a write adds to it (SQLite writes into a damaged file without a word, and what it writes may be lost)."""
        problem = " ".join(self.integrity_check(quick=True).split())  # SQLite's report spans lines
        if problem != "ok":
            raise StoreError(f"the results database {self.url} is damaged ({problem[:200]}), so nothing was read from "
                             "or written to it; restore a backup, or copy out what is readable with sqlite3's "
                             ".recover")

    def integrity_check(self, quick: bool = False) -> str:
        """SQLite's own check of the file ('ok' when sound); other databases answer 'ok' (they check themselves).

        quick: every page is read and checked, but not that indexes match their tables (O(N), not O(N log N))."""
        if self.engine.dialect.name != "sqlite":
            return "ok"
        with self.engine.connect() as db:
            pragma = "quick_check" if quick else "integrity_check"
            return "; ".join(row[0] for row in db.exec_driver_sql(f"PRAGMA {pragma}"))

    def _retry(self, operation):
        """Run a database operation, backing off while another writer holds the lock."""
        for attempt in range(RETRIES):
            try:
                return operation()
            except OperationalError as error:
                text = str(error).lower()
                if "disk is full" in text or "disk i/o error" in text:
                    raise StoreError(f"the results database {self.url} could not be written: the disk is full (or "
                                     "failing). Runs already stored are kept; free some space and run the "
                                     "experiment again to go on from there") from None
                # "already exists": another process created the tables between our check and our CREATE (two
                # runs starting on a new store at once); the next try sees them and creates nothing
                if ("locked" not in text and "busy" not in text and "already exists" not in text
                        or attempt == RETRIES - 1):
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))

    # -- experiments ---------------------------------------------------------------------------
    def register_experiment(self, name: str, config: dict, task_fingerprint: str, labels: list[str],
                            test_labels: list[int], task_info: dict) -> None:
        """Create the experiment, or check that an existing one with this name means the same thing."""
        identity = experiment_identity(config, task_fingerprint)

        def write():
            with self.engine.begin() as db:
                row = db.execute(select(experiments.c.identity, experiments.c.config)
                                 .where(experiments.c.name == name)).first()
                if row is None:
                    db.execute(insert(experiments).values(
                        name=name, identity=identity, config=config, labels=labels, test_labels=test_labels,
                        task=task_info, created_at=now(), updated_at=now()))
                elif row.identity != identity and not _same_but_for_later_defaults(row, config, task_fingerprint):
                    changed = settings_changed(with_later_defaults(row.config, config), config)
                    what = f"other settings ({changed})" if changed else "other data"
                    raise ExperimentConflict(
                        f"experiment '{name}' already exists with {what}; its results stay as they are. Give "
                        "this config a new name (a grid may only grow: methods, sizes and seeds can be added "
                        "under the same name)")
                else:
                    db.execute(update(experiments).where(experiments.c.name == name)  # identity: as this version says
                               .values(config=config, identity=identity, updated_at=now()))
        self._retry(write)

    def add_task_facts(self, name: str, **facts) -> None:
        """Merge facts into a registered experiment's task information: what is measured once per experiment after
        it is registered (the known-facts pass's categories), read back with it and needing no model."""
        def write():
            with self.engine.begin() as db:
                task = db.execute(select(experiments.c.task).where(experiments.c.name == name)).scalar()
                if task is None:
                    raise StoreError(f"no experiment named '{name}' in {self.url} to add {', '.join(facts)} to")
                db.execute(update(experiments).where(experiments.c.name == name).values(task={**task, **facts}))
        self._retry(write)

    def settings_conflict(self, config: dict) -> str | None:
        """Why the experiment stored under config's name would refuse this config (register_experiment), in words:
        the settings that differ. None when nothing of that name is stored or only its grid differs (it grows). The
        data are not compared here (that needs them built); the run itself still checks them."""
        with self.engine.connect() as db:
            stored = db.execute(select(experiments.c.config).where(experiments.c.name == config["name"])).scalar()
        return (settings_changed(with_later_defaults(stored, config), config) or None) if stored is not None else None

    def free_name(self, config: dict) -> str:
        """config's name, or the first of name-2, name-3, … under which it may run: free, or holding the same settings
        (its runs are this config's, and a grid may grow). What `--name` gives a config the store refuses."""
        base, number = config["name"], 1
        while self.settings_conflict(config):
            number += 1
            config = {**config, "name": f"{base}-{number}"}
        return config["name"]

    def experiments(self) -> pd.DataFrame:
        """Every experiment, newest first, with its model, size unit, number of finished runs and when its latest
        run ended (last_run_at; None before its first)."""
        with self.engine.connect() as db:
            rows = db.execute(select(experiments.c.name, experiments.c.created_at, experiments.c.updated_at,
                                     experiments.c.config)).mappings().all()
            finished = dict(db.execute(select(runs.c.experiment, func.count()).where(runs.c.status == "finished")
                                       .group_by(runs.c.experiment)).all())
            last_run = dict(db.execute(select(runs.c.experiment, func.max(runs.c.finished_at))
                                       .group_by(runs.c.experiment)).all())  # its latest change: a run stored
        frame = pd.DataFrame([{"name": r["name"], "created_at": r["created_at"], "updated_at": r["updated_at"],
                               "model": r["config"].get("model", {}).get("name", "default"),
                               "size_unit": r["config"].get("size_unit", "per_class"),
                               "runs": int(finished.get(r["name"], 0)), "last_run_at": last_run.get(r["name"])}
                              for r in rows],
                             columns=["name", "created_at", "updated_at", "model", "size_unit", "runs", "last_run_at"])
        return frame.sort_values("updated_at", ascending=False).reset_index(drop=True)

    def experiment(self, name: str) -> dict:
        with self.engine.connect() as db:
            row = db.execute(select(experiments).where(experiments.c.name == name)).mappings().first()
        if row is None:
            known = ", ".join(self.experiments().name.head(10)) or "none yet"
            raise StoreError(f"no experiment named '{name}' in {self.url}; known: {known}")
        return dict(row)

    # -- runs ------------------------------------------------------------------------------------
    def finished_keys(self, name: str) -> set[str]:
        with self.engine.connect() as db:
            return set(db.execute(select(runs.c.run_key).where(
                (runs.c.experiment == name) & (runs.c.status == "finished"))).scalars())

    def write_run(self, name: str, record: dict[str, Any], predictions: list[int] | None) -> bool:
        """Insert one run, or replace a failed attempt of it, atomically. A finished run is never replaced:
        returns False (and writes nothing) when the key already has one."""
        key = record["run_key"]
        values = {c: record.get(c) for c in RUN_COLUMNS}

        def write():
            with self.engine.begin() as db:
                db.execute(delete(runs).where((runs.c.experiment == name) & (runs.c.run_key == key)
                                              & runs.c.status.is_distinct_from("finished")))
                # a finished row still there makes this insert break the (experiment, run_key) constraint
                db.execute(insert(runs).values(experiment=name, run_key=key, record=record,
                                               predictions=predictions, **values))
        try:
            self._retry(write)
        except IntegrityError:
            return False
        return True

    def runs_stamp(self, name: str) -> str:
        """A short text that changes whenever a run of `name` is added, replaced or finishes: one aggregate query,
        so a reader can tell that its cached results are current without reading the runs."""
        finished = func.sum(case((runs.c.status == "finished", 1), else_=0))
        with self.engine.connect() as db:
            row = db.execute(select(func.count(), func.max(runs.c.id), func.max(runs.c.finished_at), finished)
                             .where(runs.c.experiment == name)).one()
        return "|".join(map(str, row))

    def finished_summary(self, name: str) -> tuple[int, float | None]:
        """How many runs of `name` finished and the best quality among them: one aggregate query."""
        with self.engine.connect() as db:
            count, best = db.execute(select(func.count(), func.max(runs.c.accuracy)).where(
                (runs.c.experiment == name) & (runs.c.status == "finished"))).one()
        return int(count), best

    def runs_frame(self, names: list[str] | str, with_predictions: bool = False,
                   keys: set[str] | None = None) -> pd.DataFrame:
        """Runs of one or more experiments as a DataFrame: one row per run (only those run keys, where given)."""
        names = [names] if isinstance(names, str) else names
        columns = [runs.c.experiment, runs.c.run_key, *(runs.c[c] for c in RUN_COLUMNS), runs.c.record]
        if with_predictions:
            columns.append(runs.c.predictions)
        where = runs.c.experiment.in_(names)
        if keys is not None:
            where = where & runs.c.run_key.in_(sorted(keys))
        with self.engine.connect() as db:
            rows = db.execute(select(*columns).where(where).order_by(runs.c.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in columns])


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the dashboard) never block the writer (the worker)
    cursor.execute("PRAGMA busy_timeout=30000")  # wait up to 30 s for another writer before failing
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a power cut loses at most the last run
    cursor.close()


def json_text(value, **options) -> str:
    """JSON any reader accepts: Python writes a float NaN or infinity as a bare NaN / Infinity, which is not JSON,
    so they are written as null (a measure that was not taken); anything else not JSON is written as its text."""
    return json.dumps(_finite(value), allow_nan=False, default=str, **options)


def _finite(value):
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
