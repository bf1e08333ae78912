"""Executors: who does a grid's runs. One at a time here, packed processes on this device
(core/running/packing.py), or Ray tasks on a cluster (core/running/ray_grid.py).

Every executor is one small class with one method, `run(grid)`: do `grid.todo`, give each record to
`grid.store_run` as it comes back, and stop handing out runs once `grid.out_of_time()`. The grid holds
what they share: the experiment loaded here, the run claims, the store, progress and the budget. A new
executor is one module with such a class, and one line in core/running/runner.py's `choose_executor`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from core.results.store import SqlStore
from core.running.claims import RunClaims
from core.running.grid import RunSpec
from core.running.run import Experiment, Progress, Run, execute_run


@dataclass
class Grid:
    """One invocation's grid as its executor sees it, and the tally of what was done."""

    experiment: Experiment  # loaded in this process: the one-at-a-time runs use it, the others send its config
    todo: list[RunSpec]  # not finished when the grid started
    store: SqlStore  # only this process writes to it, whichever executor
    progress: Progress
    claims: RunClaims  # one process per run (core/running/claims.py)
    limit: float | None  # the grid budget in wall seconds (None: no limit)
    started: float  # time.monotonic() when the grid budget started counting
    executed: int = 0
    failed: int = 0
    over_budget: list[str] = field(default_factory=list)  # run keys not started: the budget ran out

    @property
    def config(self):
        return self.experiment.config

    def out_of_time(self) -> bool:
        return self.limit is not None and time.monotonic() - self.started >= self.limit

    def stop_for_budget(self, keys: list[str]) -> None:
        """The budget is spent: these runs are not started; say so."""
        self.over_budget = list(keys)
        self.progress.message(budget_message(self.config, time.monotonic() - self.started, self.executed,
                                             self.over_budget))

    def store_run(self, spec: RunSpec, record: dict, predictions) -> None:
        """Write a run's record, count it, and tell the front end."""
        self.store.write_run(self.config.name, record, predictions)
        self.failed += record["status"] != "finished"
        self.executed += 1
        self.progress.run_finished(spec, record)

    def not_handed_out(self, mine: list[RunSpec]) -> list[RunSpec]:
        """After an executor did the runs it claimed: those another process held (waited for, and done here one
        at a time if their process stops), unless the budget already ran out."""
        if self.over_budget:
            return []
        return [spec for spec in self.todo if spec not in mine and spec.key not in self.claims.elsewhere]


class Executor(Protocol):
    def run(self, grid: Grid) -> None:
        """Do grid.todo's runs, each given to grid.store_run; stop starting runs once grid.out_of_time()."""


class OneAtATime:
    """Each run in this process, in turn, claiming it just before it starts (so two processes can share a grid)."""

    def run(self, grid: Grid, specs: list[RunSpec] | None = None) -> None:
        for spec in grid.claims.each(grid.todo if specs is None else specs):
            if grid.out_of_time():
                grid.stop_for_budget([spec.key, *grid.claims.left()])
                break
            grid.progress.run_started(spec)
            grid.store_run(spec, *execute_run(Run(spec, grid.experiment, grid.progress)))


def budget_message(config, elapsed: float, executed: int, skipped: list[str]) -> str:
    shown = ", ".join(skipped[:6]) + (f" and {len(skipped) - 6} more" if len(skipped) > 6 else "")
    return (f"grid budget reached after {elapsed:.0f} s and {executed} run(s): {len(skipped)} run(s) not started "
            f"({shown}). Finished runs are kept; raise grid_budget and run again to do the rest")
