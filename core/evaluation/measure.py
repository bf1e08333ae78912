"""Measuring cost honestly: wall time, peak memory during a run, bytes on disk, dollars."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import torch

SAMPLE_SECONDS = 0.02  # RSS sampling period: short runs are a few seconds long
THROUGHPUT_CHUNKS = 4  # the test pass is timed in this many equal parts: the spread of batched throughput


@dataclass
class PeakMemory:
    megabytes: float = 0.0
    # "cuda": the allocator's peak during the run; "rss_rise": on the CPU, how far the process's resident memory
    # rose above what it held just before the run (so a run is not charged for what earlier runs left behind)
    kind: str = "rss_rise"
    baseline_megabytes: float = 0.0  # resident before the run (CPU): the loaded model, caches, earlier runs
    samples: int = 0  # CPU: how many times the sampler has read the resident size so far


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so resident memory is what is in use."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the baseline includes freed pages
        pass


@contextmanager
def track_peak_memory(device: torch.device):
    """Peak memory while the block runs: CUDA allocator peak on a GPU; on the CPU, the sampled process RSS's
    rise over its level just before the block (freed memory is returned to the OS first)."""
    peak = PeakMemory(kind="cuda" if device.type == "cuda" else "rss_rise")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield peak
        torch.cuda.synchronize(device)
        peak.megabytes = torch.cuda.max_memory_allocated(device) / 2**20
        return
    release_freed_memory()
    process, stop = psutil.Process(os.getpid()), threading.Event()
    baseline = process.memory_info().rss
    highest = [baseline]

    def sample() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            highest[0] = max(highest[0], process.memory_info().rss)
            peak.samples += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        highest[0] = max(highest[0], process.memory_info().rss)
        peak.megabytes = (highest[0] - baseline) / 2**20
        peak.baseline_megabytes = baseline / 2**20


@contextmanager
def stopwatch():
    """`with stopwatch() as elapsed: ...` then `elapsed()` gives seconds (synchronising CUDA first)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = {"end": None}
    yield lambda: (result["end"] or time.perf_counter()) - start
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    result["end"] = time.perf_counter()


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def stored_bytes(fitted, keep_in: Path | None = None) -> int:
    """Bytes a deployment must store for this method, measured by writing it out for real."""
    if keep_in is not None:
        keep_in.mkdir(parents=True, exist_ok=True)
        fitted.save(keep_in)
        return folder_bytes(keep_in)
    with tempfile.TemporaryDirectory(prefix="adaptlab-size-") as folder:
        fitted.save(Path(folder))
        return folder_bytes(Path(folder))


def price_per_hour(prices: dict[str, float], device_kind: str, device_label: str) -> float:
    """The price table entry for this device: a GPU name match ("H100") wins over the kind ("cuda")."""
    for key, price in prices.items():
        if key.lower() not in ("cpu", "cuda", "mps") and key.lower() in device_label.lower():
            return price
    return prices.get(device_kind, 0.0)


def dollars(seconds: float, per_hour: float) -> float:
    return seconds / 3600 * per_hour


def batch_one_latency(predict, texts: list[str], queries: int, prefix: str = "latency") -> dict:
    """Milliseconds per query answered alone (batch 1), median and 95th percentile over the first `queries` texts
    (the config's latency_queries), after one warm-up query: what a user waiting on one answer sees (batched
    throughput is measured apart)."""
    sample = texts[:queries]
    if not sample:
        return {}
    predict(sample[:1])  # first-call costs (lazy init, allocator growth) are not a query's
    times = []
    for text in sample:
        with stopwatch() as elapsed:
            predict([text])
        times.append(elapsed() * 1000)
    return {f"{prefix}_p50_ms": float(np.median(times)), f"{prefix}_p95_ms": float(np.percentile(times, 95)),
            f"{prefix}_queries": len(times)}


def timed_in_chunks(predict, texts: list[str], chunks: int = THROUGHPUT_CHUNKS) -> tuple[list, dict]:
    """Predict `texts` batched, timed in equal parts: (the parts' outputs in order, seconds per 1,000 texts
    overall and the fastest and slowest part's)."""
    bounds = np.linspace(0, len(texts), min(chunks, max(1, len(texts))) + 1).astype(int)
    outputs, rates, total = [], [], 0.0
    for start, end in zip(bounds[:-1], bounds[1:]):
        with stopwatch() as elapsed:
            outputs.append(predict(texts[start:end]))
        total += elapsed()
        rates.append(elapsed() / (end - start) * 1000)
    return outputs, {"inference_seconds_per_1k": total / max(1, len(texts)) * 1000,
                     "inference_seconds_per_1k_low": float(min(rates)),
                     "inference_seconds_per_1k_high": float(max(rates))}
