"""Bring your documents at scale: read, chunk, embed and index a folder, each stage timed, against embedding the same
chunks alone (the step no tool can skip) and against bm25s called directly.

    python bench/ingest.py [--documents 10000] [--chars 5000]       # about 50 MB of text
    python bench/ingest.py --without-embedding                       # read, chunk and BM25 only: minutes, not hours
    python bench/ingest.py --quick                                   # a dry run; its record goes to a temp folder

The documents are real text that installs with adaptlab, each piece used once: every Markdown, reStructuredText and
plain-text file of at least 200 characters in site-packages, then the docstrings of at least 200 characters of every
installed module, deduplicated, in path order (so a document holds neighbouring text of one package, as a handbook
does), joined into documents of about --chars characters (a piece longer than that is cut at a paragraph break).
adaptlab itself is left out. Collecting parses every module (about 370 MB of Python: 7 minutes under load on 2 cores
for all of it, 63 million characters), so what is collected is kept in ~/.cache/adaptlab/bench-ingest/ (under
$XDG_CACHE_HOME when set; one file per set of installed files, removable at any time; one collecting run at a time,
as two would interleave their lines) and later runs read it back.

Sides, each in a fresh process (its peak memory its own), each timed after the model loads:
  whole:   read_documents -> chunk_documents (128 tokens, 32 overlap: the defaults) -> Embedder.encode (the default
           encoder, 256 tokens a passage as RAG's retriever) -> build_index (RAG's "auto") -> BM25 (build_search)
  embed:   the same chunk texts through the same Embedder
  peer:    the same chunk texts through sentence-transformers' encode at its defaults (batch 32, fp32 on a CPU)
  bm25:    adaptlab's BM25 (index, then 1,000 queries) against bm25s called directly on the same chunks, best of
           --repeats, the two taking turns to go first (bench/bm25.py's two sides)
Memory: the process's RSS high-water mark from the start of its timed work (model and Python included, what the
operating system had to give it), per stage too (Linux resets the mark through /proc/self/clear_refs at each stage's
start; the side's peak is its highest stage's).
Goals (issue 26): whole at most 1.3x embed, in time and in peak memory; BM25 at most 1.1x bm25s.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from common import results_folder, save

from core.running.processes import stop_with_parent

GOAL, BM25_GOAL = 1.3, 1.1
MIN_CHARS = 200  # a shorter file or docstring is a one-liner or a stub, not documentation
TEXT_FILES = (".md", ".rst", ".txt")
QUICK = (4, 1000)  # documents, characters each: --quick
RETRIEVER_MAX_LENGTH = 256  # core/running/run.py: tokens of a passage the retrieval encoder reads
QUERIES = 1000
DEFINITIONS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
# the text collected from the installed packages, kept between runs (a file per set of installed files)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adaptlab" / "bench-ingest"
WARM_UP = ["warm-up: the first call pays one-off set-up"] * 8


def source_texts(root: Path | None = None, cache_folder: Path = CACHE):
    """Distinct pieces of real text from the installed packages (or `root`), in a fixed order: text files first, then
    docstrings.

    Parsing every module (about 370 MB of Python here) takes minutes, so what is collected is kept in `cache_folder`,
    one line a file read, and a later run reads it back and goes on from the first file not yet read.
    """
    root = root or Path(sysconfig.get_paths()["purelib"])
    files = sorted(p for p in root.rglob("*") if p.suffix in (*TEXT_FILES, ".py") and "adaptlab" not in p.parts)
    files = [p for p in files if p.suffix in TEXT_FILES] + [p for p in files if p.suffix == ".py"]
    cache = cache_folder / f"texts-{_fingerprint(root, files)}.jsonl"
    done, seen = 0, set()
    for texts in _cached(cache):
        done += 1
        for text in texts:
            seen.add(text)
            yield text
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a", encoding="utf-8") as out:
        for texts in map(_file_texts, files[done:]):  # a file's line is written once its pieces are known
            fresh = [t for t in dict.fromkeys(texts) if t not in seen]
            out.write(json.dumps(fresh) + "\n")
            out.flush()
            for text in fresh:
                seen.add(text)
                yield text


def _fingerprint(root: Path, files: list[Path]) -> str:
    """Changes with any file's name, size or time, the Python that parses them, or what counts as a piece."""
    listing = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps([sys.version, MIN_CHARS, listing]).encode()).hexdigest()[:16]


