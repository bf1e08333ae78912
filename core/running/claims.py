"""Claims on runs: one process per run, whoever started it (`adaptlab run` twice, a dashboard worker).

    with RunClaims(store, "fortunes-quick") as claims:
        for spec in claims.each(todo):  # the runs this process holds; it waits for those another one runs
            ...run it, store it...

A process claims a run by inserting (experiment, run key) into `run_claims`; the primary key lets one
insert win, so two processes never run the same run. This is the claim the job queue makes on a whole
job (core/running/jobs.py), made for each run, so it also holds between a CLI run and a worker. A heartbeat
thread keeps this process's claims fresh; the claim of a process that is gone (on this machine: its
pid has ended) or went silent for STALE_SECONDS (killed elsewhere) is taken over and its run done again.

A run another process holds is waited for. When its claim is gone, either that process stored an
outcome (finished or failed: done elsewhere, not repeated here) or it stopped without one (cancelled,
interrupted), and the run is done here.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator

import pandas as pd
import psutil
from sqlalchemy import Column, Float, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.results.store import SqlStore, metadata, runs
from core.running.grid import RunSpec
from core.running.jobs import HEARTBEAT_SECONDS, STALE_SECONDS, jobs

WAIT_POLL_SECONDS = 1.0  # how often a process waiting for another's run looks again

run_claims = Table(
    "run_claims", metadata,
    Column("experiment", String(120), primary_key=True),
    Column("run_key", String(80), primary_key=True),
    Column("owner", String(120), nullable=False),  # host/pid/random of the process running it ('/' is in no host name)
    Column("heartbeat", Float, nullable=False),  # unix time of the owner's last sign of life
)
HOST = socket.gethostname()


class RunClaims:
    """This process's claims on the runs of one experiment; released when the `with` block ends."""

    def __init__(self, store: SqlStore, experiment: str, stale_seconds: float = STALE_SECONDS):
        self.store, self.experiment, self.stale_seconds = store, experiment, stale_seconds
        self.owner = f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        self.elsewhere: list[str] = []  # runs another process did while this grid ran
        self._untried: list[RunSpec] = []
        self._waiting: dict[str, tuple[RunSpec, tuple | None]] = {}  # key -> (spec, its stored attempt then)
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._keep_alive, name="adaptlab-claims", daemon=True)
        # create_all at SqlStore() only covers tables defined before it ran; make sure of ours
        store._retry(lambda: metadata.create_all(store.engine, tables=[run_claims]))

    def __enter__(self) -> RunClaims:
        self._beat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._beat.join(timeout=5)
        self._write(delete(run_claims).where(self._mine()))

    def each(self, specs: Iterable[RunSpec]) -> Iterator[RunSpec]:
        """Yield each spec while this process holds its claim, in order; then wait for the ones others hold."""
        self._untried = list(specs)
        while self._untried:
            spec = self._untried.pop(0)
            state = self.take(spec.key)
            if state == "mine":
                yield spec
                self.release(spec.key)
            elif state == "held":
                self._waiting[spec.key] = (spec, self._stored_attempt(spec.key))
            else:
                self.elsewhere.append(spec.key)
        while self._waiting:
            time.sleep(WAIT_POLL_SECONDS)
            for key, (spec, seen) in list(self._waiting.items()):
                if self._stored_attempt(key) != seen:  # its holder stored an outcome
                    del self._waiting[key]
                    self.elsewhere.append(key)
                elif self.take(key) == "mine":  # its holder stopped without one, or went silent
                    del self._waiting[key]
                    yield spec
                    self.release(key)

    def left(self) -> list[str]:
        """Keys `each` has not yielded yet: not tried, or waited for."""
        return [spec.key for spec in self._untried] + list(self._waiting)

    def take_all(self, specs: Iterable[RunSpec]) -> list[RunSpec]:
        """Claim every run no other process holds (for packed grids, which hand runs out themselves)."""
        mine = []
        for spec in specs:
            state = self.take(spec.key)
            if state == "mine":
                mine.append(spec)
            elif state == "done":
                self.elsewhere.append(spec.key)
        return mine

    def take(self, key: str) -> str:
        """Claim one run: 'mine', 'held' (another live process runs it) or 'done' (finished meanwhile)."""
        this_run = (run_claims.c.experiment == self.experiment) & (run_claims.c.run_key == key)

        def claim() -> str:
            with self.store.engine.begin() as db:
                status = db.execute(select(runs.c.status).where(
                    (runs.c.experiment == self.experiment) & (runs.c.run_key == key))).scalar()
                if status == "finished":
                    return "done"
                holder = db.execute(select(run_claims).where(this_run)).first()
                if holder is not None and self._gone(holder):
                    db.execute(delete(run_claims).where(this_run & (run_claims.c.owner == holder.owner)))
                db.execute(insert(run_claims).values(experiment=self.experiment, run_key=key, owner=self.owner,
                                                     heartbeat=time.time()))
                return "mine"
        try:
            return self.store._retry(claim)
        except IntegrityError:  # the other process's insert won
            return "held"

    def _gone(self, holder) -> bool:
        """Whether a claim's process has stopped: its pid ended (on this machine), or it went silent."""
        host, _, pid = holder.owner.rpartition("/")[0].rpartition("/")
        silent = holder.heartbeat < time.time() - self.stale_seconds
        return silent or (host == HOST and pid.isdigit() and not psutil.pid_exists(int(pid)))

    def release(self, key: str) -> None:
        self._write(delete(run_claims).where(self._mine() & (run_claims.c.run_key == key)))

    def _stored_attempt(self, key: str) -> tuple | None:
        """When the stored attempt at a run started and ended (None when there is none)."""
        with self.store.engine.connect() as db:
            row = db.execute(select(runs.c.started_at, runs.c.finished_at).where(
                (runs.c.experiment == self.experiment) & (runs.c.run_key == key))).first()
        return None if row is None else tuple(row)

    def _mine(self):
        return (run_claims.c.experiment == self.experiment) & (run_claims.c.owner == self.owner)

    def _write(self, statement) -> None:
        def run():
            with self.store.engine.begin() as db:
                db.execute(statement)
        self.store._retry(run)

    def _keep_alive(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._write(update(run_claims).where(self._mine()).values(heartbeat=time.time()))
            except Exception as error:  # a locked database now and then must not stop the heartbeat
                print(f"claims heartbeat: {error}", file=sys.stderr)


def running_elsewhere(store: SqlStore, stale_seconds: float = STALE_SECONDS) -> pd.DataFrame:
    """Experiments whose runs a live process holds but no running job of this queue runs: grids started
    with `adaptlab run` (or another tool) on this store. Read from the run claims.

    One row per experiment: the run keys held now, how many processes hold them, their last heartbeat."""
    from sqlalchemy import inspect

    columns = ["experiment", "run_keys", "processes", "heartbeat"]
    if not inspect(store.engine).has_table(run_claims.name):  # no grid has claimed a run in this store
        return pd.DataFrame(columns=columns)
    with store.engine.connect() as db:
        held = db.execute(select(run_claims).where(run_claims.c.heartbeat > time.time() - stale_seconds)
                          .order_by(run_claims.c.experiment, run_claims.c.run_key)).mappings().all()
        by_jobs = set(db.execute(select(jobs.c.experiment).where(jobs.c.status == "running")).scalars())
    rows: dict[str, dict] = {}
    for claim in held:
        if claim["experiment"] in by_jobs:
            continue
        row = rows.setdefault(claim["experiment"], {"experiment": claim["experiment"], "run_keys": [],
                                                    "owners": set(), "heartbeat": 0.0})
        row["run_keys"].append(claim["run_key"])
        row["owners"].add(claim["owner"])
        row["heartbeat"] = max(row["heartbeat"], claim["heartbeat"])
    return pd.DataFrame([{**{k: v for k, v in row.items() if k != "owners"}, "processes": len(row["owners"])}
                         for row in rows.values()], columns=columns)
