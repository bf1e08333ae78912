"""bench/profile_grid.py: the profile that decides what a quick look cuts times every phase of a real grid."""

from __future__ import annotations

import json
import sys

from bench import profile_grid


def test_the_profile_times_each_method_by_phase_and_accounts_for_its_runs(monkeypatch, capsys, adaptlab_home):
    small = {"sizes": [4], "methods": ["prompt", "tfidf", "scratch"], "task": {"builtin_options": {"per_class": 40}},
             "model": {"max_length": 48}, "budget": {"max_epochs": 1, "min_steps": 2}}
    monkeypatch.setattr(sys, "argv", ["profile_grid.py", "fortunes", json.dumps(small)])
    profile_grid.main()
    out = capsys.readouterr().out
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in out.splitlines()[1:5]}
    assert set(rows) == {"prompt", "tfidf", "scratch", "grid"}
    phase = dict(zip(profile_grid.PHASES, rows["scratch"]))
    assert phase["train"] > 0 and phase["predict"] > 0 and phase["latency"] > 0 and phase["TOTAL"] > 0
    # the phases (validation sits inside training) and what is left add up to the run's total
    inside = sum(v for p, v in phase.items() if p not in ("TOTAL", "validate"))
    assert abs(inside - phase["TOTAL"]) < 0.2
    assert "3 run(s), 0 failed" in out
