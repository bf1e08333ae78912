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


MODULE = '''"""A module docstring long enough to count: ''' + "words " * 40 + '''"""

if True:
    def inside_if():
        """''' + "A function defined under an if, found as ast.walk finds it. " * 4 + '''"""

class Outer:
    """''' + "The class's own docstring, at least two hundred characters of it. " * 4 + '''"""

    def method(self):
        """''' + "A method's docstring, read after its class's, breadth first. " * 4 + '''"""
        def nested():
            """''' + "A nested function: the deepest, so the last. " * 5 + '''"""

try:
    async def in_try():
        """''' + "An async function inside a try block, one level down. " * 4 + '''"""
except ImportError:
    pass
'''


def test_collected_text_is_cached_resumed_after_a_stopped_run_and_in_ast_walks_order(tmp_path, monkeypatch):
    import ast

    ingest = bench("ingest")
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "README.md").write_text("# A package\n\n" + "Readme text. " * 30)
    (site / "pkg" / "copy.txt").write_text("# A package\n\n" + "Readme text. " * 30)  # the same text: once
    for n in range(3):
        (site / "pkg" / f"m{n}.py").write_text(MODULE.replace("words", f"words{n}"))
    (site / "pkg" / "broken.py").write_text("def (:\n")
    fresh = list(ingest.source_texts(site, tmp_path / "cache"))
    walked = [ast.get_docstring(node) for node in ast.walk(ast.parse(MODULE.replace("words", "words0")))
              if isinstance(node, ingest.DEFINITIONS) and ast.get_docstring(node)]
    assert len(walked) == 6 and fresh[0].startswith("# A package") and len(fresh) == 1 + 6 + 2  # 5 repeats
    assert fresh[1:7] == [text.strip() for text in walked]  # the first module's, in ast.walk's order
    (cache,) = (tmp_path / "cache").glob("texts-*.jsonl")
    assert len(cache.read_text().splitlines()) == 6  # a line for each file read, the broken one too

    # a run stopped while writing its fourth line (m0.py's): the cut line is dropped, the rest read back, then parsed
    lines = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(lines[:3]) + lines[3][:10])
    parsed, file_texts = [], ingest._file_texts
    monkeypatch.setattr(ingest, "_file_texts", lambda path: parsed.append(path.name) or file_texts(path))
    assert list(ingest.source_texts(site, tmp_path / "cache")) == fresh
    assert parsed == ["m0.py", "m1.py", "m2.py"]  # README.md, copy.txt (text files come first), broken.py cached
    assert cache.read_text() == "".join(lines)

    # read back whole: no file parsed
    monkeypatch.setattr(ingest, "_file_texts", lambda path: pytest.fail(f"{path} parsed again"))
    assert list(ingest.source_texts(site, tmp_path / "cache")) == fresh
