"""A method's fit timed step by step: what the estimate (core/running/estimate.py, and estimate_decoder.py on an
LLM) builds a grid's time from."""

from __future__ import annotations

import time

MEASURE_STEPS = 4  # optimiser steps timed per trained method (plus the set-up before the first)


def timed_fit(method: str, ctx) -> tuple[object, float, list[tuple[float, int]]]:
    """(the fitted method, when its fit started, (time, step) at each step it reported)."""
    from core.methods import METHODS

    ticks: list[tuple[float, int]] = []
    ctx.progress = lambda fraction, info: ticks.append((time.perf_counter(), int(info.get("step", 0))))
    started = time.perf_counter()
    fitted = METHODS[method].fit_for(ctx.base.family)(ctx)
    return fitted, started, ticks
