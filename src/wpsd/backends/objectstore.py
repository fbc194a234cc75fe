"""Outputs kept in object storage (S3, or any fsspec filesystem), shared by every node.

Imported only when ``output_storage`` is set: fsspec (and s3fs for ``s3://``) are the ``s3``
extra, not dependencies of the base install.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

import fsspec  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]

from ..core.results import StoredOutput
from ..formats import Format
from .filesystem import TYPE_SUFFIX, file_name, folder_name, split_key

#: bytes moved per request to the store by default: what one transfer holds in memory, a
#: few times over (S3 takes multipart uploads in parts of 5 MiB at least)
CHUNK = 8 * 1024 * 1024
#: bytes read from a local file at a time while it is uploaded
_COPY_BUFFER = 1024 * 1024
#: S3 uploads have at most 10,000 parts; a very large file gets larger parts
_MAX_PARTS = 9_000
#: filesystems whose folders are key prefixes, made by writing below them (for the others,
#: local or remote folders, a job's folder is made first)
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"}
#: presigned URLs (SigV4) are valid for a week at most
MAX_URL_LIFETIME = 7 * 24 * 3600.0


class FsspecStorage:
    """Keeps each job's outputs below ``<url>/<job id>/``, each with a ``.type`` object
    holding its media type (written last, so an output is never served half-written).

    :param url: an fsspec URL naming a bucket or folder, e.g. ``s3://bucket/prefix``.
    :param options: the filesystem's options (s3fs: ``endpoint_url``, ``key``, ``secret``...).
    :param url_lifetime: seconds presigned URLs stay valid; None: references are wpsd links.
    :param chunk_size: bytes per request to the store (upload part, read-ahead block).
    """

    def __init__(self, url: str, options: Mapping[str, Any] | None = None,
                 url_lifetime: float | None = None, chunk_size: int = CHUNK) -> None:
        self.location = url
        self.chunk_size = chunk_size
        # Other processes and nodes write and delete outputs: a directory listing cached by
        # this one would hide their changes (fsspec caches listings unless told not to).
        self.options = {"use_listings_cache": False, **(options or {})}
        self.url_lifetime = url_lifetime
        self._filesystem: Any = None
        self._root = ""
        self._pid = -1
        # Checked now, so that a wrong URL fails at start-up, but from the filesystem's class:
        # an s3fs instance starts a thread, and the worker must stay single-threaded to fork.
        protocol = fsspec.core.split_protocol(url)[0] or "file"
        cls = fsspec.get_filesystem_class(protocol.split("::")[-1])
        if not str(cls._strip_protocol(url)).strip("/"):
            raise ValueError(f"output_storage {url!r} names no bucket or folder")
        if url_lifetime is not None and cls.sign is AbstractFileSystem.sign:
            raise ValueError(f"output_presigned_urls: {url!r} is on a filesystem that cannot "
                             "presign URLs")

    def _fs(self) -> Any:
        """The filesystem, made on first use in each process: s3fs (like every async fsspec
        filesystem) refuses to work in a child forked from the process that made it, and job
        processes are forks of the worker."""
        if self._pid != os.getpid():
            fs, root = fsspec.core.url_to_fs(self.location, **self.options)
            self._filesystem, self._root = fs, str(root).rstrip("/")
            self._pid = os.getpid()
        return self._filesystem

    def _path(self, folder: str, filename: str | None = None) -> str:
        self._fs()  # the root is known once the filesystem is
        return "/".join(p for p in (self._root, folder, filename) if p)

    def store(self, job_id: str, name: str, data: bytes | Path, fmt: Format) -> str:
        """Write one output, given as bytes or as a file uploaded in chunks; returns its key."""
        fs = self._fs()
        folder, filename = folder_name(job_id), file_name(name, fmt)
        path = self._path(folder, filename)
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        if not _protocols(fs) & _OBJECT_STORES:
            fs.makedirs(self._path(folder), exist_ok=True)  # a filesystem with real folders
        block = max(self.chunk_size, math.ceil(size / _MAX_PARTS))
        with fs.open(path, "wb", block_size=block, **_upload_options(fs, fmt)) as out:
            if isinstance(data, Path):
                with data.open("rb") as source:
                    shutil.copyfileobj(source, out, _COPY_BUFFER)
            else:
                out.write(data)
        fs.pipe_file(path + TYPE_SUFFIX, fmt.content_type.encode())
        return f"{folder}/{filename}"

    def open(self, key: str) -> StoredOutput | None:
        """A stored output to stream, or None (also for keys that escape)."""
        parts = split_key(key)
        if parts is None:
            return None
        fs = self._fs()
        path = self._path(*parts)
        try:
            # The type object first: it is written last, so the output is complete.
            content_type = fs.cat_file(path + TYPE_SUFFIX).decode()
            info = fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        etag = info.get("ETag")

        def opener() -> IO[bytes]:
            # Read ahead one chunk at a time: a download holds a chunk, whatever its size.
            return cast(IO[bytes], fs.open(path, "rb", block_size=self.chunk_size))

        return StoredOutput(content_type, int(info["size"]), opener=opener,
                            etag=etag.strip('"') if isinstance(etag, str) else None,
                            modified=_modified(info))

    def url(self, key: str) -> str | None:
        """A presigned URL of the output when ``url_lifetime`` is set, else None."""
        parts = split_key(key)
        if self.url_lifetime is None or parts is None:
            return None
        # Signing is a computation on this node: no request reaches the store (the client may
        # fetch credentials first, from the instance metadata, when none are configured).
        return str(self._fs().sign(self._path(*parts), expiration=int(self.url_lifetime)))

    def delete(self, job_id: str) -> None:
        """Remove every output of a job (its whole prefix)."""
        try:
            self._fs().rm(self._path(folder_name(job_id)), recursive=True)
        except FileNotFoundError:
            pass

    def folders_older_than(self, moment: float) -> list[str]:
        """Job ids whose newest output object was written before ``moment`` (a POSIX time)."""
        fs = self._fs()
        try:
            # One listing of the whole prefix (paged by the store), not one per job.
            found = fs.find(self._root, detail=True)
        except FileNotFoundError:
            return []
        prefix = self._root + "/"
        newest: dict[str, float] = {}
        for path, info in found.items():
            if not path.startswith(prefix) or info.get("type") != "file":
                continue
            folder, inside, _ = path[len(prefix):].partition("/")
            if not inside:
                continue  # not in a job's folder
            modified = _modified(info)
            if modified is None:
                try:
                    modified = fs.modified(path)
                except (NotImplementedError, OSError):
                    continue  # no time to go by: kept until its job record expires
            newest[folder] = max(newest.get(folder, 0.0), _timestamp(modified))
        return [folder for folder, stamp in newest.items() if stamp < moment]


def _protocols(fs: Any) -> set[str]:
    return set(fs.protocol) if isinstance(fs.protocol, tuple | list) else {fs.protocol}


def _upload_options(fs: Any, fmt: Format) -> dict[str, Any]:
    """What a store keeps as the object's own media type, where we know how to say it: what
    the store sends to clients that download it directly (presigned URLs)."""
    if {"s3", "s3a"} & _protocols(fs):
        return {"ContentType": fmt.content_type}
    return {}


def _modified(info: Mapping[str, Any]) -> dt.datetime | None:
    """When an object was last written, from the details fsspec lists (each filesystem names
    it differently: s3fs LastModified, local mtime, gcsfs updated, memory created)."""
    for field in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(field)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _timestamp(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float(value)
