"""Retention: what is deleted once ``job_retention`` has passed, and never before."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from typing import TYPE_CHECKING

from ..config import Settings
from .job import ACTIVE, now

if TYPE_CHECKING:  # the ports import the core
    from ..ports import JobStore, OutputStorage

logger = logging.getLogger("wpsd")


def cleanup(settings: Settings, store: JobStore, storage: OutputStorage) -> list[str]:
    """Delete ended jobs older than the retention time with their outputs, outputs of
    synchronous executions as old, and working directories that no active job owns.

    Returns the ids whose records or outputs were removed.
    """
    before = now() - dt.timedelta(seconds=settings.job_retention)
    removed = store.expired(before)
    for job_id in removed:
        storage.delete(job_id)
        store.delete(job_id)
    # Synchronous executions leave outputs by reference but no job record: expire by age.
    for folder in storage.folders_older_than(before.timestamp()):
        if store.get(folder) is None:
            storage.delete(folder)
            store.delete(folder)  # whose they were
            removed.append(folder)
    # Owners of executions that kept no output; one still writing its outputs a retention
    # time after it started (a folder too young to go) keeps its owner until it goes.
    store.forget_owners(before - dt.timedelta(seconds=settings.job_retention))
    # Working directories of executions whose process died with its host.
    workdir = settings.work_path
    for path in workdir.iterdir() if workdir.is_dir() else ():
        job = store.get(path.name[:36])
        active = job is not None and job.status in ACTIVE
        if not active and path.stat().st_mtime < before.timestamp():
            shutil.rmtree(path, ignore_errors=True)
    if removed:
        logger.info("cleanup: removed %d expired jobs", len(removed))
    return removed
