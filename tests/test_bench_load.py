"""Load, for real: two grids written at once while twenty browser sessions read the Compare page.

bench/load.py does the work (Streamlit's server, two workers, headless Chromium on loopback);
docs/RELIABILITY.md reports a run of it.
"""

import pytest

from bench.load import held, run_load
from dashboard.serve import CHROMIUM

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium"),
]


def test_two_grids_and_twenty_readers_lose_nothing_and_never_see_a_lock(tmp_path):
    report = run_load(sessions=20, seconds=900, seeds=2, home=tmp_path / "home")
    assert report["jobs"] == {"load-user-a": "finished", "load-user-b": "finished"}, report
    assert report["rows_lost"] == 0 and report["runs_stored"] == report["runs_planned"] == 18, report
    assert report["page_loads"] >= 20 and report["page_error_count"] == 0, report["page_errors"]
    assert report["lock_errors_in_logs"] == 0 and report["tracebacks_in_logs"] == 0, report
    assert report["integrity_check"] == "ok"
    assert held(report)
