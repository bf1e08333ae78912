"""Where adaptlab keeps things, and its clock: the home folder, free space, the time stamps it stores."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from core.errors import StoreError


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def adaptlab_home() -> Path:
    return Path(os.environ.get("ADAPTLAB_HOME", Path.home() / ".adaptlab")).expanduser()


MIN_FREE_BYTES = 200 * 2**20  # results, caches and logs of a grid need far less; below this a write may fail


RAY_ADDRESS_VARIABLE = "ADAPTLAB_RAY_ADDRESS"  # the Ray cluster grids run on with `executor: ray` (docs/DEPLOY.md)


def ray_address(configured: str | None = None) -> str | None:
    """The Ray cluster to use: the one named (CLI or config), else ADAPTLAB_RAY_ADDRESS, else None (a local one)."""
    return configured or os.environ.get(RAY_ADDRESS_VARIABLE) or None


def free_bytes(path: Path) -> int:
    """Free space on the file system that holds path (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def check_free_space(folders: dict[str, Path], needed: int = MIN_FREE_BYTES) -> None:
    """Refuse, before a grid starts, to run where the results could not be written: each folder needs `needed`."""
    for what, folder in folders.items():
        free = free_bytes(folder)
        if free < needed:
            raise StoreError(f"only {free / 2**20:.0f} MB free on the disk of the {what} ({folder}); a grid needs at "
                             f"least {needed / 2**20:.0f} MB there. Free some space, or choose another location "
                             "with --store or ADAPTLAB_HOME. Nothing was run and nothing stored was changed")
