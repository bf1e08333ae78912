"""Write docs/BENCHMARKS.md from the records in bench/results/ (one JSON per benchmark and machine).

    python bench/report.py

A benchmark with no record for a kind of machine is listed as not yet measured, with its command.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# (record name, title, what the goal needs, command on a GPU, command on the CPU or None)
BENCHMARKS = [
    ("grid_vs_trainer", "1. Trained grid against Hugging Face Trainer", "speedup >= 5x on an H100 (accuracy within "
     "1 point), >= 1.5x on the 2-core CPU", "python bench/grid_vs_trainer.py",
     "python bench/grid_vs_trainer.py --sizes 8 32 128 --methods lora full scratch --epochs 4"),
    ("mfu", "2. MFU of one full fine-tuning run", "MFU >= 10% single on an H100 (>= 25% with packed runs)",
     "python bench/mfu.py", None),
    ("decoder_lora_vs_full", "3. LoRA against full fine-tuning on a ~1B decoder", "LoRA <= 0.55x memory and "
     "<= 0.5x step time", "python bench/decoder_lora_vs_full.py", None),
    ("encode", "4. Encoding throughput against sentence-transformers", ">= 1x on the CPU; >= 40,000 sentences/s "
     "on an H100", "python bench/encode.py --texts 100000 --batch 512", "python bench/encode.py"),
    ("retrieval", "5. FAISS retrieval, exact against HNSW", "<= 1 ms per query at recall@10 >= 0.95 (2-core CPU)",
     None, "python bench/retrieval.py"),
    ("quick_grid", "6. The quick default grid end to end", "<= 10 minutes on the 2-core CPU", None,
     "python bench/quick_grid.py"),
]


def _records() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        kind = "gpu" if record["machine"]["device"] != "cpu" else "cpu"
        found[(record["name"], kind)] = record
    return found


def _figures(figures: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in figures.items():
        if isinstance(value, dict):
            lines += _figures(value, f"{prefix}{key} / ")
        elif isinstance(value, float):
            lines.append(f"| {prefix}{key} | {value:,.4g} |")
        else:
            lines.append(f"| {prefix}{key} | {value} |")
    return lines


def _machine(machine: dict) -> str:
    device = machine["device"] if machine["device"] != "cpu" else f"CPU, {machine['cpu_cores']} cores"
    return f"{device}, {machine['memory_gb']} GB RAM, {machine['platform']}, Python {machine['python']}, torch {machine['torch']}"


def main() -> None:
    records = _records()
    lines = ["# Benchmarks", "",
             "Each benchmark runs adaptlab and what a user would run instead in the same process, on the same data, "
             "and reports the ratio. Regenerate this page with `python bench/report.py` after running a benchmark; "
             "the raw records are in `bench/results/`.", ""]
    for name, title, goal, gpu_command, cpu_command in BENCHMARKS:
        lines += [f"## {title}", "", f"Goal: {goal}.", ""]
        for kind, command in (("cpu", cpu_command), ("gpu", gpu_command)):
            if command is None:
                continue
            record = records.get((name, kind))
            if record is None:
                lines += [f"**{kind.upper()}: not yet measured.** Command: `{command}`", ""]
                continue
            lines += [f"**{kind.upper()}**, {record['date']}: `{record['command']}`  ", f"Machine: {_machine(record['machine'])}",
                      "", "| figure | value |", "|---|---|", *_figures(record["figures"]), ""]
            if record.get("notes"):
                lines += [f"Notes: {record['notes']}", ""]
    (ROOT / "docs" / "BENCHMARKS.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote docs/BENCHMARKS.md from {len(records)} record(s)")


if __name__ == "__main__":
    main()