def _cached(cache: Path) -> list[list[str]]:
    """The pieces of each file read by an earlier run, up to a line cut short by a stopped run (dropped here)."""
    if not cache.exists():
        return []
    lines = cache.read_text(encoding="utf-8").split("\n")
    files = []
    for line in lines[:-1]:  # every whole line ends with a newline; what follows the last one is cut short
        files.append(json.loads(line))
    if lines[-1]:
        cache.write_text("".join(json.dumps(texts) + "\n" for texts in files), encoding="utf-8")
    return files


def _file_texts(path: Path) -> list[str]:
    """One file's pieces of at least MIN_CHARS characters, stripped, in order (repeats dropped by the caller)."""
    try:
        texts = docstrings(path) if path.suffix == ".py" else [path.read_text(encoding="utf-8")]
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    return [text for text in map(str.strip, texts) if len(text) >= MIN_CHARS]


def docstrings(path: Path) -> list[str]:
    """The docstrings of a module, its classes and functions, in ast.walk's order (breadth first)."""
    found, level = [], [ast.parse(path.read_bytes())]
    while level:  # ast.walk's order, without visiting expressions: no definition is ever inside one
        found += [text for node in level if isinstance(node, DEFINITIONS) and (text := ast.get_docstring(node))]
        level = [child for node in level for child in ast.iter_child_nodes(node) if not isinstance(child, ast.expr)]
    return found


def pieces(text: str, chars: int):
    """`text` in parts of at most about `chars` characters, cut at a paragraph break where one is in the second half."""
    while len(text) > chars:
        cut = text.rfind("\n\n", 0, chars)
        cut = cut if cut > chars // 2 else chars
        yield text[:cut]
        text = text[cut:].strip()
    if text:
        yield text


def write_documents(folder: Path, documents: int, chars: int) -> int:
    """`documents` Markdown files of about `chars` characters each in `folder`; their total size in bytes."""
    parts, size, written, total = [], 0, 0, 0
    folder.mkdir(parents=True, exist_ok=True)
    for text in source_texts():
        for piece in pieces(text, chars):
            parts.append(piece)
            size += len(piece) + 2
            if size < chars:
                continue
            path = folder / f"{written // 1000:02d}" / f"doc{written:05d}.md"  # folders of 1,000, as an export
            path.parent.mkdir(exist_ok=True)
            path.write_text("\n\n".join(parts), encoding="utf-8")
            total += path.stat().st_size
            parts, size, written = [], 0, written + 1
            if written == documents:
                return total
    raise SystemExit(f"the installed packages hold only {written} documents of {chars} characters; ask for fewer")


class Stages:
    """Seconds and the RSS high-water mark of each named stage of one process."""

    def __init__(self):
        self.figures: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        reset_high_water()
        started = time.perf_counter()
        yield
        self.figures[f"{name}_seconds"] = time.perf_counter() - started
        self.figures[f"{name}_peak_mb"] = high_water_mb()


def reset_high_water() -> None:
    try:  # Linux: "5" sets the peak RSS back to the present RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere a stage's peak is the process's so far


def high_water_mb() -> float:
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
    except (OSError, StopIteration):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def load_embedder():
    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.backbone.models import BaseModel

    base = BaseModel.load("default", device="auto", max_length=RETRIEVER_MAX_LENGTH)
    embedder = Embedder(base, EmbeddingCache(None))  # in memory only: nothing read from an earlier run
    embedder.calibrate(WARM_UP)
    return embedder


