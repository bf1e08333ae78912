"""The progress row of a job in the queue: what the Runs page reads while a worker runs it.

Kept apart from the worker so that each kind of job (experiments, question writing) can report through it.
"""

from __future__ import annotations

import threading
import time

from core.errors import Cancelled
from core.running.jobs import JobQueue
from core.running.run import Progress
from core.task.sizes import size_label

REPORT_EVERY_SECONDS = 0.5  # progress writes are throttled; a run reports several times a second at most


class JobProgress(Progress):
    """Turns the runner's progress events into a row the Runs page reads, and raises Cancelled on request."""

    CANCELLED = "cancelled; the runs finished before it are kept, and running it again does the rest"
    KEPT = "finished runs are kept"  # what a stopped worker leaves of the job

    def __init__(self, queue: JobQueue, job_id: int, cancel: threading.Event, unit: str = "per_class"):
        self.queue, self.job_id, self.cancel = queue, job_id, cancel
        self.unit = unit  # the grid's size unit, for sizes in words
        self.started = time.monotonic()
        self.state = {"message": "loading the data and the model", "runs_total": None, "runs_done": 0,
                      "runs_failed": 0, "skipped": 0, "current_run": None, "run_fraction": 0.0, "loss": None,
                      "val_accuracy": None, "grid_fraction": 0.0, "elapsed_seconds": 0.0, "remaining_seconds": None}
        self._last_write = 0.0
        self.in_flight: list[str] = []  # run keys under way: several when runs are packed

    def message(self, text: str) -> None:
        self._update(message=text)

    def grid_started(self, name: str, total: int, todo: int) -> None:
        self._update(runs_total=todo, skipped=total - todo,
                     message=f"{todo} run(s) to do" + (f", {total - todo} already finished" if todo < total else ""))

    def run_started(self, spec) -> None:
        self.in_flight.append(spec.key)
        self._update(current_run=spec.key, in_flight=list(self.in_flight), run_fraction=0.0, loss=None,
                     val_accuracy=None,
                     message=f"running {spec.method}, {size_label(spec.size, self.unit)}, seed {spec.seed}")

    def run_progress(self, spec, fraction: float, info: dict) -> None:
        if spec.key != self.state["current_run"]:  # packed runs: the page follows the newest one
            return
        self._update(force=False, run_fraction=float(fraction), loss=info.get("loss"),
                     val_accuracy=info.get("val_accuracy"))

    def run_finished(self, spec, record: dict) -> None:
        failed = record.get("status") != "finished"
        if spec.key in self.in_flight:
            self.in_flight.remove(spec.key)
        current = self.in_flight[-1] if self.in_flight else None
        self._update(runs_done=self.state["runs_done"] + 1, runs_failed=self.state["runs_failed"] + failed,
                     run_fraction=1.0 if current is None else 0.0, current_run=current, in_flight=list(self.in_flight),
                     message=f"finished {spec.key}" + (" (failed)" if failed else ""))

    def final(self, message: str) -> dict:
        self._timing()
        return {**self.state, "message": message, "current_run": None, "remaining_seconds": 0.0}

    def _timing(self) -> None:
        total, done = self.state["runs_total"], self.state["runs_done"]
        elapsed = time.monotonic() - self.started
        fraction = min(1.0, (done + self.state["run_fraction"] * (done < (total or 0))) / total) if total else 0.0
        self.state.update(elapsed_seconds=elapsed, grid_fraction=fraction,
                          remaining_seconds=elapsed / fraction * (1 - fraction) if fraction > 0.02 else None)

    def _update(self, force: bool = True, **changes) -> None:
        self.state.update(changes)
        if self.cancel.is_set():
            raise Cancelled(f"job {self.job_id} cancelled")
        if not force and time.monotonic() - self._last_write < REPORT_EVERY_SECONDS:
            return
        self._timing()
        self._last_write = time.monotonic()
        if self.queue.report(self.job_id, dict(self.state)):
            self.cancel.set()
            raise Cancelled(f"job {self.job_id} cancelled")
