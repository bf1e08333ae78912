"""Ray: each run of a grid as a Ray task, on whichever node of a cluster has what the run asks for.

    adaptlab run CONFIG --ray                 # the cluster at ADAPTLAB_RAY_ADDRESS, or a local one
    adaptlab run CONFIG --ray 10.0.0.5:6379   # a running cluster (`ray start --head` on that machine)

The driver (the `adaptlab run` process, or the dashboard's worker) plans the grid as always, submits one
task per run not yet finished, and stores each record as it comes back: only the driver writes to the
store, so a SQLite file on the driver's machine works as well as a server database, and every run is
stored once (a finished run is never written over; core.results.store). A rerun resumes as on one
machine. On each node a Ray worker process loads the task and the model once per experiment and keeps
them for the next run it is given, as a packed process does (core/running/packing.py).

What a run asks for: `ray.num_cpus` CPUs, and where the cluster has GPUs and the config does not say
`device: cpu`, 1/parallel_runs of one GPU (a fraction packs several small runs onto one device, held to
its share of the memory as packing does). A task whose worker process or node dies is retried on
another (`ray.max_retries`); a run that fails for its own reasons (bad data, out of memory) comes back as
a failed record and is not retried. Ctrl-C, or cancelling the dashboard's job, cancels the tasks still
queued or running.

Embeddings: the driver encodes the task's texts once (as on one machine) and puts the vectors in Ray's
object store; each worker seeds its cache from there instead of encoding again. The converted LLM lives
under ADAPTLAB_HOME: nodes that share that folder convert once; a node with its own converts once for
itself. The driver checks, before any run starts, that the address answers as Ray within `ray.connect_timeout`
seconds, that every node runs the same adaptlab as the driver, and that the cluster has the GPUs the runs ask
for (docs/DEPLOY.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core.cancel import check_cancelled
from core.errors import ConfigError
from core.methods import METHODS
from core.paths import adaptlab_home, now, ray_address
from core.running.executor import Grid, OneAtATime
from core.running.grid import RunSpec
from core.running.known_facts import train_categories
from core.running.packing import apply_share, device_share, packing_order

POLL_SECONDS = 0.2
NODE_ANSWER_SECONDS = 180  # for every node to start a worker and say what it runs (imports torch: slow on a cold node)


class RayClusterError(ConfigError):
    """The cluster cannot run this grid (unreachable, another adaptlab on a node, no GPU where one is asked)."""


# ---- what a node is running ------------------------------------------------------------------------------------------
def code_fingerprint() -> str:
    """adaptlab's version and a hash of its Python sources: two nodes agree only if both do."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    try:
        version = metadata.version("adaptlab")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return f"{version} ({digest.hexdigest()[:12]})"


def node_facts() -> dict:
    """Run on a node: what it has (adaptlab's fingerprint, Python, torch, its GPUs)."""
    import platform

    import torch

    return {"adaptlab": code_fingerprint(), "python": platform.python_version(), "torch": torch.__version__,
            "host": socket.gethostname(), "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0}


def where_am_i() -> dict:
    """The node a task runs on, for the run's record (and the Runs page)."""
    import ray

    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address(), "host": socket.gethostname(),
            "pid": os.getpid()}


# ---- the task ------------------------------------------------------------------------------------------------------
_LOADED: dict[str, tuple] = {}  # in a Ray worker process: the experiment it last loaded (config, task, model...)


