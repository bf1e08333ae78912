"""Load: two users launch grids at once while N browser sessions keep reading the Compare page.

Everything real and on loopback: Streamlit's own server (`streamlit run dashboard/web.py`), two
`adaptlab worker` processes (so both grids write to the results database at the same time), and
headless Chromium with one browser context per session, each reloading Compare until both grids end.
It reports what held: runs planned and stored (rows lost), page loads, errors on screen, database
lock errors in any log, SQLite's integrity check, and page-load latency.

    python bench/load.py                      # 20 sessions, bench/results/load.json
    python bench/load.py --sessions 5 --seconds 300

tests/dashboard/test_load.py runs the same function in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.running.jobs import start_worker  # noqa: E402
from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, SETTLED, free_port, start_streamlit, stop, wait_healthy  # noqa: E402

LOCK_WORDS = ("database is locked", "database table is locked", "sqlite3.OperationalError")


def grid(name: str, seeds: list[int]) -> dict:
    """A small real grid: fortunes, 40 per class, the methods that run in seconds on a CPU."""
    return {"name": name, "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
            "model": {"max_length": 48}, "methods": ["prompt", "probe", "tfidf"], "sizes": [4, 8], "seeds": seeds,
            "budget": {"max_epochs": 1, "min_steps": 2}, "training": {"batch_size": 8}, "forgetting": "off"}


async def _session(browser, url: str, index: int, done: asyncio.Event, tally: dict) -> None:
    """One reader: open Compare, then reload it again and again until the grids are over, checking each load."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        while True:
            last = done.is_set()
            started = time.perf_counter()
            try:
                await page.goto(f"{url}/compare", wait_until="domcontentloaded", timeout=120_000)
                await page.get_by_role("heading", name="Compare", exact=True).first.wait_for(timeout=120_000)
                await page.wait_for_selector(SETTLED, timeout=120_000)
            except Exception as problem:  # a page that never came is a failure of the load test, counted
                tally["errors"].append(f"session {index}: page did not load: {type(problem).__name__}")
                continue
            tally["latencies"].append(time.perf_counter() - started)
            tally["loads"] += 1
            body = await page.inner_text("body")
            if await page.locator('[data-testid="stException"]').count() or "Traceback" in body:
                tally["errors"].append(f"session {index}: an exception on screen")
            if any(word in body for word in LOCK_WORDS):
                tally["errors"].append(f"session {index}: a database lock error on screen")
            if last:  # the grids are over: this reader must now see the results table (it may still be computing)
                try:
                    await page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
                    tally["final_tables"] += 1
                except Exception:
                    tally["errors"].append(f"session {index}: no results table after both grids finished")
                return
            await asyncio.sleep(0.5)
    finally:
        await context.close()


async def _read_while(url: str, sessions: int, finished, deadline: float, tally: dict) -> None:
    from playwright.async_api import async_playwright

    done = asyncio.Event()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            readers = [asyncio.create_task(_session(browser, url, i, done, tally)) for i in range(sessions)]
            while not finished() and time.monotonic() < deadline:
                await asyncio.sleep(1)
            done.set()
            await asyncio.wait_for(asyncio.gather(*readers), timeout=300)
        finally:
            await browser.close()


def run_load(sessions: int = 20, seconds: float = 900, seeds: int = 3, home: Path | None = None) -> dict:
    """Drive the load; return what held. Raises nothing for a failed check: the report says it."""
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.jobs import JobQueue

    home = Path(home or tempfile.mkdtemp(prefix="adaptlab-load-"))
    env = {**os.environ, "ADAPTLAB_HOME": str(home), "ADAPTLAB_AUTOSTART_WORKER": "0", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("ADAPTLAB_STORE", None)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    store = SqlStore(home / "results.db")
    queue = JobQueue(store)
    configs = [parse_config(grid(f"load-user-{who}", list(range(seeds)))) for who in ("a", "b")]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = [start_streamlit(port, env, logs / "streamlit.log")]
    for number in (1, 2):  # two workers and two CPU slots: both grids write at the same time
        processes.append(start_worker(env, logs / f"worker-{number}.log", "--cpu-jobs", "2", "--max-jobs", "1"))
    tally = {"loads": 0, "errors": [], "latencies": [], "final_tables": 0}
    started = time.monotonic()
    try:
        wait_healthy(url, processes[0])
        job_ids = [queue.submit(config, resource="cpu") for config in configs]  # what Launch does, twice at once

        def finished() -> bool:
            return all(queue.job(job)["status"] in ("finished", "failed", "cancelled") for job in job_ids)

        asyncio.run(_read_while(url, sessions, finished, started + seconds, tally))
        jobs = [queue.job(job) for job in job_ids]
    finally:
        stop(processes)
    planned = {config.name: 1 + len(config.sizes) * len(config.seeds) * (len(config.methods) - 1) for config in configs}
    stored = {name: int((store.runs_frame(name).status == "finished").sum()) for name in planned}
    log_text = "".join(path.read_text(errors="replace") for path in logs.glob("*.log"))
    latencies = sorted(tally["latencies"])
    return {
        "sessions": sessions, "grids": len(configs), "seconds": round(time.monotonic() - started, 1),
        "jobs": {job["experiment"]: job["status"] for job in jobs},
        "runs_planned": sum(planned.values()), "runs_stored": sum(stored.values()),
        "rows_lost": sum(planned.values()) - sum(stored.values()),
        "page_loads": tally["loads"], "page_errors": tally["errors"][:20], "page_error_count": len(tally["errors"]),
        "sessions_showing_results_at_the_end": tally["final_tables"],
        "lock_errors_in_logs": sum(log_text.count(word) for word in LOCK_WORDS),
        "tracebacks_in_logs": log_text.count("Traceback"),
        "integrity_check": store.integrity_check(),
        "page_load_seconds": {"median": round(statistics.median(latencies), 2) if latencies else None,
                              "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None},
        "home": str(home),
    }


def held(report: dict) -> bool:
    return (all(status == "finished" for status in report["jobs"].values()) and report["rows_lost"] == 0
            and report["page_error_count"] == 0 and report["lock_errors_in_logs"] == 0
            and report["tracebacks_in_logs"] == 0 and report["integrity_check"] == "ok"
            and report["sessions_showing_results_at_the_end"] == report["sessions"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=900, help="give up after this long")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per grid (each adds 4 runs)")
    args = parser.parse_args()
    from bench.common import save

    report = run_load(args.sessions, args.seconds, args.seeds)
    report["held"] = held(report)
    save("load", f"python bench/load.py --sessions {args.sessions} --seeds {args.seeds}",
         "two grids at once with 20 sessions reading Compare: both complete, 0 rows lost, 0 lock errors", report,
         notes="a reliability figure, not a speed one: timings here share 2 cores between Chromium, "
               "Streamlit and two workers")
    return 0 if report["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
