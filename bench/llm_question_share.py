"""How many of the questions an LLM writes from the built-in `streamlit-docs` guides are kept, and why the rest go.

The same chunks every time (CHUNKS drawn with a fixed seed over every guide), written by a model through
core.task.llm_questions.write_questions (the path the dashboard's question-writing job takes), in a fresh
ADAPTLAB_HOME so no cached reply is read back. Writes one JSON record: the report (generated, kept, dropped by
reason), the seconds it took, the host, and every kept pair verbatim so a reader can judge them.

    HF_HUB_OFFLINE=1 python bench/llm_question_share.py --model smollm2 --out bench/results/llm-questions/after.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNKS = 30  # enough to see the share of kept questions move, few enough for minutes on a 2-core CPU


def streamlit_chunks(count: int = CHUNKS, seed: int = 0):
    """`count` chunks of the streamlit-docs guides, drawn with `seed` across all of them (as the scenario cuts them)."""
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, DocumentsSpec
    from core.task.documents import read_documents
    from core.task.scenarios.streamlit_docs import guides_folder

    read = read_documents(DocumentsSpec(path=guides_folder()))
    frame = read.frame[read.frame.document.str.endswith(".md")].reset_index(drop=True)
    chunks = chunk_documents(frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    picked = np.random.default_rng([seed, 26]).choice(len(chunks), min(count, len(chunks)), replace=False)
    return chunks.iloc[sorted(picked)].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--chunks", type=int, default=CHUNKS)
    parser.add_argument("--first", type=int, help="only the first N of the chunks drawn (the same chunks, fewer)")
    parser.add_argument("--max-per-chunk", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", type=Path, help="a models folder to reuse (the built-in GGUF converted once)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["ADAPTLAB_HOME"] = home  # no cached replies: every prompt is written now
        if args.models:
            Path(home, "models").symlink_to(args.models.resolve())
        from core.task.llm_questions import write_questions

        chunks = streamlit_chunks(args.chunks).iloc[:args.first]
        started = time.perf_counter()

        def progress(done, total, kept, dropped):  # a slow run shows how far it got
            print(f"{time.perf_counter() - started:.0f} s: {done} of {total} chunks, {kept} kept, dropped {dropped}",
                  flush=True)

        questions = write_questions(chunks, args.model, max_per_chunk=args.max_per_chunk, device="cpu",
                                    progress=progress)
        seconds = time.perf_counter() - started
        # every reply as the model wrote it (the cache write_questions keeps), to read why pairs were dropped
        replies = [json.loads(path.read_text()) for path in sorted(Path(home, "questions").glob("*.json"))]
    text = chunks.set_index(chunks.id.astype(str)).text
    record = {"model": args.model, "chunks": len(chunks), "seconds": round(seconds, 1),
              "host": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, fp32, under load "
                      "(AMD EPYC, AVX2 only, shared with other jobs)",
              "report": questions.report,
              "kept": [{**row, "chunk": text[row["source"]]} for row in
                       questions.frame[["question", "answer", "source"]].to_dict(orient="records")],
              "replies": replies}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    report = questions.report
    print(f"{report['generated']} generated, {report['kept']} kept, dropped {report['dropped']}; {seconds:.0f} s")


if __name__ == "__main__":
    main()
