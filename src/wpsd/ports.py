"""The interfaces between the core and what it runs on (its backends), as Protocols only.

- :class:`Executor`: where a synchronous execution runs (the host's worker, or in-process).
- :class:`Notifier`: how web nodes wake the workers up.
- :class:`JobStore`: job records, shared by every web node and worker of a deployment.
- :class:`OutputStorage`: where outputs asked for by reference are kept and served from.
- :class:`Authenticator`: who is calling, from a request's credentials.
- :class:`UserStore`: the users of API tokens.

Backends implement them (``wpsd.backends``, ``wpsd.worker``); the core and the protocol
layers depend on these shapes only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .core.caller import Caller, User
from .core.execution import ExecutionRequest, Outcome
from .core.job import Job, JobError, JobStatus
from .core.results import StoredOutput
from .formats import Format

if TYPE_CHECKING:
    from werkzeug.wrappers import Request


class Executor(Protocol):
    """Runs one synchronous execution and returns its outcome (never raises for a failing
    process; raises ServerBusy when no slot frees up in time)."""

    def run(self, request: ExecutionRequest, limit: float) -> Outcome: ...

    def close(self) -> None: ...


class Notifier(Protocol):
    """Tells the workers about new and dismissed jobs (they also poll the store)."""

    def job_submitted(self) -> None: ...

    def job_dismissed(self, job_id: str) -> None: ...

    def close(self) -> None: ...


class JobStore(Protocol):
    """Job records. Every state change is one guarded update, safe from several processes."""

    url: str

    def create(self, job: Job) -> None: ...

    def get(self, job_id: str, log_tail: int | None = None) -> Job | None:
        """A job record; with ``log_tail``, its log's last that many characters too (in
        ``Job.log_tail``, read in the same query)."""
        ...

    def list_jobs(
        self,
        *,
        statuses: Sequence[JobStatus] = (),
        process_ids: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
        owner: str | None = None,
    ) -> list[Job]:
        """The newest jobs first; only ``owner``'s unless it is None."""
        ...

    def owner_of(self, job_id: str) -> str | None:
        """Who started a job, or ran the synchronous execution whose outputs have this id
        (see :meth:`record_owner`); None when the store knows neither."""
        ...

    def record_owner(self, execution_id: str, owner: str) -> None:
        """Record who runs a synchronous execution whose outputs are kept by reference."""
        ...

    def forget_owners(self, before: dt.datetime) -> None:
        """Forget the owners of synchronous executions recorded before ``before``."""
        ...

    def count(self, statuses: Sequence[JobStatus], worker: str | None = None) -> int: ...

    def claim(self, worker: str, process_ids: Sequence[str], limit: int = 1) -> list[Job]:
        """Move up to ``limit`` of the oldest accepted jobs of ``process_ids`` to running for
        ``worker``, and return them (oldest first; none when there is none)."""
        ...


    def reassign(self, job_id: str, from_worker: str, to_worker: str) -> bool:
        """Hand a running job from ``from_worker`` to ``to_worker``; False unless
        ``from_worker`` held it (of two attempts to run a job, one takes it over)."""
        ...

    def append_log(self, job_id: str, text: str) -> None:
        """Add lines to a job's log."""
        ...

    def job_log(self, job_id: str, tail: int | None = None) -> str | None:
        """What the job's handler logged (with ``tail``, only its last that many
        characters), or None for an unknown job."""
        ...

    def update_progress(self, job_id: str, progress: int, message: str) -> bool:
        """Record progress of a running job; False when the job is no longer running."""
        ...

    def heartbeat(self, job_id: str, pid: int) -> bool:
        """Mark a running job alive in process ``pid``; False when it is no longer running."""
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

    def delete(self, job_id: str) -> None:
        """Delete a job record (or the owner of a synchronous execution's outputs)."""
        ...

    def warm_up(self, process_ids: Sequence[str]) -> None:
        """Prepare, in a process that will fork job processes, what each of them will use."""
        ...

    def before_fork(self) -> None:
        """Close this process's connections: a child forked next must inherit none."""
        ...

    def after_fork(self) -> None:
        """In a child forked after :meth:`before_fork`: connect anew."""
        ...

    def close(self) -> None: ...


class OutputStorage(Protocol):
    """Outputs asked for by reference: written by executions, served by web nodes.

    Keys are ``<job id>/<file name>``; an implementation refuses (None) keys that would
    reach anything else. Outputs travel as files or streams, never whole in memory.
    """

    def store(self, job_id: str, name: str, data: bytes | Path, fmt: Format) -> str:
        """Write one output, given as bytes or as a file to copy; returns its key, the path
        below the storage URL."""
        ...

    def open(self, key: str) -> StoredOutput | None:
        """A stored output to serve (media type, size, a file or a stream), or None."""
        ...

    def url(self, key: str) -> str | None:
        """The storage's own URL of an output (presigned, for clients to download from the
        store directly), or None when references are wpsd's links."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove every output of a job."""
        ...

    def folders_older_than(self, moment: float) -> list[str]:
        """Job ids whose outputs were last changed before ``moment`` (a POSIX time)."""
        ...


class Authenticator(Protocol):
    """Who is calling: one implementation per ``auth`` setting (see :mod:`wpsd.web.auth`).

    The web layer asks once per request and passes the :class:`Caller` to the core.
    """

    #: the ``WWW-Authenticate`` challenges of a 401 response, one header each (browsers
    #: read one challenge a header)
    challenges: tuple[str, ...]

    def identify(self, request: Request) -> Caller | None:
        """The caller whose credentials the request carries, or None when it carries none
        this authenticator reads; raises :class:`~wpsd.exceptions.NotAuthenticated` for
        credentials that are wrong (an unknown token, a bad signature, an expired JWT)."""
        ...


class UserStore(Protocol):
    """The users of ``auth = "tokens"``, with the hashes of their tokens."""

    def add(self, name: str, admin: bool = False, roles: tuple[str, ...] = ()) -> str:
        """Add a user and return its new token, which only the caller now knows."""
        ...

    def new_token(self, name: str) -> str | None: ...

    def remove(self, name: str) -> bool: ...

    def list_users(self) -> list[User]: ...

    def by_token(self, token: str) -> User | None: ...
