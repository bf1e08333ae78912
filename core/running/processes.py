"""Stopping the processes adaptlab starts (a dashboard's Streamlit server, workers) and everything they started.

    stop_processes([server, worker], grace=30)

Each is asked to stop (SIGTERM: a worker puts its running job back in the queue), then whatever is left after
`grace` seconds is killed. What they started is found before the signal and waited for too: a worker that
Streamlit started sits in a session of its own, which no signal to Streamlit's group reaches; it stops when its
parent does (`adaptlab worker --stop-with-parent`, how core.running.jobs.start_worker starts every worker).

A Streamlit server has no such flag, so whoever starts one passes `preexec_fn=stop_with_parent` (Linux): the kernel
sends it SIGTERM when its starter ends, however that ended (SIGKILL, or a test run stopped before its teardown).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time

import psutil

POLL_SECONDS = 0.1


def stop_processes(processes: list[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM each process (its whole group where it leads one), wait up to `grace` seconds for them and their
    descendants, then SIGKILL what is still running."""
    family = [child for process in processes for child in _descendants(process.pid)]
    for process in processes:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()
    while any(_running(child) for child in family) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for child in family:
        if _running(child):
            child.kill()


PR_SET_PDEATHSIG = 1  # prctl(2)


def stop_with_parent() -> None:
    """In a child between fork and exec (Popen's preexec_fn): ask the kernel for SIGTERM when the parent ends. Linux
    only; elsewhere nothing (the parent's own stop still reaches the child)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _signal(process: subprocess.Popen, signum: int) -> None:
    """Signal a running process, and the group it leads (start_new_session=True makes one) with it."""
    if process.poll() is not None:
        return
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except ProcessLookupError:  # it ended between the poll and the signal
        pass


def _running(process: psutil.Process) -> bool:
    """Whether a process still runs (a zombie, ended and waiting for its parent to read its status, does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