def _loaded(config_json: dict, seconds_per_text: float, share, vectors: list, known: list | None = None):
    """The experiment this worker process runs (core.running.run.Experiment), loaded at its first run."""
    key = json.dumps(config_json, sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED.clear()  # one experiment's model at a time in a worker process
        import ray

        from core.config import parse_config
        from core.running.run import load_experiment

        config = parse_config(config_json, source="Ray run")
        experiment = load_experiment(config, seconds_per_text, on_device=lambda device: apply_share(share, device))
        # the driver's embeddings of the task's texts, read from Ray's object store once per worker process (the
        # reference comes wrapped in a list, so Ray does not fetch and unpickle it for every run): not recomputed
        model, found = ray.get(vectors[0])
        experiment.embedder.cache.put(model, found)
        from core.running.known_facts import with_categories

        with_categories(experiment.task, known)  # the driver's known-facts categories (core/running/known_facts.py)
        _LOADED[key] = experiment
    return _LOADED[key]


def run_on_node(config_json: dict, spec: RunSpec, seconds_per_text: float, share, events,
                vectors: list, known: list | None = None) -> tuple[dict, list | None]:
    """One run, in a Ray worker: load (once per experiment), execute, return the record for the driver to store."""
    import dataclasses

    from core.running.run import Progress, Run, execute_run

    experiment = _loaded(config_json, seconds_per_text, share, vectors, known)
    node = where_am_i()

    class Forward(Progress):
        def run_progress(self, spec, fraction, info):
            _put(events, ("progress", spec.key, fraction, info))

    _put(events, ("started", spec.key, node["node_id"], None))
    env = {**experiment.env, "node": node, "runs_at_once": share.runs_at_once, "executor": "ray"}
    # the same experiment (its baseline too), with this run's node in its environment
    return execute_run(Run(spec, dataclasses.replace(experiment, env=env), Forward(), price_share=share.price_share))


def _put(events, event) -> None:
    """Progress is best effort and never waits: the call to the queue's actor is sent, not awaited (a task that
    waits on another releases its CPU, and Ray would start a second worker process on the node beside it), and a
    full or lost queue never fails a run."""
    if events is None:
        return
    try:
        events.actor.put_nowait.remote(event)
    except Exception:  # noqa: BLE001 (the run's result matters, its progress line does not)
        pass


# ---- the driver ----------------------------------------------------------------------------------------------------
# Run in a child process: ask the address for the cluster's id, as Ray's own client does first. Exit 0: Ray answered;
# 3: Ray answered and refused us (a token it wants: ray.init says so in its own words). A child, because Ray's client
# waits for ever on an address that never answers as Ray and cannot be stopped from inside; its stderr (Ray's log
# lines) goes to the log file, not the user's terminal.
_PROBE = """
import sys
from ray._raylet import GcsClient
from ray.exceptions import AuthenticationError
try:
    GcsClient(address=sys.argv[1]).cluster_id
except AuthenticationError:
    sys.exit(3)
"""


def check_answers_as_ray(address: str, timeout: float) -> None:
    """A host:port address must answer, and answer as Ray, within timeout seconds, before ray.init is called."""
    target = address.removeprefix("ray://")
    if address in ("auto", "local") or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        raise RayClusterError(f"the Ray cluster at {address} does not answer ({error}); start it there with "
                              "`ray start --head` (or check the address and port, 6379 by default) and run "
                              "again") from None
    if address.startswith("ray://"):
        return  # Ray Client's own protocol (the `ray[client]` extra), which this request does not speak: not probed
    log = adaptlab_home() / "logs" / "ray.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stderr:
        probe = subprocess.Popen([sys.executable, "-c", _PROBE, target], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            answered = probe.wait(timeout=max(0.1, deadline - time.monotonic())) in (0, 3)
        except subprocess.TimeoutExpired:
            answered = False
        finally:
            probe.kill()
            probe.wait()
    if not answered:
        raise RayClusterError(f"nothing at {address} answered as a Ray cluster within {timeout:g} s (something "
                              "else listens there, or nothing gets through); check the address and port (`ray start "
                              "--head` prints them, 6379 by default), or raise ray.connect_timeout for a slow network")


def connect(address: str | None, timeout: float = 30.0) -> str:
    """Join the cluster (or start a local one); return what to call it in messages. A host:port address that does not
    answer as Ray within timeout seconds is refused before Ray is asked (check_answers_as_ray)."""
    import ray

    if address:
        check_answers_as_ray(address, timeout)
    if ray.is_initialized():
        joined = ray.get_runtime_context().gcs_address
        if not address or address in ("auto", joined):
            return address or f"the Ray cluster at {joined}"
        ray.shutdown()  # this process joined another cluster before: the one asked for now is the one used
    try:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False,
                 **({} if address else {"include_dashboard": False}))
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayClusterError(f"could not join the Ray cluster at {address or 'a new local cluster'}: {error}") \
            from None
    return address or "a local Ray cluster"


def check_nodes(where: str) -> list[dict]:
    """Every live node runs the driver's adaptlab; return their facts. Raises before any run starts."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    probe = ray.remote(node_facts)
    refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
            .remote() for node in nodes]
    deadline = time.monotonic() + NODE_ANSWER_SECONDS
    answered = []
    for node, ref in zip(nodes, refs):
        try:
            answered.append((node, ray.get(ref, timeout=max(1.0, deadline - time.monotonic()))))
        except ray.exceptions.GetTimeoutError:
            raise RayClusterError(f"not every node of {where} answered within {NODE_ANSWER_SECONDS} s (a node that "
                                  "cannot start a Python worker: check `ray status` and that adaptlab and torch are "
                                  "installed on each node)") from None
        except ray.exceptions.TaskUnschedulableError:
            continue  # the node left the cluster since it was listed (lost, or being removed): nothing runs there
    if not answered:
        raise RayClusterError(f"no node of {where} is left to run on: check `ray status`")
    nodes, facts = [node for node, _ in answered], [fact for _, fact in answered]
    mine = code_fingerprint()
    other = [(node, fact) for node, fact in zip(nodes, facts) if fact["adaptlab"] != mine]
    if other:
        node, fact = other[0]
        raise RayClusterError(f"node {fact['host']} ({node['NodeManagerAddress']}) runs adaptlab "
                              f"{fact['adaptlab']} and this driver {mine}; install the same adaptlab on every node "
                              f"of {where} ({len(other)} of {len(nodes)} differ), then run again")
    return facts


def gpu_ask(config, cluster_gpus: float, where: str) -> float:
    """The GPU share each run asks for: 1/parallel_runs of a GPU where the cluster has some and the config allows."""
    device = config.model.device
    if device == "cpu":
        return 0.0
    if cluster_gpus <= 0:
        if device == "cuda" or any(METHODS[method].needs_cuda for method in config.methods):
            raise RayClusterError(f"the config asks for a CUDA GPU (model.device: {device}, methods "
                                  f"{', '.join(config.methods)}) and {where} has none; add GPU nodes or set "
                                  "model.device: cpu")
        return 0.0
    return 1.0 / config.parallel_runs


@dataclass(frozen=True)
class Cluster:
    """The cluster a grid runs on, checked: what to call it, its nodes, and the GPU share each run asks for."""

    where: str
    nodes: list[dict]
    gpus_per_run: float


def join_cluster(config) -> Cluster:
    """Connect and check, before anything is loaded or stored: the address answers, every node runs this adaptlab,
    the cluster has the GPUs the runs ask for."""
    import ray

    where = connect(ray_address(config.ray.address), config.ray.connect_timeout)
    nodes = check_nodes(where)
    return Cluster(where, nodes, gpu_ask(config, ray.cluster_resources().get("GPU", 0), where))


@dataclass
class RayGrid:
    """The executor (core/running/executor.py) on a cluster: one Ray task per run, each record stored as it comes
    back."""

    cluster: Cluster  # joined and checked already (run_experiment does it before loading anything)

    def run(self, grid: Grid) -> None:
        mine = grid.claims.take_all(grid.todo)
        if mine:
            self._run(mine, grid)
        OneAtATime().run(grid, grid.not_handed_out(mine))

    def _run(self, todo: list[RunSpec], grid: Grid) -> None:
        import ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        config, progress, embedder = grid.config, grid.progress, grid.experiment.embedder
        where, facts, gpus = self.cluster.where, self.cluster.nodes, self.cluster.gpus_per_run
        cpus = config.ray.num_cpus
        share = device_share("cuda" if gpus else "cpu", config.parallel_runs if gpus else 1,
                             cpu_cores=max(1, int(cpus)))
        progress.message(f"{len(todo)} run(s) on {where}: {len(facts)} node(s), each run asking for "
                         f"{cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else ""))
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        events = Queue(maxsize=10_000, actor_options={"num_cpus": 0, "scheduling_strategy": here})  # beside the driver
        task = ray.remote(run_on_node).options(num_cpus=cpus, num_gpus=gpus, max_retries=config.ray.max_retries,
                                               retry_exceptions=False)
        payload = config.model_dump(mode="json")
        # the driver's warmed embeddings, once into the object store; a worker reads them when it first loads
        vectors = [ray.put((embedder.base.fingerprint, embedder.cache.held(embedder.base.fingerprint)))]
        known = train_categories(grid.experiment.task)
        pending = {task.remote(payload, spec, embedder.seconds_per_text, share, events, vectors, known): spec
                   for spec in packing_order(todo)}
        running: set[str] = set()
        try:
            while pending:
                check_cancelled()  # a cancelled job stops at once: the finally cancels its tasks
                self._drain(events, running, todo, progress)
                if grid.out_of_time():
                    grid.stop_for_budget([spec.key for spec in pending.values()])
                    break
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    spec = pending.pop(ref)
                    record, predictions = self._result(ref, spec, grid)
                    if spec.key not in running:  # finished before its "started" event was read
                        progress.run_started(spec)
                    running.discard(spec.key)
                    grid.store_run(spec, record, predictions)
        finally:
            for ref in pending:  # interrupted or over budget: what is queued or running stops; stored runs stay
                ray.cancel(ref, force=True)
            self._drain(events, running, todo, progress)
            try:
                events.shutdown()
            except Exception:  # noqa: BLE001 (its node is gone: nothing to shut down)
                pass

    def _drain(self, events, running: set[str], todo: list[RunSpec], progress) -> None:
        by_key = {spec.key: spec for spec in todo}
        while True:
            try:
                kind, key, first, second = events.get_nowait()
            except Exception:  # noqa: BLE001 (ray.util.queue.Empty, or the queue already gone)
                return
            spec = by_key.get(key)
            if spec is None:
                continue
            if kind == "started" and key not in running:
                running.add(key)
                progress.run_started(spec)
            elif kind == "progress":
                progress.run_progress(spec, first, second)

    def _result(self, ref, spec: RunSpec, grid: Grid) -> tuple[dict, list | None]:
        """The run's record, or a failed record saying why the task itself failed (retries spent, cancelled)."""
        import ray
        from ray.exceptions import RayError

        try:
            return ray.get(ref)
        except RayError as error:
            return _failed_record(spec, grid.config, grid.experiment.env, _why(error)), None


def _why(error) -> str:
    from ray.exceptions import NodeDiedError, RayTaskError, TaskCancelledError, WorkerCrashedError

    if isinstance(error, TaskCancelledError):
        return "its Ray task was cancelled"
    if isinstance(error, WorkerCrashedError | NodeDiedError):
        return ("the Ray worker or node running it died on every try (out of memory, or the node was lost); run "
                "the grid again to redo it")
    if isinstance(error, RayTaskError):  # loading the task or the model failed on the node
        cause = error.cause if getattr(error, "cause", None) is not None else error
        return f"{type(cause).__name__} on the Ray node: {cause}"
    return f"{type(error).__name__}: {error}"


def _failed_record(spec: RunSpec, config, env: dict, why: str) -> dict:
    return {"run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed,
            "size_unit": config.size_unit, "started_at": now(), "finished_at": now(), "device": env["device"],
            "environment": {**env, "executor": "ray"}, "status": "failed", "error": why}
