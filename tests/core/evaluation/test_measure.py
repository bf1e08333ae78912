"""Cost measurements: bytes on disk, dollars, wall time and peak memory (core/evaluation/measure.py)."""

from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from core.evaluation import measure
from core.evaluation.measure import (
    batch_one_latency,
    dollars,
    folder_bytes,
    price_per_hour,
    release_freed_memory,
    stopwatch,
    stored_bytes,
    timed_in_chunks,
    track_peak_memory,
)
from tests.conftest import wait_for


def test_folder_bytes_counts_every_file_in_every_subfolder_exactly(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.bin").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "mid.txt").write_bytes(b"y" * 37)
    (tmp_path / "a" / "b" / "deep.safetensors").write_bytes(b"z" * 4096)
    (tmp_path / "a" / "empty").write_bytes(b"")
    (tmp_path / "a" / "b" / "no-files-here").mkdir()  # folders themselves weigh nothing
    assert folder_bytes(tmp_path) == 1000 + 37 + 4096
    assert folder_bytes(tmp_path / "a" / "b") == 4096


class _Fitted:
    """Writes what a deployment would store: two files, one of them in a subfolder."""

    def __init__(self, weights: int, config: int):
        self.sizes, self.saved_to = (weights, config), []

    def save(self, folder: Path) -> None:
        self.saved_to.append(folder)
        (folder / "adapter").mkdir()
        (folder / "adapter" / "weights.bin").write_bytes(b"\0" * self.sizes[0])
        (folder / "config.json").write_bytes(b"{" * self.sizes[1])


def test_stored_bytes_measures_what_save_writes_and_leaves_no_temporary_folder():
    fitted = _Fitted(weights=12_345, config=67)
    assert stored_bytes(fitted) == 12_345 + 67
    assert len(fitted.saved_to) == 1 and not fitted.saved_to[0].exists()  # measured in a folder then removed


def test_stored_bytes_can_keep_the_saved_method(tmp_path):
    fitted = _Fitted(weights=2_000, config=10)
    keep = tmp_path / "runs" / "lora-8-0"  # created, parents too
    assert stored_bytes(fitted, keep_in=keep) == 2_010
    assert (keep / "adapter" / "weights.bin").stat().st_size == 2_000 and folder_bytes(keep) == 2_010


def test_a_gpu_name_in_the_price_table_beats_the_device_kind():
    prices = {"cpu": 0.10, "cuda": 2.00, "H100": 3.50, "A10": 1.10}
    assert price_per_hour(prices, "cuda", "NVIDIA H100 80GB HBM3") == 3.50
    assert price_per_hour(prices, "cuda", "nvidia a10g") == 1.10  # case does not matter
    assert price_per_hour(prices, "cuda", "NVIDIA L4") == 2.00  # an unlisted GPU: the price of its kind
    assert price_per_hour(prices, "cpu", "CPU (2 cores)") == 0.10
    assert price_per_hour(prices, "mps", "Apple M2") == 0.0  # neither listed: free, not an error


def test_dollars_are_seconds_times_the_hourly_price():
    assert dollars(3600, 2.5) == pytest.approx(2.5)
    assert dollars(90, 4.0) == pytest.approx(0.1)
    assert dollars(0, 4.0) == 0 and dollars(1000, 0.0) == 0


class FakeClock:
    """measure's clock, moved by the test: durations are exact and nothing waits on the real clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(measure, "time", fake)
    return fake


def test_the_stopwatch_times_the_block_and_stops_when_it_ends(clock):
    with stopwatch() as elapsed:
        clock.now += 0.05
        during = elapsed()
        clock.now += 0.01
    after = elapsed()
    clock.now += 0.02
    assert during == pytest.approx(0.05) and after == pytest.approx(0.06)
    assert elapsed() == after  # frozen at the end of the block


def test_peak_memory_on_the_cpu_sees_an_array_allocated_inside_the_block():
    size_mb = 200
    release_freed_memory()  # as the block does first: in a long test session much of the RSS is freed memory
    resident = psutil.Process().memory_info().rss / 2**20
    with track_peak_memory(torch.device("cpu")) as peak:
        before = peak.megabytes
        block = np.ones(size_mb * 2**20 // 8)  # written, so every page is resident
        seen = peak.samples
        wait_for(lambda: peak.samples >= seen + 2, what="two samples while the array is held")
        del block
    assert before == 0.0 and peak.kind == "rss_rise"  # known only when the block ends
    # the run's own peak: the whole array, not what the process held before it
    assert 0.9 * size_mb <= peak.megabytes < 2 * size_mb
    assert peak.baseline_megabytes == pytest.approx(resident, rel=0.5)


def test_peak_memory_on_the_cpu_does_not_charge_a_run_for_what_earlier_runs_left():
    leftovers = [np.ones(2**20 // 8) for _ in range(300)]  # 300 MB resident before the run
    with track_peak_memory(torch.device("cpu")) as peak:
        small = np.ones(20 * 2**20 // 8)
        seen = peak.samples
        wait_for(lambda: peak.samples >= seen + 2, what="two samples while the array is held")
        del small
    del leftovers
    assert peak.megabytes < 100 and peak.baseline_megabytes >= 300


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_peak_memory_on_a_gpu_is_the_allocator_peak_inside_the_block():
    device = torch.device("cuda")
    held = torch.ones(64 * 2**20 // 4, device=device)  # 64 MiB allocated before the block and kept
    allocated = torch.cuda.memory_allocated(device) / 2**20
    with track_peak_memory(device) as peak:
        block = torch.ones(256 * 2**20 // 4, device=device)  # 256 MiB, freed inside the block
        del block
    assert peak.kind == "cuda" and allocated + 256 <= peak.megabytes < allocated + 256 + 8
    del held


def test_batch_one_latency_times_each_query_alone_after_a_warm_up(clock):
    calls = []

    def predict(texts):
        calls.append(len(texts))
        clock.now += 0.002 * len(texts[0])  # longer texts take longer
        return texts

    texts = ["a" * n for n in (1, 1, 1, 1, 10)]
    out = batch_one_latency(predict, texts, queries=5)
    assert calls == [1] * 6  # one warm-up, then one query at a time
    assert out["latency_queries"] == 5 and out["latency_p50_ms"] == pytest.approx(2.0)
    assert out["latency_p95_ms"] == pytest.approx(np.percentile([2, 2, 2, 2, 20], 95))  # the long one shows
    assert batch_one_latency(predict, [], queries=5) == {}


def test_throughput_is_timed_in_parts_with_its_spread_and_keeps_the_outputs_in_order(clock):
    def predict(texts):
        clock.now += 0.01 if texts[0] < 6 else 0.03
        return np.array(texts)

    parts, out = timed_in_chunks(predict, list(range(8)), chunks=4)
    assert np.concatenate(parts).tolist() == list(range(8))
    assert out["inference_seconds_per_1k_low"] < out["inference_seconds_per_1k"] < out["inference_seconds_per_1k_high"]
    assert out["inference_seconds_per_1k_high"] >= 3 * out["inference_seconds_per_1k_low"] * 0.8
