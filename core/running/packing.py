"""Packing: several runs of one grid at once on one device, each in its own process with a share of it.

A model the size of all-MiniLM-L6-v2 leaves an H100 mostly idle: one run's kernels are too small to
fill it, and between them the host tokenises, pads and evaluates. With `parallel_runs: N` the grid
runs in N processes at once. Each holds the base model and takes the next run from the parent;
the parent alone writes to the store, so results, resume and the grid budget work exactly as
they do one run at a time.

Each process gets a share of the device: on CUDA a 1/N slice of the GPU's memory
(`torch.cuda.set_per_process_memory_fraction`, so one run running out of memory cannot starve the
others) and on a CPU 1/N of its cores as threads. A packed run's dollars are charged at that share
of the device's hourly price; its seconds are wall seconds on a shared device, and its record says
how many runs shared it (`runs_at_once`).

The processes are spawned (CUDA cannot be forked), so a script calling run_experiment with
parallel_runs > 1 must do so under `if __name__ == "__main__":`, as with any multiprocessing.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import time
from dataclasses import dataclass

import torch

from core.cancel import check_cancelled
from core.methods import METHODS
from core.paths import now
from core.running.executor import Grid, OneAtATime
from core.running.grid import RunSpec
from core.running.known_facts import train_categories
from core.task.sizes import size_order

PARENT_POLL_SECONDS = 0.2
MEMORY_HEADROOM = 0.95  # of the GPU's memory handed out; the rest is CUDA contexts and the allocator's slack


@dataclass(frozen=True)
class DeviceShare:
    """What one of N packed processes may use."""

    runs_at_once: int
    memory_fraction: float | None  # of the GPU's memory (CUDA only)
    threads: int  # intra-op threads on the CPU side

    @property
    def price_share(self) -> float:
        return 1.0 / self.runs_at_once


def device_share(device_type: str, runs_at_once: int, cpu_cores: int | None = None) -> DeviceShare:
    """Split one device among runs_at_once processes: GPU memory on CUDA, cores on the CPU."""
    cores = cpu_cores or os.cpu_count() or 1
    threads = max(1, cores // runs_at_once)
    fraction = MEMORY_HEADROOM / runs_at_once if device_type == "cuda" else None
    return DeviceShare(runs_at_once, fraction, threads)


def apply_share(share: DeviceShare, device: torch.device) -> None:
    """Hold this process to its share (called first thing in each packed process)."""
    torch.set_num_threads(share.threads)
    if share.memory_fraction is not None and device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(share.memory_fraction, device)


def packing_order(specs: list[RunSpec]) -> list[RunSpec]:
    """Longest runs first (trained methods, larger sets), so the grid does not end on one long run."""

    def cost(spec: RunSpec) -> tuple:
        size = size_order(spec.size)
        return (METHODS[spec.method].trains_network, size)

    return sorted(specs, key=cost, reverse=True)


def _child(config_json: dict, share: DeviceShare, seconds_per_text: float, known: list | None, todo,
           events) -> None:
    """One packed process: load once, then run whatever the parent hands over until told to stop."""
    pid = os.getpid()
    try:
        from core.config import parse_config
        from core.running.known_facts import with_categories
        from core.running.run import Progress, Run, execute_run, load_experiment

        config = parse_config(config_json, source="packed run")
        experiment = load_experiment(config, seconds_per_text, on_device=lambda device: apply_share(share, device))
        experiment.env["runs_at_once"] = share.runs_at_once
        with_categories(experiment.task, known)  # the parent's known-facts categories (core/running/known_facts.py)
    except Exception as error:  # the parent reports it; the other processes may still do the grid
        events.put(("error", pid, None, f"{type(error).__name__}: {error}", None))
        return

    class Forward(Progress):
        def run_progress(self, spec, fraction, info):
            events.put(("progress", pid, spec, fraction, info))

    while True:
        spec = todo.get()
        if spec is None:
            return
        events.put(("started", pid, spec, None, None))
        record, predictions = execute_run(Run(spec, experiment, Forward(), price_share=share.price_share))
        events.put(("finished", pid, spec, record, predictions))


class PackedGrid:
    """The executor (core/running/executor.py): the runs this process can claim, parallel_runs at a time."""

    def run(self, grid: Grid) -> None:
        if len(grid.todo) < 2:  # one run packs with nothing: it runs here
            OneAtATime().run(grid)
            return
        mine = grid.claims.take_all(grid.todo)
        if mine:
            _Parent(mine, grid).run()
        OneAtATime().run(grid, grid.not_handed_out(mine))


class _Parent:
    """The parent's side: hands runs to the processes, stores what comes back, notices a process dying."""

    def __init__(self, todo: list[RunSpec], grid: Grid):
        self.grid, self.config, self.env = grid, grid.config, grid.experiment.env
        self.n = min(self.config.parallel_runs, len(todo))
        self.share = device_share(self.env["device_kind"], self.n)
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn is safe everywhere
        self.todo_queue, self.events = context.Queue(), context.Queue()
        payload = self.config.model_dump(mode="json")
        seconds_per_text = grid.experiment.embedder.seconds_per_text
        known = train_categories(grid.experiment.task)
        self.children = [context.Process(target=_child, name=f"adaptlab-packed-{i}", daemon=True,
                                         args=(payload, self.share, seconds_per_text, known, self.todo_queue,
                                               self.events))
                         for i in range(self.n)]
        self.pending = packing_order(todo)
        self.in_flight: dict[int, RunSpec] = {}  # pid -> the run that process is doing
        self.handed = 0  # runs given out and not yet finished
        self.errors: list[str] = []

    def alive(self) -> int:
        return sum(child.is_alive() for child in self.children)

    def run(self) -> None:
        progress = self.grid.progress
        for child in self.children:
            child.start()
        progress.message(f"{self.n} runs at once on {self.env['device']}, each process with 1/{self.n} of it")
        try:
            self._hand_out()
            while self.handed:
                check_cancelled()  # a cancelled job stops at once: _stop ends the processes mid-run
                self._bury_the_dead()
                try:
                    kind, pid, spec, first, second = self.events.get(timeout=PARENT_POLL_SECONDS)
                except queue_module.Empty:
                    continue
                if kind == "error":
                    self.errors.append(first)
                elif kind == "started":
                    self.in_flight[pid] = spec
                    progress.run_started(spec)
                elif kind == "progress":
                    progress.run_progress(spec, first, second)
                elif kind == "finished" and self.in_flight.pop(pid, None) is None:
                    # its process was counted dead a moment too early: the real record replaces the failed one
                    self.grid.store.write_run(self.config.name, first, second)
                    self.grid.failed -= first["status"] == "finished"
                elif kind == "finished":
                    self._store(spec, first, second)
                    self._hand_out()
        except BaseException:  # cancelled, interrupted or failed: the runs under way are dropped now, not finished
            self._stop(grace=0)
            raise
        self._stop()

    def _hand_out(self) -> None:
        while self.pending and self.handed < self.alive():
            if self.grid.out_of_time():
                self.grid.stop_for_budget([spec.key for spec in self.pending])
                self.pending.clear()
                return
            self.todo_queue.put(self.pending.pop(0))
            self.handed += 1

    def _bury_the_dead(self) -> None:
        for child in self.children:
            if not child.is_alive() and child.pid in self.in_flight:
                # killed mid-run (out of host memory, a signal): that run fails, the others go on
                lost = self.in_flight.pop(child.pid)
                self._store(lost, _lost_record(lost, self.config, self.env, child.exitcode, self.n), None)
        if (self.handed or self.pending) and not self.alive():
            why = f": {self.errors[0]}" if self.errors else ""
            raise RuntimeError(f"every packed process has stopped{why}. Finished runs are kept; lower "
                               f"parallel_runs (now {self.n}) or set it to 1 and run again")

    def _store(self, spec: RunSpec, record: dict, predictions) -> None:
        self.handed -= 1
        self.grid.store_run(spec, record, predictions)

    def _stop(self, grace: float = 10) -> None:
        for _ in self.children:
            self.todo_queue.put(None)
        deadline = time.monotonic() + grace
        for child in self.children:
            child.join(timeout=max(0.1, deadline - time.monotonic()))
            if child.is_alive():  # cancelled or interrupted mid-run: that run is dropped, stored ones stay
                child.kill()
                child.join()
        self.todo_queue.close()
        self.events.close()


def _lost_record(spec: RunSpec, config, env: dict, exitcode: int | None, n: int) -> dict:
    how = f"was killed by signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exited ({exitcode})"
    return {"run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed,
            "size_unit": config.size_unit, "started_at": now(), "finished_at": now(), "device": env["device"],
            "environment": {**env, "runs_at_once": n}, "status": "failed",
            "error": f"the process running it {how}, most likely out of memory; lower parallel_runs "
                     f"(now {n}) and run the grid again to redo it"}
