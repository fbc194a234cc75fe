"""Job, JobStatus: one execution of a process, as the job store keeps it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..protocol.requests import Execute


class JobStatus(StrEnum):
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DISMISSED = "dismissed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DISMISSED)


ACTIVE = (JobStatus.ACCEPTED, JobStatus.RUNNING)


@dataclass(frozen=True)
class JobError:
    """Why a job failed: an OWS exception code (WPS 2.0 spelling), its text and locator, and
    the HTTP status when it differs from the code's own. ``trace`` is the traceback of a
    handler's exception: kept for the operator (``wpsd jobs show``), never sent to a client,
    since it names the server's files and may hold the handler's data."""

    code: str
    text: str
    locator: str | None = None
    status: int | None = None
    trace: str | None = None


@dataclass
class Job:
    """A job record. ``outputs`` is the encoded result (see :mod:`wpsd.jobs.codec`)."""

    id: str
    process_id: str
    request: Execute
    #: where the job was submitted: the service URL, the output URL and the language
    service_url: str
    output_url: str
    language: str
    status: JobStatus = JobStatus.ACCEPTED
    progress: int = 0
    message: str = ""
    created: dt.datetime = field(default_factory=lambda: now())
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    updated: dt.datetime | None = None
    heartbeat: dt.datetime | None = None
    #: the host whose executor runs the job, and the job's OS process there
    worker: str | None = None
    pid: int | None = None
    outputs: list[dict[str, Any]] | None = None
    error: JobError | None = None
    #: the name of the caller who started it ("" for the anonymous tenant of auth = none)
    owner: str = ""
    #: the end of the job's log, when the store was asked for it with the record
    #: (``JobStore.get(id, log_tail=N)``); None when it was not read
    log_tail: str | None = None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
