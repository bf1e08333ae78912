"""Shared fixtures: every test is offline, on the CPU, and writes only under its own temp folder."""

from __future__ import annotations

import os
import re

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No dashboard page run by a test starts a worker in the background unless the test asks (monkeypatch.setenv): set
# for the whole session, not per test, so a page still running after its test (an AppTest thread past its timeout)
# cannot start one for whichever test comes next
os.environ["ADAPTLAB_AUTOSTART_WORKER"] = "0"


@pytest.fixture(autouse=True)
def adaptlab_home(tmp_path, monkeypatch):
    """Results, caches and artifacts go to a fresh folder per test."""
    home = tmp_path / "adaptlab-home"
    monkeypatch.setenv("ADAPTLAB_HOME", str(home))
    return home


ADAPTLAB_PROCESSES = ("core.cli", "streamlit")  # what a test may start: a worker, `adaptlab dashboard`, a server


def _adaptlab_children() -> dict[int, object]:
    """This process's running descendants that are adaptlab's own (a worker, a dashboard, a Streamlit server)."""
    import psutil

    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if any(name in " ".join(child.cmdline()) for name in ADAPTLAB_PROCESSES):
                found[child.pid] = child
        except psutil.Error:  # it ended while being read
            pass
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind():
    """A test that starts a worker or a server stops it, also on failure: what it started and left running is
    stopped here and the test errs, naming it (after all pytest output, a worker left running would go on for
    half an hour). Processes of a module's or the session's fixtures were already running, and are left alone."""
    import psutil

    before = set(_adaptlab_children())
    yield
    left = [p for pid, p in _adaptlab_children().items() if pid not in before]
    if not left:
        return
    _, running = psutil.wait_procs(left, timeout=30)  # one stopped by the test may still be closing
    named = []
    for process in running:
        try:
            named.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
            process.kill()
        except psutil.Error:  # it ended after all
            pass
    assert not named, "the test left running: " + "; ".join(named)


@pytest.fixture(scope="session")
def base_model():
    from core.backbone.models import BaseModel

    return BaseModel.load("default", device="cpu", max_length=64)


@pytest.fixture(scope="session")
def fortunes_small():
    """A small slice of real data: 40 fortunes per collection (26 train, 4 validation, 10 test each)."""
    from core.task.scenarios import build_scenario

    return build_scenario("fortunes", per_class=40)


@pytest.fixture(scope="session")
def smol_home(tmp_path_factory):
    """One ADAPTLAB_HOME for the tests of the real SmolLM2 (tests/core/backbone/test_smollm2.py, the SmolLM2 dry runs
    of tests/test_bench_llm.py): its GGUF is converted there once a session (about 20 s on 2 cores), not once a
    module. A test that uses it sets ADAPTLAB_HOME to it (monkeypatch.setenv)."""
    return tmp_path_factory.mktemp("smol-home")


def tiny_config(name: str = "tiny", **overrides) -> dict:
    """A config that trains for seconds: for tests of the plumbing, not of accuracy."""
    config = {
        "name": name,
        "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
        "model": {"max_length": 48},
        "methods": ["prompt", "probe", "tfidf"],
        "sizes": [4, 8],
        "seeds": [0],
        "budget": {"max_epochs": 1, "min_steps": 2},
        "training": {"batch_size": 8},
    }
    config.update(overrides)
    return config


@pytest.fixture
def small_disk(tmp_path):
    """mount(bytes) -> a folder on a fresh tmpfs of that size: a real disk that fills up, or is read-only.

    Mounting needs root on Linux; elsewhere the tests that need a real small disk skip and say why.
    """
    import subprocess
    import sys

    mounted = []

    def mount(size: int, name: str = "disk"):
        if sys.platform != "linux" or os.geteuid() != 0:
            pytest.skip("a real small disk is a tmpfs mount, which needs root on Linux; run as root to cause this "
                        "fault")
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); this fault needs a real small disk")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def make_read_only(folder) -> None:
    """Remount a folder from small_disk read-only: even root cannot write there."""
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


@pytest.fixture(scope="session")
def tiny_llama_folder(tmp_path_factory):
    """A tiny random Llama (see tests/decoder_model.py), built once per session."""
    import sys

    from core.task.scenarios import build_scenario

    sys.path.insert(0, os.path.dirname(__file__))
    from decoder_model import build_tiny_llama

    task = build_scenario("fortunes", per_class=40)
    texts = [*task.train.text, *task.labels, "Which country is Paris in? France I don't know", "Passages: Question"]
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama", texts)


@pytest.fixture
def tiny_llama(tiny_llama_folder, monkeypatch):
    """The tiny Llama's folder, allowed as a model root for this test."""
    monkeypatch.setenv("ADAPTLAB_MODEL_ROOTS", str(tiny_llama_folder.parent))
    return tiny_llama_folder


# Bare links remark-gfm (GitHub's Markdown, Streamlit's) makes without brackets, found in the text after backslash
# escapes are read: a scheme, "www." or an e-mail address (mdast-util-gfm-autolink-literal's patterns).
BARE_LINK = re.compile(r"(?i)https?://|(?<![\w-])www\.|[-.\w+]+@[-\w]+(?:\.[-\w]+)+")


def links_and_images(markdown: str) -> list[str]:
    """What a Markdown string would show as a link or an image, or draw as raw HTML: markdown-it-py (rich's own
    CommonMark parser) for [links](...), ![images](...) and <autolinks>, and BARE_LINK in the text it reads."""
    from markdown_it import MarkdownIt

    found = []
    for block in MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(markdown):
        for token in [block, *(block.children or [])]:
            if token.type in ("image", "link_open") or token.type.startswith("html"):
                found.append(f"{token.type}: {token.attrs or token.content}")
            elif token.type == "text":
                found += [f"bare link: {match.group(0)}" for match in BARE_LINK.finditer(token.content)]
    return found


def wait_for(condition, timeout: float = 60.0, every: float = 0.02, what: str = "the condition"):
    """Poll until condition() is truthy and return its value: tests wait on what they need, not on the clock."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        time.sleep(every)
