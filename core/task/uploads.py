"""Files a user uploads (a task table, a document corpus), kept safely inside the adaptlab folder.

    stored = save_upload(raw_bytes, "tickets.csv", licence="CC-BY-4.0")
    stored.path        # <ADAPTLAB_HOME>/uploads/3f9a...e1.csv: a generated name, never the user's
    upload_info(sha)   # the original file name and licence, for a report's provenance

The user's file name is only ever displayed, never used as a path: a name like '../../.bashrc'
cannot write outside the uploads folder, and every path read back is resolved and checked to stay
inside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError
from core.paths import adaptlab_home, now
from core.task.data import MAX_FILE_BYTES

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}
NAME_LENGTH = 24  # hex digits of the content hash in a stored name: unique enough, short enough to read
# What the user told us about an upload sits beside it as <hash>.meta.json: never <hash>.json, which is
# where a .json upload itself is stored. Sidecars written before that (beside .csv uploads) are still read.
SIDECAR = ".meta.json"


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    original_name: str
    sha256: str
    size: int
    licence: str


def uploads_dir() -> Path:
    folder = adaptlab_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def display_name(name: str) -> str:
    """The user's file name as shown on screen: no folders, no control characters, not too long."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", Path(str(name).replace("\\", "/")).name).strip()
    return (name or "upload")[:120]


def save_upload(content: bytes, original_name: str, licence: str = "") -> StoredUpload:
    """Store uploaded bytes under a name made from their hash; the same content is stored once."""
    suffix = Path(display_name(original_name)).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{display_name(original_name)}: cannot tell the format from '{suffix or 'no extension'}'; "
                        f"upload a {', '.join(FORMATS)} file (.json holds JSON lines)")
    if not content:
        raise DataError(f"{display_name(original_name)}: the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise DataError(f"{display_name(original_name)}: larger than the {MAX_FILE_BYTES / 1e9:.0f} GB limit")
    sha = hashlib.sha256(content).hexdigest()
    path = inside_uploads(f"{sha[:NAME_LENGTH]}{suffix}")
    if not path.exists():
        path.write_bytes(content)
    info = {"original_name": display_name(original_name), "sha256": sha, "size": len(content),
            "licence": licence.strip(), "uploaded_at": now(), "stored_as": path.name}
    inside_uploads(f"{sha[:NAME_LENGTH]}{SIDECAR}").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return StoredUpload(path, info["original_name"], sha, len(content), info["licence"])


def inside_uploads(name: str) -> Path:
    """The path of a stored upload, refusing anything that would land outside the uploads folder."""
    folder = uploads_dir()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or path == folder:
        raise DataError(f"'{display_name(name)}' is not a stored upload")
    return path


def upload_info(sha256: str) -> dict | None:
    """What the user told us about an upload (original name, licence), found by its content hash."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        return None
    for suffix in (SIDECAR, ".json"):  # .json: an earlier version's sidecar, or a .json upload (not a sidecar)
        sidecar = inside_uploads(f"{sha256[:NAME_LENGTH]}{suffix}")
        try:
            info = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("sha256") == sha256:
            return info
    return None


def save_documents(files: list[tuple[str, bytes]]) -> Path:
    """Store uploaded documents (or one zip) together in a folder named by their hash, each under its shown name.

    The folder is what `documents.path` points at; the names are the user's, stripped of any folders, so
    a document keeps its name in the chunk table and cannot be written outside the folder."""
    if not files:
        raise DataError("no documents uploaded; choose one or more files, or a zip")
    total = sum(len(content) for _, content in files)
    if total > MAX_FILE_BYTES:
        raise DataError(f"the {len(files)} documents hold {total / 1e9:.1f} GB, more than the "
                        f"{MAX_FILE_BYTES / 1e9:.0f} GB limit; upload fewer")
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(display_name(name).encode() + b"\x1f" + hashlib.sha256(content).digest())
    folder = inside_uploads(f"documents-{digest.hexdigest()[:NAME_LENGTH]}")
    folder.mkdir(exist_ok=True)
    used: set[str] = set()
    for name, content in files:
        shown = display_name(name)
        stem, suffix, n = Path(shown).stem, Path(shown).suffix, 1
        while shown in used:  # two uploads of the same name: both kept, the second as name-2.ext
            n += 1
            shown = f"{stem}-{n}{suffix}"
        used.add(shown)
        inside_uploads(f"{folder.name}/{shown}").write_bytes(content)
    return folder
