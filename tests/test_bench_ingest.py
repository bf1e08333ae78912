"""bench/ingest.py runs end to end in its --quick mode: three processes, one record, figures that add up.

A quick run's figures are not benchmark figures: the record goes to the test's own folder.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.test_bench_llm import bench, record


@pytest.mark.slow  # three processes each load the encoder: about 40 s of CPU
def test_the_quick_run_reads_chunks_embeds_and_indexes_and_records_both_sides(tmp_path):
    ingest = bench("ingest")
    ingest.main(["--quick", "--results", str(tmp_path)])
    figures = record(tmp_path, "ingest")["figures"]

    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS

    # the documents are the same on every call (seeded), so the record's chunks can be counted again here
    ingest.write_documents(tmp_path / "documents", *ingest.QUICK)
    files = sorted((tmp_path / "documents").rglob("*.md"))
    frame = pd.DataFrame({"document": [f.name for f in files], "text": [f.read_text().strip() for f in files]})
    chunks = chunk_documents(frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    assert (figures["documents"], figures["chunks"]) == (ingest.QUICK[0], len(chunks))
    assert figures["index"] == "IndexFlatIP"  # RAG's "auto" below rag.approximate_above
    steps = figures["steps"]
    assert abs(sum(steps.values()) - figures["whole_seconds"]) < 0.05
    assert 0 < figures["embed_seconds"] and steps["embed_seconds"] > 0
    assert figures["time_ratio"] == figures["whole_seconds"] / figures["embed_seconds"]
    # each side ran in its own process: three peaks, each at least a loaded model's
    assert min(figures["whole_peak_mb"], figures["embed_peak_mb"], figures["sentence_transformers_peak_mb"]) > 100
    assert json.loads((tmp_path / "ingest-cpu.json").read_text())["command"] == "python bench/ingest.py --quick"
