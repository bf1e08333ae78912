"""Serving the dashboard on loopback, for the browser test, the load benchmark and the screenshots: Streamlit's own
server, started and stopped as a process group, and the Chromium that drives it.

A worker beside it: core.running.jobs.start_worker (stop() stops it too, and any worker Streamlit started). Nothing
here imports streamlit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.running.processes import stop_processes, stop_with_parent

ROOT = Path(__file__).resolve().parents[1]  # the repository: streamlit reads .streamlit/config.toml from here
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never a downloaded browser
SETTLED = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # the script has finished its run
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_streamlit(port: int, env: dict, log: Path) -> subprocess.Popen:
    """`streamlit run dashboard/web.py` (the pages behind the Host check, as `adaptlab dashboard` serves them) on
    127.0.0.1:port, in its own process group, writing to `log`; it stops when this process ends, even unasked (a test
    run killed before its teardown)."""
    with Path(log).open("wb") as output:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/web.py", "--server.port",
                                 str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=output, stderr=subprocess.STDOUT, preexec_fn=stop_with_parent)


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


def stop(processes: list[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM each process group (a worker queues its job again), then SIGKILL what is left after grace; what they
    started goes with them (core.running.processes.stop_processes)."""
    stop_processes(processes, grace)


def whole_page_screenshot(page, path: Path, width: int, height: int, max_height: int = 8000) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so grow the window to its height
    first (charts resize to it), then put the window back."""
    content = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stMainBlockContainer]')]"
        ".map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": width, "height": min(max_height, max(height, content))})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})
