"""Outputs kept as files and served by URL: the store behind ``asReference`` outputs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..core.results import StoredOutput
from ..formats import Format

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
#: the media type of an output is kept beside it, in a file of this suffix
TYPE_SUFFIX = ".type"


def folder_name(job_id: str) -> str:
    """The folder (or key prefix) of a job's outputs."""
    return _SAFE.sub("_", job_id)


def file_name(name: str, fmt: Format) -> str:
    """The file name of an output in its job's folder."""
    return _SAFE.sub("_", name) + fmt.extension


def split_key(key: str) -> tuple[str, str] | None:
    """The (folder, file name) of a key, or None for a key that names anything but an output
    (another depth, a dot file, a media type file, characters a stored name never has)."""
    parts = key.split("/")
    if len(parts) != 2 or any(not p or _SAFE.search(p) or p.startswith(".") for p in parts):
        return None
    if parts[1].endswith(TYPE_SUFFIX):
        return None
    return parts[0], parts[1]


class FileStorage:
    """Keeps each job's outputs in ``directory/<job id>/`` with their media type beside them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def store(self, job_id: str, name: str, data: bytes | Path, fmt: Format) -> str:
        """Write one output, given as bytes or as a file to copy; returns its key."""
        folder = self.directory / folder_name(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        filename = file_name(name, fmt)
        if isinstance(data, Path):
            # Copied, not moved or linked: the handler's file may be one it keeps.
            shutil.copyfile(data, folder / filename)
        else:
            (folder / filename).write_bytes(data)
        # Written last: an output is served only once its type file exists, so never half.
        (folder / (filename + TYPE_SUFFIX)).write_text(fmt.content_type)
        return f"{folder.name}/{filename}"

    def folders_older_than(self, moment: float) -> list[str]:
        """Job ids whose output folder was last changed before ``moment`` (a POSIX time)."""
        if not self.directory.is_dir():
            return []
        return [f.name for f in self.directory.iterdir()
                if f.is_dir() and f.stat().st_mtime < moment]

    def delete(self, job_id: str) -> None:
        """Remove every output of a job."""
        shutil.rmtree(self.directory / folder_name(job_id), ignore_errors=True)

    def open(self, key: str) -> StoredOutput | None:
        """A stored output's file and media type, or None (also for keys that escape)."""
        parts = split_key(key)
        if parts is None:
            return None
        path = self.directory / parts[0] / parts[1]
        type_file = path.with_name(path.name + TYPE_SUFFIX)
        if not path.is_file() or not type_file.is_file():
            return None
        return StoredOutput(type_file.read_text(), path.stat().st_size, path=path)

    def url(self, key: str) -> str | None:
        """None: files are served by wpsd (or by the server of ``output_url``)."""
        return None
