"""bench/ingest.py runs end to end in its --quick mode: four processes, one record, figures that add up.

A quick run's figures are not benchmark figures: the record goes to the test's own folder.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.test_bench_llm import bench, record


@pytest.mark.slow  # four processes, three of which load the encoder: about 40 s of CPU
def test_the_quick_run_reads_chunks_embeds_and_indexes_and_records_every_side(tmp_path):
    ingest = bench("ingest")
    ingest.main(["--quick", "--results", str(tmp_path)])
    figures = record(tmp_path, "ingest")["figures"]

    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS

    # the documents are the same on every call (the installed packages' text in path order), so the record's chunks
    # can be counted again here
    ingest.write_documents(tmp_path / "documents", *ingest.QUICK)
    files = sorted((tmp_path / "documents").rglob("*.md"))
    frame = pd.DataFrame({"document": [f.name for f in files], "text": [f.read_text().strip() for f in files]})
    chunks = chunk_documents(frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    assert (figures["documents"], figures["chunks"]) == (ingest.QUICK[0], len(chunks))
    assert figures["index"] == "IndexFlatIP"  # RAG's "auto" below rag.approximate_above
    stages = figures["stages"]
    named = ("read", "chunk", "embed", "dense_index")
    assert abs(sum(stages[f"{n}_seconds"] for n in named) - stages["dense_seconds"]) < 1e-9
    assert figures["time_ratio"] == stages["dense_seconds"] / figures["embed_seconds"] > 0
    # each side ran in its own process: its peak at least a loaded model's; the whole side's is its highest stage's
    assert figures["whole_peak_mb"] == max(stages[f"{n}_peak_mb"] for n in (*named, "bm25_index"))
    assert min(figures["whole_peak_mb"], figures["embed_peak_mb"], figures["sentence_transformers_peak_mb"]) > 100
    assert figures["same_results"] and figures["queries"] == len(chunks)  # one query a chunk, below 1,000
    assert figures["bm25_query_ratio"] == figures["adaptlab_bm25_query_seconds"] / figures["bm25s_query_seconds"]
    assert json.loads((tmp_path / "ingest-cpu.json").read_text())["command"] == "python bench/ingest.py --quick"
