"""The service's temporary folders: their names kept out of answers, stale ones removed at start."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

# Folders of uploads, imports and downloads (``tempfile`` prefixes used by the service).
PREFIXES = ("rivergis-upload-", "rivergis-import-", "rivergis-download-", "rivergis-export-", "rivergis-ratios-")
# A folder untouched this long belongs to no running request (a 200 MB upload takes minutes).
STALE_AFTER_S = 6 * 3600


def temp_path_pattern() -> re.Pattern[str]:
    """Return the pattern of a path inside one of the service's temporary folders."""
    root = re.escape(tempfile.gettempdir().rstrip("/"))
    return re.compile(root + r"/rivergis-[a-z]+-[^/\s'\"]*(?:/[^\s'\"]*)?")


def scrub(value: Any) -> Any:
    """Return ``value`` (text, or lists and dicts of it) with server temp paths cut to their file name."""
    if isinstance(value, str):
        return temp_path_pattern().sub(lambda m: Path(m.group(0)).name or "…", value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    return value


def remove_stale(root: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the service's temporary folders left by a killed process; return what was removed."""
    base = root or Path(tempfile.gettempdir())
    limit = (now if now is not None else time.time()) - STALE_AFTER_S
    removed = []
    for prefix in PREFIXES:
        for folder in base.glob(f"{prefix}*"):
            try:
                stale = folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < limit
            except OSError:
                continue
            if stale:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed
