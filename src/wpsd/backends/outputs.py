"""Choosing the output storage of a deployment from its settings."""

from __future__ import annotations

from ..config import Settings
from ..ports import OutputStorage
from .filesystem import FileStorage

#: presigned URLs stay valid at least this long, whatever the retention time (seconds)
MIN_URL_LIFETIME = 3600.0


def open_storage(settings: Settings) -> OutputStorage:
    """The output storage the settings name: object storage (``output_storage``, an fsspec
    URL), or a directory (the default)."""
    if not settings.output_storage:
        return FileStorage(settings.output_path)
    try:
        # Only now: fsspec is the s3 extra, which a deployment on one host does without.
        from .objectstore import MAX_URL_LIFETIME, FsspecStorage
    except ImportError as exc:
        raise ImportError(f"setting 'output_storage' needs fsspec (pip install 'wpsd[s3]'): "
                          f"{exc}") from None
    lifetime = None
    if settings.output_presigned_urls:
        # Documents are built anew for each request, with fresh signatures; no URL needs to
        # outlive the output it names, deleted after job_retention (S3 allows a week at most).
        lifetime = min(max(settings.job_retention, MIN_URL_LIFETIME), MAX_URL_LIFETIME)
    return FsspecStorage(settings.output_storage, settings.storage_options, lifetime)
