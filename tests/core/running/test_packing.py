"""Packing several runs onto one device: the share arithmetic, the order, and real packed grids on the CPU."""

import multiprocessing
import os
import signal

import pytest
import torch

from core.config import parse_config
from core.results.store import SqlStore
from core.running.grid import RunSpec
from core.running.packing import MEMORY_HEADROOM, apply_share, device_share, packing_order
from core.running.run import Progress
from core.running.runner import load_results, run_experiment
from tests.conftest import tiny_config


def test_each_packed_process_gets_its_share_of_gpu_memory_and_cores():
    gpu = device_share("cuda", 4, cpu_cores=16)
    assert gpu.memory_fraction == pytest.approx(MEMORY_HEADROOM / 4) and gpu.threads == 4
    assert gpu.price_share == 0.25
    cpu = device_share("cpu", 2, cpu_cores=2)
    assert cpu.memory_fraction is None and cpu.threads == 1
    assert device_share("cpu", 8, cpu_cores=2).threads == 1  # never zero threads


def test_applying_a_share_caps_gpu_memory_and_threads(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda f, d: calls.append((f, str(d))))
    threads = torch.get_num_threads()
    try:
        apply_share(device_share("cuda", 4, cpu_cores=8), torch.device("cuda"))
        assert calls == [(pytest.approx(MEMORY_HEADROOM / 4), "cuda")] and torch.get_num_threads() == 2
        apply_share(device_share("cpu", 2, cpu_cores=2), torch.device("cpu"))
        assert len(calls) == 1  # no GPU, no memory cap
    finally:
        torch.set_num_threads(threads)


def test_long_runs_go_first_so_the_grid_does_not_end_on_one():
    specs = [RunSpec("prompt", "0", 0), RunSpec("lora", "8", 0), RunSpec("tfidf", "128", 0),
             RunSpec("full", "128", 0), RunSpec("scratch", "all", 0)]
    assert [s.key for s in packing_order(specs)] == ["scratch|all|0", "full|128|0", "lora|8|0", "tfidf|128|0",
                                                     "prompt|0|0"]


def test_a_packed_grid_stores_every_run_with_its_share_and_the_same_predictions(tmp_path):
    methods = ["prompt", "probe", "tfidf", "lora"]
    store = SqlStore(tmp_path / "r.db")
    one = run_experiment(parse_config(tiny_config("one-at-a-time", methods=methods)), store)
    two = run_experiment(parse_config(tiny_config("packed", methods=methods, parallel_runs=2)), store)
    assert two.executed == one.executed == 7 and two.failed == 0 and two.skipped == 0
    sequential = load_results("one-at-a-time", store, with_predictions=True).set_index("run_key")
    packed = load_results("packed", store, with_predictions=True).set_index("run_key")
    assert sorted(packed.index) == sorted(sequential.index)
    for key, run in packed.iterrows():
        assert run.record["runs_at_once"] == 2 and sequential.loc[key].record["runs_at_once"] == 1
        price = run.record["price_per_hour"]
        assert price == pytest.approx(sequential.loc[key].record["price_per_hour"] / 2)
        assert run.train_dollars == pytest.approx(run.train_seconds / 3600 * price)
        if not key.startswith("lora"):  # nothing random in these: packing must not change a prediction
            assert run.predictions == sequential.loc[key].predictions, key


class KillEveryProcess(Progress):
    """Kills the packed processes as soon as a run is under way: out of memory, as the kernel would."""

    def __init__(self):
        self.killed = False

    def run_started(self, spec):
        if not self.killed:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
            self.killed = True


def test_killed_packed_processes_fail_their_runs_in_words_and_the_grid_resumes(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    config = parse_config(tiny_config("killed", methods=["lora", "tfidf"], parallel_runs=2))
    with pytest.raises(RuntimeError, match="every packed process has stopped.*lower parallel_runs"):
        run_experiment(config, store, KillEveryProcess())
    runs = load_results("killed", store)
    assert len(runs) >= 1 and (runs.status == "failed").all()
    assert runs.error.str.contains("killed by signal 9, most likely out of memory; lower parallel_runs").all()
    again = run_experiment(parse_config(tiny_config("killed", methods=["lora", "tfidf"])), store)
    assert again.failed == 0 and len(again.runs) == 4 and (again.runs.status == "finished").all()


def test_a_packed_grid_stops_handing_out_runs_when_the_grid_budget_is_spent(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    config = parse_config(tiny_config("budgeted", methods=["tfidf", "probe"], seeds=[0, 1], parallel_runs=2,
                                      grid_budget={"max_seconds": 0.001}))
    result = run_experiment(config, store)
    assert result.over_budget and result.executed + len(result.over_budget) == 8
    assert len(load_results("budgeted", store)) == result.executed  # what ran is stored, nothing else