def side(name: str, folder: Path, chunks_file: Path, embedding: bool, repeats: int) -> dict:
    """One side, run in this (fresh) process: its seconds by stage, its peak memory."""
    if name == "whole":
        return whole_path(folder, chunks_file, load_embedder() if embedding else None)
    texts = json.loads(chunks_file.read_text(encoding="utf-8"))
    if name == "bm25":
        return bm25_against_bm25s(texts, repeats)
    if name == "peer":
        from sentence_transformers import SentenceTransformer

        from core.backbone.models import BaseModel

        base = BaseModel.load("default", device="auto", max_length=RETRIEVER_MAX_LENGTH)
        peer = SentenceTransformer(str(base.path), device=str(base.device))
        peer.encode(WARM_UP)
        encode = lambda: peer.encode(texts, normalize_embeddings=True)  # noqa: E731 (unit vectors, as adaptlab's)
    else:
        embedder = load_embedder()
        encode = lambda: embedder.encode(texts)  # noqa: E731
    stages = Stages()
    with stages.stage("embed"):
        encode()
    return {"seconds": stages.figures["embed_seconds"], "peak_rss_mb": peak_rss_mb()}


def whole_path(folder: Path, chunks_file: Path, embedder) -> dict:
    from core.backbone.retrieval import build_search
    from core.methods.rag import RagSettings, build_index
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DocumentsSpec
    from core.task.documents import read_documents

    spec, settings, stages = DocumentsSpec(path=folder), RagSettings(), Stages()
    tokenizer = load_tokenizer("default")
    with stages.stage("read"):
        documents = read_documents(spec)
    read = {"documents": len(documents.frame), "characters": int(documents.frame.text.str.len().sum())}
    with stages.stage("chunk"):
        chunks = chunk_documents(documents.frame, tokenizer, spec.chunk_tokens, spec.chunk_overlap)
        del documents  # as in documents_corpus, which returns the chunks alone
    texts, index = chunks.text.tolist(), None
    if embedder is not None:
        with stages.stage("embed"):
            vectors = embedder.encode(texts)
        with stages.stage("dense_index"):
            index = build_index(vectors, settings.index, settings.approximate_above)
    with stages.stage("bm25_index"):
        build_search("bm25", texts)
    chunks_file.write_text(json.dumps(texts), encoding="utf-8")  # after the clock: for the other sides
    seconds = {k: v for k, v in stages.figures.items() if k.endswith("_seconds")}
    return {**stages.figures, **read, "chunks": len(texts), "distinct_chunks": len(set(texts)),
            "index": type(index).__name__ if index is not None else None,
            # each stage's reset also lowers what getrusage reports: the process's peak is the highest stage's
            "peak_rss_mb": max(v for k, v in stages.figures.items() if k.endswith("_peak_mb")),
            "dense_seconds": sum(v for k, v in seconds.items() if k != "bm25_index_seconds"),
            "hybrid_seconds": sum(seconds.values())}


