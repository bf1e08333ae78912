"""Stopping `adaptlab dashboard` (Ctrl-C, or SIGTERM from `kill` or a service manager) stops its Streamlit server
and the worker the dashboard started, as a user's machine runs them: a browser opens the page, the page starts the
worker, and the command alone is signalled. Each process is checked by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from core.results.store import SqlStore
from core.running.jobs import JobQueue
from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, SETTLED, free_port, stop, wait_healthy
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,  # the page starts the worker only when a browser opens it
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the page runs (and starts its worker) only in a browser"),
]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _open_page(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector(SETTLED, timeout=120_000)
        finally:
            browser.close()


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_stopping_adaptlab_dashboard_stops_its_server_and_its_worker(tmp_path, how):
    home = tmp_path / "home"
    env = {**os.environ, "ADAPTLAB_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    for name in ("ADAPTLAB_STORE", "ADAPTLAB_AUTOSTART_WORKER"):  # the page starts its worker, as for a user
        env.pop(name, None)
    port = free_port()
    with (tmp_path / "dashboard.log").open("wb") as log:  # in a group of its own, as a terminal runs a command
        cli = subprocess.Popen([sys.executable, "-m", "core.cli", "dashboard", "--port", str(port), "--address",
                                "127.0.0.1"], cwd=ROOT, env=env, start_new_session=True, stdout=log,
                               stderr=subprocess.STDOUT)
    family: list[psutil.Process] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, cli, 120)
        _open_page(url)
        queue = JobQueue(SqlStore(home / "results.db"))
        wait_for(lambda: not queue.alive_workers().empty, timeout=300, every=0.5, what="the page's worker")
        worker = int(queue.alive_workers().pid.iloc[0])
        family = psutil.Process(cli.pid).children(recursive=True)
        server = [p.pid for p in psutil.Process(cli.pid).children() if "streamlit" in " ".join(p.cmdline())]
        assert len(server) == 1 and worker in [p.pid for p in family], [p.cmdline() for p in family]

        if how == "SIGTERM":
            os.kill(cli.pid, signal.SIGTERM)  # `kill PID`: the command alone
        else:
            os.killpg(cli.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the command's process group
        cli.wait(timeout=120)
        wait_for(lambda: not any(_running(p) for p in family), timeout=60, every=0.2,
                 what="the dashboard's server and worker to stop")
        assert not psutil.pid_exists(server[0]) or not _running(psutil.Process(server[0]))
        assert queue.alive_workers().empty  # the worker retired itself (stopped, not killed)
    finally:
        stop([cli], grace=20)
        for process in family:
            if _running(process):
                process.kill()
