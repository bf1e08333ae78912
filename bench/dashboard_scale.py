"""The dashboard at 1,000 and 10,000 runs: how long Compare, Cost, Negative transfer, Report and Runs take.

    python bench/dashboard_scale.py                  # 1,000 and 10,000 runs grown from demo-fortunes in ADAPTLAB_HOME
    python bench/dashboard_scale.py --runs 1000 --source ~/.adaptlab/results.db --experiment demo-fortunes
    python bench/dashboard_scale.py generate --runs 10000 --out /tmp/scale-10k   # the store alone, to look at

Each store holds one experiment grown from a real one's finished runs: every (method, size) cell gets more seeds,
each new run a real run of that cell with a few of its test predictions changed at random (its accuracy, F1 and
intervals recomputed from them by adaptlab's own scorer) and its costs scaled by a few percent, so the analysis sees
the spread of real seeds. For each store and page it measures

  server   the page's script run through Streamlit's AppTest: cold (every cache cleared, as when the store has just
           changed; the modules already imported) and warm (the store unchanged: what every later view costs)
  browser  headless Chromium from navigation to the page settled (the script done, every chart drawn), the first
           visit after the server started and a second one

and checks that a page shows the same numbers cold and warm. Writes bench/results/dashboard_scale-cpu.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import machine, save  # noqa: E402

PAGES = ("compare", "cost", "negative_transfer", "report", "runs")
SCALED = "scale-{runs}"  # the grown experiment's name


def grow(source: Path, experiment: str, runs: int, out: Path, seed: int = 0) -> str:
    """A store at out/results.db holding `experiment` grown to `runs` runs (see the module's docstring); returns
    the new experiment's name. Refuses a source without finished classification runs, in words."""
    import numpy as np

    from core.errors import AdaptlabError
    from core.evaluation.metrics import classification_metrics
    from core.results.store import SqlStore
    from core.task.sizes import NO_TRAINING_DATA

    if not Path(source).is_file():
        raise AdaptlabError(f"no results store at {source}: run `adaptlab demo fortunes` first, or pass --source")
    real = SqlStore(source)
    stored = real.experiment(experiment)
    if (stored.get("task") or {}).get("kind", "classification") != "classification":
        raise AdaptlabError(f"'{experiment}' answers questions; grow a classification experiment (demo-fortunes)")
    frame = real.runs_frame(experiment, with_predictions=True)
    frame = frame[(frame.status == "finished") & frame.predictions.notna()]
    if frame.empty:
        raise AdaptlabError(f"'{experiment}' has no finished runs with predictions to grow from")
    labels, truth = stored["labels"], np.asarray(stored["test_labels"])
    # a method without training data runs once in a grid (prompt): it stays one run; the trained cells grow
    once = frame[frame["size"] == NO_TRAINING_DATA]
    trained = frame[frame["size"] != NO_TRAINING_DATA]
    cells = {key: group.sort_values("seed") for key, group in trained.groupby(["method", "size"], sort=False)}
    if not cells or runs < len(once) + len(cells):
        raise AdaptlabError(f"'{experiment}' grows to at least {len(once) + len(cells)} runs (one per cell), "
                            f"not {runs}")
    name = SCALED.format(runs=runs)
    out.mkdir(parents=True, exist_ok=True)
    store = SqlStore(out / "results.db")
    config = {**stored["config"], "name": name}
    store.register_experiment(name, config, "grown-from-" + experiment, labels, truth.tolist(),
                              stored.get("task") or {})
    rng = np.random.default_rng(seed)
    for source_run in once.itertuples():
        store.write_run(name, dict(source_run.record), list(source_run.predictions))
    written = len(once)
    for copy in range(-(-(runs - written) // len(cells))):
        for (method, size), group in cells.items():
            if written == runs:
                return name
            source_run = group.iloc[copy % len(group)]
            record = dict(source_run.record)
            predictions = np.asarray(source_run.predictions)
            if copy >= len(group):  # a new seed: a few predictions changed, costs within a few percent
                changed = rng.random(len(predictions)) < rng.uniform(0.0, 0.06)
                predictions = np.where(changed, rng.integers(0, len(labels), len(predictions)), predictions)
                for cost in ("train_seconds", "inference_seconds_per_1k", "train_dollars", "inference_dollars_per_1k",
                             "peak_memory_mb"):
                    if isinstance(record.get(cost), (int, float)):
                        record[cost] = float(record[cost]) * float(rng.lognormal(0.0, 0.05))
            record.update(classification_metrics(truth, predictions, labels))
            record.update(seed=copy, run_key=f"{method}|{size}|{copy}", status="finished")
            store.write_run(name, record, predictions.tolist())
            written += 1
    return name


def _page_numbers(app) -> list[str]:
    """What a page shows that a reader takes as a figure: metrics, tables and text, in order."""
    shown = [f"{m.label}={m.value}" for m in app.metric]
    shown += [frame.value.to_csv(index=False) for frame in app.dataframe]
    shown += [item.value for item in (*app.markdown, *app.caption) if any(ch.isdigit() for ch in item.value)]
    return shown


def server_times(home: Path, name: str, repeats: int = 3) -> dict:
    """Per page: the script's run in AppTest cold (every cache cleared) and warm (median of `repeats` reruns)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(ADAPTLAB_HOME=str(home), ADAPTLAB_AUTOSTART_WORKER="0")
    os.environ.pop("ADAPTLAB_STORE", None)
    out = {}
    # the server's modules imported and plotly's lazy ones loaded once, as on a server that has shown a page: cold
    # below is a store that changed, not a server starting
    AppTest.from_string("from dashboard.app import main\nmain(start='compare')", default_timeout=600).run()
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        app = AppTest.from_string(f"from dashboard.app import main\nmain(start={page!r})", default_timeout=600)
        app.session_state["shared.experiment"] = name
        started = time.perf_counter()
        app.run()
        cold = time.perf_counter() - started
        if app.exception:
            raise RuntimeError(f"{page}: {[e.value for e in app.exception]}")
        first = _page_numbers(app)
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            app.run()
            warm.append(time.perf_counter() - started)
        out[page] = {"cold_seconds": round(cold, 3), "warm_seconds": round(statistics.median(warm), 3),
                     "same_numbers_cold_and_warm": _page_numbers(app) == first}
    return out


def browser_times(home: Path, name: str) -> dict:
    """Per page: Chromium's time from navigation to settled, on the first visit after start and on a second."""
    from playwright.sync_api import sync_playwright

    from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, free_port, start_streamlit, stop, wait_healthy

    env = {**os.environ, "ADAPTLAB_HOME": str(home), "ADAPTLAB_AUTOSTART_WORKER": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("ADAPTLAB_STORE", None)
    port = free_port()
    process = start_streamlit(port, env, home / "streamlit.log")
    url = f"http://127.0.0.1:{port}"
    out = {}
    try:
        wait_healthy(url, process, 120)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name_ in PAGES:
                times = []
                for _ in range(2):
                    started = time.perf_counter()
                    page.goto(f"{url}/{name_.replace('_', '-')}", wait_until="domcontentloaded", timeout=600_000)
                    settle(page)
                    times.append(time.perf_counter() - started)
                out[name_] = {"first_visit_seconds": round(times[0], 2), "again_seconds": round(times[1], 2)}
            browser.close()
    finally:
        stop([process], grace=20)
    return out


def settle(page, timeout_ms: int = 600_000) -> None:
    """Wait until the script has finished its run, with the page's title drawn, and every plotly chart drawn."""
    from dashboard.serve import SETTLED

    page.wait_for_selector(f"{SETTLED} h1", timeout=timeout_ms)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))",
        timeout=timeout_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=["measure", "generate"], default="measure")
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--source", type=Path,
                        default=Path(os.environ.get("ADAPTLAB_HOME", Path.home() / ".adaptlab")) / "results.db")
    parser.add_argument("--experiment", default="demo-fortunes")
    parser.add_argument("--out", type=Path, help="generate: the folder for the store (a temporary one otherwise)")
    parser.add_argument("--no-browser", action="store_true", help="server times only")
    args = parser.parse_args()
    from core.errors import AdaptlabError

    try:
        if args.action == "generate":
            for runs in args.runs:
                out = args.out if len(args.runs) == 1 and args.out else Path(tempfile.mkdtemp(prefix=f"scale-{runs}-"))
                name = grow(args.source, args.experiment, runs, out)
                print(f"{runs} runs as '{name}' in {out / 'results.db'} (ADAPTLAB_HOME={out} adaptlab dashboard)")
            return 0
        figures = {}
        for runs in args.runs:
            home = Path(tempfile.mkdtemp(prefix=f"scale-{runs}-"))
            started = time.perf_counter()
            name = grow(args.source, args.experiment, runs, home)
            print(f"{runs} runs grown from {args.experiment} in {time.perf_counter() - started:.0f} s", flush=True)
            entry = {"server": server_times(home, name)}
            print(runs, "server", entry["server"], flush=True)
            if not args.no_browser:
                entry["browser"] = browser_times(home, name)
                print(runs, "browser", entry["browser"], flush=True)
            figures[f"runs_{runs}"] = entry
            shutil.rmtree(home, ignore_errors=True)
    except AdaptlabError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    runs = " ".join(map(str, args.runs))
    save("dashboard_scale", f"python bench/dashboard_scale.py --runs {runs} --experiment {args.experiment}",
         "server time at most 1 s at 1,000 runs and 3 s at 10,000; the same numbers cold and warm", figures,
         notes=f"grown from '{args.experiment}'; machine: {machine()['cpu_cores']} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
