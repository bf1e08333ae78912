"""Claims on runs: two processes never run the same run, and a stopped holder's run is done by another."""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from core.results.store import SqlStore
from core.running.claims import RunClaims
from core.running.grid import RunSpec
from tests.conftest import tiny_config, wait_for

ROOT = Path(__file__).resolve().parents[3]


def _record(spec: RunSpec, status: str = "finished") -> dict:
    return {"run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed, "status": status,
            "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00"}


def test_a_run_held_by_one_process_is_refused_to_another_until_it_is_stored(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    spec = RunSpec("tfidf", "8", 0)
    first, second = RunClaims(store, "e"), RunClaims(store, "e")
    assert first.take(spec.key) == "mine"
    assert second.take(spec.key) == "held"
    assert RunClaims(store, "other").take(spec.key) == "mine"  # claims are per experiment
    store.write_run("e", _record(spec), None)
    first.release(spec.key)
    assert second.take(spec.key) == "done"


def test_the_claim_of_a_silent_process_is_taken_over(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    silent = RunClaims(store, "e")  # never entered: no heartbeat, as if its process had been killed
    assert silent.take("tfidf|8|0") == "mine"
    patient = RunClaims(store, "e", stale_seconds=0.5)
    assert patient.take("tfidf|8|0") == "held"
    # once the silent claim's heartbeat is older than stale_seconds it is taken over
    wait_for(lambda: patient.take("tfidf|8|0") == "mine", timeout=30, what="the stale claim taken over")


def _each_in_a_thread(claims: RunClaims, specs: list[RunSpec]) -> tuple[threading.Thread, list[str]]:
    yielded: list[str] = []
    thread = threading.Thread(target=lambda: yielded.extend(spec.key for spec in claims.each(specs)))
    thread.start()
    return thread, yielded


def test_a_run_another_process_holds_is_waited_for_and_not_repeated(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    failing, cancelled, free = RunSpec("full", "8", 0), RunSpec("lora", "8", 0), RunSpec("tfidf", "8", 0)
    holder = RunClaims(store, "e")
    assert holder.take(failing.key) == "mine" and holder.take(cancelled.key) == "mine"
    with RunClaims(store, "e") as waiter:
        thread, yielded = _each_in_a_thread(waiter, [failing, cancelled, free])
        wait_for(lambda: yielded, timeout=60, what="the free run handed out")
        assert yielded == [free.key]  # the free run first; the held ones wait (nothing else can come yet)
        store.write_run("e", _record(failing, status="failed"), None)  # the holder's attempt failed: not redone
        holder.release(failing.key)
        holder.release(cancelled.key)  # the holder stopped without storing anything: done here
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert yielded == [free.key, cancelled.key] and waiter.elsewhere == [failing.key]


def _executed(output: str) -> int:
    found = re.search(r"(\d+) run\(s\) executed", output)
    assert found, output
    return int(found.group(1))


def test_two_cli_runs_of_one_experiment_split_the_grid_and_run_each_run_once(tmp_path):
    store = tmp_path / "r.db"
    config = tmp_path / "exp.yaml"
    # scratch trains for a few seconds a run, so both processes are in the grid at once
    config.write_text(yaml.safe_dump(tiny_config(methods=["tfidf", "scratch"], sizes=[4], seeds=[0, 1, 2])))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "core.cli", "--store", str(store), "run", str(config)]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    executed = [_executed(output) for output in outputs]
    assert sum(executed) == 6, outputs  # each of the 6 runs once, by one process or the other
    assert min(executed) >= 1, outputs  # both took part
    runs = SqlStore(store).runs_frame("tiny")
    assert len(runs) == 6 and set(runs.status) == {"finished"}
    assert all("scratch" in output and "tfidf" in output for output in outputs)  # each table shows the whole grid


def test_the_claim_of_a_process_that_has_ended_on_this_machine_is_taken_over_at_once(tmp_path):
    from core.running.claims import run_claims

    store = SqlStore(tmp_path / "r.db")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = RunClaims(store, "e")
    gone.owner = f"{gone.owner.split('/')[0]}/{int(ended.stdout)}/abcdef"  # the claim that process left behind
    assert gone.take("tfidf|8|0") == "mine"
    with store.engine.connect() as db:
        assert db.execute(run_claims.select()).first().owner == gone.owner
    assert RunClaims(store, "e").take("tfidf|8|0") == "mine"  # no waiting for its heartbeat to go stale