def bm25_against_bm25s(texts: list[str], repeats: int) -> dict:
    from bm25 import direct, through_adaptlab

    step = max(1, len(texts) // QUERIES)  # queries: the first line of evenly spaced chunks, cut to a question's size
    queries = [" ".join(text.splitlines()[0].split()[:12]) for text in texts[::step]][:QUERIES]
    best = {"direct": [float("inf")] * 2, "adaptlab": [float("inf")] * 2}
    found = {}
    for repeat in range(repeats):
        sides = (("direct", direct), ("adaptlab", through_adaptlab))
        for name, run in sides if repeat % 2 == 0 else sides[::-1]:  # neither side always goes first
            index_s, query_s, found[name] = run(texts, queries, 10)
            best[name] = [min(best[name][0], index_s), min(best[name][1], query_s)]
    # the same chunks, less those that share no word with the question (score 0, which adaptlab drops)
    agree = all(list(row) == [int(i) for i in want][:len(row)] for row, want in zip(found["adaptlab"], found["direct"]))
    return {"queries": len(queries), "same_results": agree,
            "bm25s_index_seconds": best["direct"][0], "adaptlab_bm25_index_seconds": best["adaptlab"][0],
            "bm25s_query_seconds": best["direct"][1], "adaptlab_bm25_query_seconds": best["adaptlab"][1]}


def run_side(name: str, folder: Path, chunks_file: Path, args) -> dict:
    """`side` in a child process, so that its peak memory and its caches are its own."""
    command = [sys.executable, __file__, "--side", name, "--folder", str(folder), "--chunks-file", str(chunks_file),
               "--repeats", str(args.repeats)] + (["--without-embedding"] if args.without_embedding else [])
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=stop_with_parent)
    if done.returncode:
        raise SystemExit(f"the {name} side failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(name, result, flush=True)
    return result


def figures_of(whole: dict, bm25: dict, embed: dict | None, peer: dict | None, megabytes: float) -> dict:
    figures = {"documents": whole["documents"], "megabytes": megabytes, "characters": whole["characters"],
               "chunks": whole["chunks"], "distinct_chunks": whole["distinct_chunks"], "index": whole["index"],
               "stages": {k: v for k, v in whole.items() if k.endswith(("_seconds", "_peak_mb"))},
               "whole_peak_mb": whole["peak_rss_mb"], **bm25,
               "bm25_index_ratio": bm25["adaptlab_bm25_index_seconds"] / bm25["bm25s_index_seconds"],
               "bm25_query_ratio": bm25["adaptlab_bm25_query_seconds"] / bm25["bm25s_query_seconds"]}
    if embed is not None:
        figures |= {"embed_seconds": embed["seconds"], "sentence_transformers_seconds": peer["seconds"],
                    "time_ratio": whole["dense_seconds"] / embed["seconds"],
                    "time_ratio_with_bm25": whole["hybrid_seconds"] / embed["seconds"],
                    "embed_vs_sentence_transformers": embed["seconds"] / peer["seconds"],
                    "embed_peak_mb": embed["peak_rss_mb"], "sentence_transformers_peak_mb": peer["peak_rss_mb"],
                    "memory_ratio": whole["peak_rss_mb"] / embed["peak_rss_mb"]}
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=5000, help="characters per document, about")
    parser.add_argument("--repeats", type=int, default=2, help="BM25: best of this many, each side")
    parser.add_argument("--without-embedding", action="store_true", help="read, chunk and BM25 only (no model)")
    parser.add_argument("--quick", action="store_true", help="a dry run in seconds: 4 documents of 1,000 "
                        "characters; its record goes to a temporary folder unless --results says where")
    parser.add_argument("--results", type=Path, default=None, help="folder for the record (default bench/results)")
    parser.add_argument("--side", choices=["whole", "embed", "peer", "bm25"], help=argparse.SUPPRESS)  # a child's
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chunks-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(side(args.side, args.folder, args.chunks_file, not args.without_embedding, args.repeats)))
        return
    if args.quick:
        args.documents, args.chars = QUICK
    args.dry_run = args.quick  # results_folder's name for it

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        folder, chunks_file = Path(scratch) / "documents", Path(scratch) / "chunks.json"
        written = write_documents(folder, args.documents, args.chars)
        print(f"{args.documents} documents, {written / 1e6:.1f} MB", flush=True)
        whole = run_side("whole", folder, chunks_file, args)
        bm25 = run_side("bm25", folder, chunks_file, args)
        embed = peer = None
        if not args.without_embedding:
            embed = run_side("embed", folder, chunks_file, args)
            peer = run_side("peer", folder, chunks_file, args)
    command = "python bench/ingest.py" + (" --quick" if args.quick else f" --documents {args.documents} --chars "
                                          f"{args.chars}" + (" --without-embedding" if args.without_embedding else "")
                                          + (f" --repeats {args.repeats}" if args.repeats != 2 else ""))
    save("ingest" + ("_lexical" if args.without_embedding else ""), command,
         f"reading, chunking, embedding and indexing at most {GOAL}x the time and peak memory of embedding the "
         f"same chunks alone; BM25 at most {BM25_GOAL}x bm25s called directly",
         figures_of(whole, bm25, embed, peer, round(written / 1e6, 3)), folder=results_folder(args),
         notes="each side in a fresh process, timed after the model loads; peak = the process's RSS high-water mark "
               "(model included), per stage reset through /proc/self/clear_refs; documents: the text files and "
               "docstrings of the installed packages, each piece once; time_ratio: read + chunk + embed + dense "
               "index against embed, time_ratio_with_bm25 adds the BM25 index")


if __name__ == "__main__":
    main()
