"""The job store interface: where job records live, shared by every server and worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from ..job import Job, JobError, JobStatus


class JobStore(Protocol):
    """Job records. Every state change is one guarded update, safe from several processes."""

    def create(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def list_jobs(
        self,
        *,
        statuses: Sequence[JobStatus] = (),
        process_ids: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]: ...

    def count(self, statuses: Sequence[JobStatus], worker: str | None = None) -> int: ...

    def claim_next(self, worker: str) -> Job | None:
        """Move the oldest accepted job to running for ``worker``; None when there is none."""
        ...

    def set_pid(self, job_id: str, pid: int) -> None: ...

    def update_progress(self, job_id: str, progress: int, message: str) -> bool:
        """Record progress of a running job; False when the job is no longer running."""
        ...

    def heartbeat(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Mark running jobs as alive; returns the current status of each job asked about."""
        ...

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        outputs: list[dict[str, Any]] | None = None,
        error: JobError | None = None,
    ) -> bool:
        """End an active job (accepted or running); False if it had already ended."""
        ...

    def mark_dismissed(self, job_id: str) -> bool:
        """Dismiss an ended job; False if it was dismissed already."""
        ...

    def fail_stale(self, silent_since: dt.datetime, message: str) -> list[str]:
        """Fail running jobs whose last heartbeat is older than ``silent_since``."""
        ...

    def expired(self, finished_before: dt.datetime) -> list[str]:
        """Ids of ended jobs that finished before the given time."""
        ...

    def delete(self, job_id: str) -> None: ...

    def close(self) -> None: ...
