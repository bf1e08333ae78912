"""Cancel means stop: a cancelled job's run stops at its next step boundary, not when it would have finished.

The worker holds a job's cancel flag (a threading.Event its heartbeat thread sets within a second of the
user pressing Cancel) and runs the job inside `cancellable(flag)`. The loops that take time call
`check_cancelled()` between steps: each training step (core/training/loop.py), each inference batch
(core/backbone/batching.py, core/backbone/lm.py), each poll of a packed or Ray grid. It reads one Event, so
it costs nothing beside a step. Outside `cancellable` (the CLI, the tests, a packed or Ray process) it never
raises: Ctrl-C stops those.

The Cancelled it raises unwinds the run unstored (core/running/run.py lets it through), and the worker
marks the job cancelled; the runs finished before it stay, so running the job again resumes with the
cancelled one.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from core.errors import Cancelled

_flag: threading.Event | None = None  # the running job's; one job at a time per process


@contextmanager
def cancellable(flag: threading.Event):
    """Within this block, check_cancelled() raises Cancelled once `flag` is set."""
    global _flag
    previous, _flag = _flag, flag
    try:
        yield
    finally:
        _flag = previous


def check_cancelled() -> None:
    """Raise Cancelled if the job running in this process was cancelled: called at every step boundary."""
    if _flag is not None and _flag.is_set():
        raise Cancelled("the job was cancelled")
