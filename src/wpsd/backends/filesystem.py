"""Outputs kept as files and served by URL: the store behind ``asReference`` outputs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..formats import Format

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class FileStorage:
    """Keeps each job's outputs in ``directory/<job id>/`` with their media type beside them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def store(self, job_id: str, name: str, data: bytes, fmt: Format) -> str:
        """Write one output; returns its key, the path below the storage URL."""
        folder = self.directory / _SAFE.sub("_", job_id)
        folder.mkdir(parents=True, exist_ok=True)
        filename = _SAFE.sub("_", name) + fmt.extension
        (folder / filename).write_bytes(data)
        (folder / (filename + ".type")).write_text(fmt.content_type)
        return f"{folder.name}/{filename}"

    def folders_older_than(self, moment: float) -> list[str]:
        """Job ids whose output folder was last changed before ``moment`` (a POSIX time)."""
        if not self.directory.is_dir():
            return []
        return [f.name for f in self.directory.iterdir()
                if f.is_dir() and f.stat().st_mtime < moment]

    def delete(self, job_id: str) -> None:
        """Remove every output of a job."""
        shutil.rmtree(self.directory / _SAFE.sub("_", job_id), ignore_errors=True)

    def open(self, key: str) -> tuple[Path, str] | None:
        """The file and media type of a stored output, or None (also for keys that escape)."""
        parts = key.split("/")
        if len(parts) != 2 or any(not p or _SAFE.search(p) or p.startswith(".") for p in parts):
            return None
        path = self.directory / parts[0] / parts[1]
        type_file = path.with_name(path.name + ".type")
        if parts[1].endswith(".type") or not path.is_file() or not type_file.is_file():
            return None
        return path, type_file.read_text()
