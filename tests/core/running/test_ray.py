"""A grid on a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster): runs spread over the
nodes, each stored once, a lost node's runs retried elsewhere, and a cluster that cannot run the grid refused in
one sentence before any run starts."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from core.config import parse_config
from core.results.store import SqlStore
from core.running.runner import run_experiment
from tests.conftest import tiny_config

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'adaptlab[ray]'")

WORKERS = 2  # beside a head that runs no runs (0 CPUs): each run asks for one CPU, so two run at once


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    home = tmp_path_factory.mktemp("ray-workers-home")  # the nodes' caches, apart from the driver's per-test home
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 * 2**20})
    workers = [cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20) for _ in range(WORKERS)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, runtime_env={"env_vars": {"ADAPTLAB_HOME": str(home)}},
             logging_level="WARNING", log_to_driver=False)
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def ray_config(name: str, **overrides) -> dict:
    return tiny_config(name, **{"executor": "ray", "methods": ["probe", "tfidf", "rag"], "sizes": [4, 8],
                                "seeds": [0, 1], **overrides})


def nodes_of(store: SqlStore, name: str) -> set[str]:
    runs = store.runs_frame(name)
    return {record["environment"]["node"]["node_id"] for record in runs.record}


def test_a_grid_spreads_over_the_nodes_and_every_run_is_stored_once(cluster):
    store = SqlStore()
    config = parse_config(ray_config("on-ray"))
    result = run_experiment(config, store)
    runs = store.runs_frame("on-ray")
    assert result.executed == 12 and result.failed == 0 and len(runs) == 12 and runs.run_key.is_unique
    assert (runs.status == "finished").all()
    assert len(nodes_of(store, "on-ray")) >= 2  # more than one node ran runs
    assert {record["environment"]["executor"] for record in runs.record} == {"ray"}
    again = run_experiment(parse_config(ray_config("on-ray")), store)  # a rerun resumes: nothing to do
    assert again.executed == 0 and again.skipped == 12 and len(store.runs_frame("on-ray")) == 12


def test_a_node_lost_mid_grid_has_its_runs_retried_on_another_and_nothing_is_lost_or_doubled(cluster):
    from core.running.run import Progress

    cluster_, workers = cluster
    store = SqlStore()
    removed = []

    class RemoveANode(Progress):
        """At the first run under way, take a worker node away (a machine lost to the cluster). Every worker has a
        run in flight from the start (eight runs, two one-CPU workers); a small run may finish on it before it
        goes, and that one is legitimately stored as its."""

        def run_started(self, spec):
            if not removed:
                node = workers.pop()
                removed.append(node.node_id)
                cluster_.remove_node(node, allow_graceful=False)
                removed.append(pd.Timestamp.now(tz="UTC"))

    config = parse_config(ray_config("node-lost", methods=["probe", "tfidf"], sizes=[4], seeds=[0, 1, 2, 3]))
    result = run_experiment(config, store, RemoveANode())
    runs = store.runs_frame("node-lost")
    assert removed and len(runs) == 8 and runs.run_key.is_unique  # each run stored once
    assert result.executed == 8 and (runs.status == "finished").all(), runs[runs.status != "finished"].error.tolist()
    # nothing finished on the lost node after it was gone: what it had in flight was done again on the other node
    on_lost = runs[[record["environment"]["node"]["node_id"] == removed[0] for record in runs.record]]
    finished = pd.to_datetime(on_lost.finished_at, utc=True)
    assert (finished <= removed[1] + pd.Timedelta(seconds=1)).all(), on_lost.finished_at
    assert len(on_lost) < len(runs) and nodes_of(store, "node-lost") - {removed[0]}  # the other node ran the rest
    deadline = time.monotonic() + 60  # the cluster's own view of the lost node catches up in its own time
    while sum(node["Alive"] for node in ray.nodes()) != WORKERS and time.monotonic() < deadline:
        time.sleep(1)
    assert sum(node["Alive"] for node in ray.nodes()) == WORKERS  # the head and the one worker left


def test_another_adaptlab_on_a_node_is_refused_before_any_run_starts(cluster, monkeypatch):
    from core.errors import ConfigError
    from core.running import ray_grid

    monkeypatch.setattr(ray_grid, "code_fingerprint", lambda: "0.0-other (driver)")  # the nodes keep the real one
    store = SqlStore()
    with pytest.raises(ConfigError, match="install the same adaptlab on every node"):
        run_experiment(parse_config(ray_config("mismatch")), store)
    assert "mismatch" not in set(store.experiments().name)  # refused before anything is stored


def test_an_unreachable_address_is_one_sentence_and_exit_2(tmp_path, capsys):
    import yaml

    from core.cli import main

    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(tiny_config("unreachable")))
    assert main(["run", str(path), "--ray", "127.0.0.1:9"]) == 2  # nothing listens on the discard port
    err = capsys.readouterr().err
    assert "the Ray cluster at 127.0.0.1:9 does not answer" in err and "ray start --head" in err
    assert "unreachable" not in set(SqlStore().experiments().name)  # refused before anything is stored


@pytest.fixture
def not_ray():
    """Two real servers on loopback that are not Ray: a listener that accepts and never answers, and an HTTP server."""
    import http.server
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel accepts connections; nothing ever reads or answers
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # this test reads stderr: only adaptlab's sentence may be there
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield {"silent": f"127.0.0.1:{silent.getsockname()[1]}", "http": f"127.0.0.1:{web.server_address[1]}"}
    web.shutdown()
    web.server_close()
    silent.close()


@pytest.mark.parametrize("server", ["silent", "http"])
def test_an_address_that_answers_but_not_as_ray_gives_up_in_the_set_time_with_one_sentence(
        tmp_path, capfd, adaptlab_home, not_ray, server):
    """It used to hang in ray.init forever; Ray's own log (C++, on the process's stderr) goes to a log file."""
    import yaml

    from core.cli import main

    address = not_ray[server]
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(tiny_config("not-ray", ray={"connect_timeout": 3})))  # short: the suite stays fast
    capfd.readouterr()
    assert main(["run", str(path), "--ray", address]) == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1, err  # the sentence alone
    assert f"nothing at {address} answered as a Ray cluster within 3 s" in err and "ray.connect_timeout" in err
    assert "Traceback" not in err
    assert "not-ray" not in set(SqlStore().experiments().name)  # refused before anything is stored
    assert (adaptlab_home / "logs" / "ray.log").exists()  # where Ray's own lines went


def test_a_dashboard_job_on_a_silent_address_fails_in_the_set_time_with_the_sentence(tmp_path, not_ray):
    """The dashboard queues, the worker connects: the job ends failed, in words, with nothing stored."""
    from core.running.jobs import JobQueue
    from core.running.worker import serve

    store = SqlStore(tmp_path / "r.db")
    config = tiny_config("not-ray", executor="ray", ray={"address": not_ray["silent"], "connect_timeout": 3})
    job_id = JobQueue(store).submit(parse_config(config), resource="cpu")
    assert serve(store, max_jobs=1, poll_seconds=0.05) == 1
    job = JobQueue(store).job(job_id)
    assert job["status"] == "failed" and f"nothing at {not_ray['silent']} answered as a Ray cluster" in job["error"]
    assert "not-ray" not in set(store.experiments().name)


def test_runs_ask_for_a_gpu_share_only_where_the_cluster_has_gpus():
    from core.errors import ConfigError
    from core.running.ray_grid import gpu_ask

    config = parse_config(tiny_config("gpus", parallel_runs=4))
    assert gpu_ask(config, cluster_gpus=8, where="c") == 0.25  # four runs packed onto each GPU
    assert gpu_ask(config, cluster_gpus=0, where="c") == 0.0  # device auto on a CPU cluster: CPUs only
    on_cpu = parse_config(tiny_config("cpu", model={"max_length": 48, "device": "cpu"}))
    assert gpu_ask(on_cpu, cluster_gpus=8, where="c") == 0.0
    wants_cuda = parse_config(tiny_config("cuda", model={"max_length": 48, "device": "cuda"}))
    with pytest.raises(ConfigError, match="asks for a CUDA GPU .* and c has none"):
        gpu_ask(wants_cuda, cluster_gpus=0, where="c")
    # a method whose spec says it needs CUDA (qlora) asks for one whatever the device setting
    needs_cuda = parse_config(tiny_config("qlora", methods=["qlora"]))
    with pytest.raises(ConfigError, match="asks for a CUDA GPU .*methods qlora.* and c has none"):
        gpu_ask(needs_cuda, cluster_gpus=0, where="c")
