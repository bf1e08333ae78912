"""Ray's overhead: the quick grid on a local two-node Ray cluster against the same grid in one process.

    python bench/ray_overhead.py                      # `adaptlab demo fortunes --quick`'s grid, both ways
    python bench/ray_overhead.py --methods probe tfidf --sizes 8    # a smaller grid

The peer is adaptlab in one process (`executor: local`): what a user runs without a cluster. Each side
gets a fresh ADAPTLAB_HOME and store, so both encode the texts and load the model themselves. The Ray
side starts a cluster of two nodes (`ray.cluster_utils.Cluster`, each node with half the machine's
CPUs) before the clock starts, as a cluster is up before a grid is sent to it; its time then counts
the checks, shipping the config, each Ray worker loading the model once, and results flowing back.
The figure: Ray's wall time over the single process's (goal: at most 1.15x on the 2-core machine),
and the mean accuracy each way (Ray must not change what a run learns).
"""

from __future__ import annotations

import argparse
import os
import tempfile

from common import save, timed_grid


def grid_config(args, name: str, executor: str) -> dict:
    from core.task.scenarios import demo_config

    config = demo_config("fortunes", quick=True)
    config.update(name=name, executor=executor)
    if args.methods:
        config["methods"] = args.methods
    if args.sizes:
        config["sizes"] = args.sizes
    return config


def run(args, executor: str) -> tuple[float, object]:
    return timed_grid(grid_config(args, f"bench-ray-{executor}", executor), f"executor {executor}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=None, help="default: the quick demo's")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="default: the quick demo's (8, 32)")
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    local_seconds, local = run(args, "local")
    cpus = max(1, (os.cpu_count() or 2) // args.nodes)
    worker_home = tempfile.mkdtemp(prefix="bench-ray-nodes-")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=cpus)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, runtime_env={"env_vars": {"ADAPTLAB_HOME": worker_home}},
             logging_level="WARNING", log_to_driver=False)
    try:
        ray_seconds, on_ray = run(args, "ray")
    finally:
        ray.shutdown()
        cluster.shutdown()
    nodes = {record["environment"]["node"]["node_id"] for record in on_ray.record}
    command = "python bench/ray_overhead.py" + (f" --methods {' '.join(args.methods)}" if args.methods else "") + \
        (f" --sizes {' '.join(map(str, args.sizes))}" if args.sizes else "") + \
        (f" --nodes {args.nodes}" if args.nodes != 2 else "")
    save("ray_overhead", command,
         "the quick grid on a local two-node Ray cluster within 1.15x of the same grid in one process (2-core CPU)",
         {"runs": len(on_ray), "nodes": args.nodes, "cpus_per_node": cpus, "nodes_that_ran_runs": len(nodes),
          "one_process_seconds": local_seconds, "ray_seconds": ray_seconds,
          "ray_over_one_process": ray_seconds / local_seconds,
          "one_process_accuracy": float(local.accuracy.mean()), "ray_accuracy": float(on_ray.accuracy.mean())},
         notes="cluster started before the clock; fresh ADAPTLAB_HOME and store each side; Ray's nodes share the "
               "machine's cores (each run on one node uses that node's CPUs as threads)")


if __name__ == "__main__":
    main()
