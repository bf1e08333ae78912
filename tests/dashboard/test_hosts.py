"""DNS rebinding (dashboard/hosts.py): a request whose Host the dashboard does not serve is refused, HTTP and
WebSocket alike, on a real server started the way a user starts it (`adaptlab dashboard --allow-host NAME`).

A rebound page sends its own name as Host and as Origin, which is what the requests below send: the server listens
on 127.0.0.1, so where the name would resolve does not matter.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys

import pytest

from dashboard.hosts import LOOPBACK, host_allowed
from dashboard.serve import ROOT, free_port, stop, wait_healthy

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """`adaptlab dashboard --allow-host lab.example.org` on a free loopback port; its port, stopped afterwards."""
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {**os.environ, "ADAPTLAB_HOME": str(home), "ADAPTLAB_AUTOSTART_WORKER": "0", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    env.pop("ADAPTLAB_STORE", None)
    with (home / "dashboard.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "core.cli", "dashboard", "--port", str(port), "--address",
                                    "127.0.0.1", "--allow-host", "lab.example.org"], cwd=ROOT, env=env,
                                   start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, 90)
        yield port
    finally:
        stop([process], grace=20)  # the CLI and the streamlit it started: one process group


def _status(port: int, host: str, path: str = "/", headers: dict | None = None) -> int:
    """The status a request to 127.0.0.1:port with this Host header gets (101 when a WebSocket opens)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("host", ["x.attacker", "x.attacker:{port}", "127.0.0.1.nip.io:{port}",
                                  "localhost.evil:{port}"])
@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/_stcore/host-config"])
def test_http_for_a_host_it_does_not_serve_is_refused(dashboard, host, path):
    assert _status(dashboard, host.format(port=dashboard), path) == 403


def test_the_refusal_says_how_to_serve_the_name(dashboard):
    connection = http.client.HTTPConnection("127.0.0.1", dashboard, timeout=30)
    connection.request("GET", "/", headers={"Host": "lab.internal"})
    answer = connection.getresponse()
    assert answer.status == 403 and b"adaptlab dashboard --allow-host NAME" in answer.read()
    connection.close()


def test_a_websocket_from_a_rebound_name_is_refused(dashboard):
    """The issue's curl: Host and Origin both the attacker's name; it answered 101."""
    host = f"x.attacker:{dashboard}"
    assert _status(dashboard, host, "/_stcore/stream", {**UPGRADE, "Origin": f"http://{host}"}) == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "lab.example.org"])
def test_its_own_names_and_an_allowed_one_are_served(dashboard, host):
    named = f"{host}:{dashboard}"
    assert _status(dashboard, named) == 200
    assert _status(dashboard, named, "/_stcore/stream", {**UPGRADE, "Origin": f"http://{named}"}) == 101


@pytest.mark.parametrize(("host", "served"), [
    ("localhost:8501", True), ("LOCALHOST.", True), ("[::1]:8501", True), ("app.example.com", True),
    ("a.b.example.com", True), ("example.com", False), ("evil-example.com", False), ("", False), (None, False),
    ("localhost:99999", False), ("user@localhost", False), ("localhost/x", False), ("127.0.0.2", False),
])
def test_host_names(host, served):
    assert host_allowed(host, [*LOOPBACK, "app.example.com", "*.b.example.com"]) is served
