"""The cancel check (core/cancel.py): it raises only inside a cancellable job whose flag is set, and the loops call
it between batches. The real thing, a worker's job cancelled mid-run, is tests/core/running/test_cancel.py."""

from __future__ import annotations

import threading

import pytest

from core.cancel import cancellable, check_cancelled
from core.errors import Cancelled


def test_the_check_raises_only_inside_a_cancellable_job_once_its_flag_is_set():
    flag = threading.Event()
    flag.set()
    check_cancelled()  # outside a job (the CLI, a test, a packed process): never
    with cancellable(threading.Event()):
        check_cancelled()  # a job nobody cancelled
        with cancellable(flag):
            with pytest.raises(Cancelled):
                check_cancelled()
        check_cancelled()  # the outer job's flag again
    check_cancelled()


def test_a_cancel_is_not_an_error_that_a_broken_run_handler_would_swallow():
    with pytest.raises(Cancelled):
        try:
            raise Cancelled("the job was cancelled")
        except Exception:  # what turns one broken run into a failed record (core/running/run.py)
            pytest.fail("a cancel was caught as an error")


def test_inference_stops_before_its_next_batch(base_model):
    from core.backbone.batching import padded_batches

    texts = ["a short one", "and a somewhat longer text than that"] * 8
    flag = threading.Event()
    with cancellable(flag):
        batches = padded_batches(base_model.tokenizer, texts, 32, 4, base_model.device)
        next(batches)
        flag.set()  # the user presses Cancel between two batches
        with pytest.raises(Cancelled):
            next(batches)
