"""Read the members of a user's .zip without trusting it: no path escapes, no zip bomb, no nested archives.

    for name, content in zip_members(path, limits, skipped):   # (name inside the zip, bytes)

An archive can lie: a member named `../../.bashrc` or `/etc/passwd`, a symbolic link, or a few
kilobytes that expand to gigabytes. Names are only ever displayed (nothing is extracted to disk), and
the expanded size is refused twice over: from the sizes the archive declares, before anything is
read, and by counting the bytes actually decompressed, in case the declared sizes are false.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import DataError

READ_BLOCK = 1 << 20  # decompress a megabyte at a time, so a lying member is stopped within a megabyte


@dataclass(frozen=True)
class ZipLimits:
    max_file_bytes: int  # one member, expanded
    max_expanded_bytes: int  # every member together, expanded


def zip_members(path: Path, limits: ZipLimits, skipped: list[tuple[str, str]],
                label: str | None = None) -> Iterator[tuple[str, bytes]]:
    """Each regular member's name and bytes, in the archive's order; refused members go to `skipped`."""
    label = label or path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        skipped.append((label, f"not a readable zip archive ({error})"))
        return
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        declared = sum(info.file_size for info in members)
        if declared > limits.max_expanded_bytes:
            raise DataError(f"{label}: the archive expands to {declared:,} bytes, more than the "
                            f"{limits.max_expanded_bytes:,} allowed (documents.max_zip_expanded_bytes); it may be a "
                            "zip bomb. Unpack it yourself and point documents.path at the folder, or raise the limit")
        read_so_far = 0
        for info in members:
            name = info.filename
            problem = _refused(info)
            if problem:
                skipped.append((f"{label}:{name}", problem))
                continue
            if info.file_size > limits.max_file_bytes:
                skipped.append((f"{label}:{name}", f"{info.file_size:,} bytes expanded, more than the "
                                f"{limits.max_file_bytes:,} a document may have (documents.max_file_bytes)"))
                continue
            try:
                content = _read_bounded(archive, info, limits, read_so_far, label)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as error:
                skipped.append((f"{label}:{name}", f"a damaged or unsupported zip member ({error})"))
                continue
            read_so_far += len(content)
            yield name, content


def _refused(info: zipfile.ZipInfo) -> str:
    """Why a member is not read, or '' when it may be."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return "its path leaves the archive (an absolute path or '..'); refused"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link; refused (a link can point anywhere on this machine)"
    if info.flag_bits & 0x1:
        return "encrypted in the archive; unpack it with its password first"
    if name.lower().endswith(".zip"):
        return "a zip inside the zip; nested archives are not opened (unpack it and add its files)"
    return ""


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, read_so_far: int,
                  label: str) -> bytes:
    """The member's bytes, stopped as soon as it passes its own limit or the archive's expanded limit."""
    blocks, size = [], 0
    with archive.open(info) as member:
        while block := member.read(READ_BLOCK):
            size += len(block)
            if read_so_far + size > limits.max_expanded_bytes:
                raise DataError(f"{label}: {info.filename} expands past the {limits.max_expanded_bytes:,} bytes "
                                "allowed for the whole archive (documents.max_zip_expanded_bytes), more than it "
                                "declares; refused as a possible zip bomb")
            if size > limits.max_file_bytes:
                raise OSError(f"it expands past {limits.max_file_bytes:,} bytes, more than it declares")
            blocks.append(block)
    return b"".join(blocks)
