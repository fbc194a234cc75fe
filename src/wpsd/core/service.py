"""The operations a web node offers over the processes and the jobs, for every protocol.

The protocol layers parse a request into :mod:`wpsd.protocol.requests` models, call a
:class:`Service` method, and encode what it returns. The service checks requests and keeps
the job records; executions run elsewhere: synchronous ones through the :class:`Executor`
(the host's worker), jobs wherever a worker claims them from the store.

Every operation on processes and jobs is given the :class:`~wpsd.core.caller.Caller`. A
process the caller may not use, and a job that is not the caller's, are answered as if they
did not exist (NoSuchProcess, NoSuchJob, None), so that nobody learns they do.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import Settings
from ..exceptions import (
    InvalidParameterValue,
    NoSuchProcess,
    ServerBusy,
    StorageNotSupported,
    VersionNegotiationFailed,
    WPSError,
)
from ..processes.process import Process
from ..processes.registry import ProcessRegistry
from ..protocol.requests import Execute
from . import codec
from .caller import OPERATOR, Caller
from .execution import Environment, ExecutionRequest, check_request, select_outputs
from .job import ACTIVE, Job, JobError, JobStatus, now
from .results import ExecuteResult, output_values
from .retention import cleanup

if TYPE_CHECKING:  # the ports import the core
    from ..ports import Executor, JobStore, Notifier, OutputStorage

logger = logging.getLogger("wpsd")
#: seconds GetStatus and GetResult wait for a job submitted less than this long ago to end
QUICK_JOB_WAIT = 3.0
#: how much of a job's log its WPS status documents carry: the last lines, within this many
#: characters (the whole log is a link away; a status poll should stay small)
LOG_TAIL_LINES = 10
LOG_TAIL_CHARS = 2048
#: what is read of it: one character more, so that a longer read says the log was cut
_LOG_READ = LOG_TAIL_CHARS + 1


def execution_request(request: Execute, job_id: str, output_url: str = "") -> ExecutionRequest:
    """The protocol-neutral part of a client's Execute: what the worker needs to run it.

    ``output_url`` is where the outputs kept by reference are served, for the links of files
    a handler keeps itself (a metalink's).
    """
    return ExecutionRequest(job_id, request.identifier, tuple(request.inputs),
                            tuple(request.outputs), output_url)


class Service:
    """The operations of a web node over one process registry, job store and output storage.

    ``notifier`` tells the workers that a job was submitted or dismissed, so they start or
    stop it at once rather than when they next look at the store.
    """

    def __init__(
        self,
        settings: Settings,
        registry: ProcessRegistry,
        store: JobStore,
        storage: OutputStorage,
        executor: Executor,
        env: Environment,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.storage = storage
        self.executor = executor
        self.env = env
        self.notifier = notifier
        configured = settings.roles_of_processes
        #: the roles each process needs (the process_roles setting, or its own)
        self.process_roles = {p.identifier: frozenset(configured.get(p.identifier, p.roles))
                              for p in registry}
        if len(registry):  # (the jobs command has none)
            for ident in sorted(configured.keys() - self.process_roles.keys()):
                logger.warning("process_roles names %r, which this server does not offer",
                               ident)
        if settings.auth == "none":
            for ident, roles in self.process_roles.items():
                if roles:
                    logger.warning("process %r needs a role (%s) and auth is none: nobody "
                                   "holds one, so it is hidden", ident, ", ".join(sorted(roles)))

    def close(self) -> None:
        self.executor.close()
        if self.notifier is not None:
            self.notifier.close()
        self.store.close()

    @staticmethod
    def supports_jobs(process: Process) -> bool:
        return process.asynchronous

    # ------------------------------------------------------------ discovery

    def negotiate_version(self, accept_versions: Sequence[str], supported: Sequence[str]) -> str:
        """The first version in the client's list (its order of preference) that is supported
        (OWS Common 06-121r3, 7.3.2); ``supported[0]`` when the client names none."""
        if not accept_versions:
            return supported[0]
        for version in accept_versions:
            if version in supported:
                return version
        raise VersionNegotiationFailed(
            f"None of the versions {', '.join(accept_versions)} is supported; "
            f"use {', '.join(supported)}",
            "AcceptVersions",
        )

    def negotiate_language(self, language: str | None) -> str:
        languages = self.settings.languages
        if not language:
            return languages[0]
        for offered in languages:
            if offered.lower() == language.lower():
                return offered
        raise InvalidParameterValue(
            f"Language {language!r} is not offered; use one of {', '.join(languages)}", "language"
        )

    def processes(self, *, caller: Caller) -> list[Process]:
        """The processes the caller may see and run, in the order they were declared."""
        return [p for p in self.registry if caller.may_use(self.process_roles[p.identifier])]

    def find_process(self, identifier: str, *, caller: Caller) -> Process | None:
        """A process by its identifier, or None, also when the caller may not use it."""
        process = self.registry.get(identifier)
        if process is None or not caller.may_use(self.process_roles[identifier]):
            return None
        return process

    def get_process(self, identifier: str, *, caller: Caller) -> Process:
        process = self.find_process(identifier, caller=caller)
        if process is None:
            raise NoSuchProcess(f"No process named {identifier!r}", identifier)
        return process

    def describe(self, identifiers: Sequence[str], *, caller: Caller) -> list[Process]:
        if any(i.lower() == "all" for i in identifiers):
            return self.processes(caller=caller)
        unknown = [i for i in identifiers if self.find_process(i, caller=caller) is None]
        if unknown:  # all of them, as WPS 2.0's "list of violating process identifiers"
            raise NoSuchProcess(f"No process named {', '.join(map(repr, unknown))}",
                                ",".join(unknown))
        return [self.get_process(i, caller=caller) for i in identifiers]

    # ------------------------------------------------------------ execution

    def execute(self, request: Execute, output_url: str, *, caller: Caller) -> ExecuteResult:
        """Run a process synchronously.

        Problems with the request raise a :class:`WPSError`, before the execution takes a
        slot where they can be found without fetching; a handler that fails gives a result
        whose ``error`` is set, so the client gets a ProcessFailed document.
        """
        process = self.get_process(request.identifier, caller=caller)
        if request.store:
            raise InvalidParameterValue("storeExecuteResponse asks for a job: use submit()",
                                        "storeExecuteResponse")
        if request.status:
            raise InvalidParameterValue(
                "status=true needs storeExecuteResponse=true (OGC 05-007r7 table 51)", "status"
            )
        execution = execution_request(request, str(uuid.uuid4()), output_url)
        selected = check_request(process, execution, self.env)
        # (selected, not request.outputs: an output may be declared by reference by default)
        if caller.name and any(s.request.as_reference for s in selected):
            # Outputs kept by reference are served to their owner only; a job's record says
            # whose it is, and this one is recorded before it can write any.
            self.store.record_owner(execution.job_id, caller.name)
        started = now().replace(microsecond=0)
        outcome = self.executor.run(execution, process.time_limit or self.settings.job_time_limit)
        result = ExecuteResult(execution.job_id, process, request, selected, started)
        if outcome.error is not None:
            error = _error(outcome.error)
            if outcome.rejected:
                raise error  # the request was at fault: an exception report, not ProcessFailed
            result.error = error
        else:
            result.outputs = output_values(outcome.outputs, selected, output_url,
                                           self.storage.url)
        return result

    def submit(self, request: Execute, service_url: str, output_url: str, language: str, *,
               caller: Caller) -> Job:
        """Accept an asynchronous job, the caller's: check what can be checked now, store
        it, queue it."""
        process = self.get_process(request.identifier, caller=caller)
        if not self.supports_jobs(process):
            raise StorageNotSupported(
                f"Process {process.identifier!r} cannot store its response or run as a job",
                "storeExecuteResponse",
            )
        job_id = str(uuid.uuid4())
        # Everything but fetching references is checked before the client gets a job id.
        check_request(process, execution_request(request, job_id), self.env)
        for _, uri in request.subscriber:
            try:
                self.env.check_url(uri, "subscriber")
            except WPSError as exc:
                raise InvalidParameterValue(f"Callback {uri!r} is not allowed: {exc.text}",
                                            "subscriber") from None
        if self.store.count([JobStatus.ACCEPTED]) >= self.settings.max_queued_jobs:
            raise ServerBusy("Too many jobs are waiting; try again later")
        job = Job(job_id, process.identifier, request, service_url, output_url, language,
                  owner=caller.name)
        self.store.create(job)
        logger.info("job %s: %s submitted", job.id, process.identifier)
        if self.notifier is not None:
            self.notifier.job_submitted()
        return job

    # ------------------------------------------------------------ jobs

    def list_jobs(
        self,
        *,
        caller: Caller,
        statuses: Sequence[JobStatus] = (),
        process_ids: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """The caller's jobs (an admin's: everybody's), newest first."""
        return self.store.list_jobs(statuses=statuses, process_ids=process_ids, limit=limit,
                                    offset=offset, owner=None if caller.admin else caller.name)

    def get_job(self, job_id: str, caller: Caller = OPERATOR, with_log: bool = False
                ) -> Job | None:
        """A job, or None when there is none or it is not the caller's (by default: the
        operator's view, every job). ``with_log``: with the end of its log, as its status
        documents show it (read with the record: one query per poll)."""
        job = self.store.get(job_id, log_tail=_LOG_READ if with_log else None)
        if job is None or not caller.owns(job.owner):
            return None
        return job

    def settle(self, job_id: str, *, caller: Caller, with_log: bool = False) -> Job | None:
        """The job, after waiting briefly if it was submitted a moment ago and may be about to
        end: a client that asks right after submitting a quick job gets its final state.
        ``with_log`` as for :meth:`get_job`."""
        job = self.get_job(job_id, caller, with_log)
        while job is not None and job.status in ACTIVE \
                and now() - job.created < dt.timedelta(seconds=QUICK_JOB_WAIT):
            time.sleep(0.02)
            job = self.get_job(job_id, caller, with_log)
        return job

    def may_read_outputs(self, folder: str, *, caller: Caller) -> bool:
        """Whether the caller may download the outputs kept under ``folder``: those of its
        own jobs and synchronous executions (an admin: all)."""
        if caller.admin:
            return True
        return self.store.owner_of(folder) == caller.name

    def expiration(self, job: Job) -> dt.datetime | None:
        """When an ended job and its outputs will be deleted."""
        if job.finished is None:
            return None
        return job.finished + dt.timedelta(seconds=self.settings.job_retention)

    def job_result(self, job: Job) -> ExecuteResult:
        """A job record as an ExecuteResult, ready to encode as a status document."""
        process = self.registry.get(job.process_id)
        if process is None:  # the server no longer offers it
            raise NoSuchProcess(f"No process named {job.process_id!r}", job.process_id)
        selected = select_outputs(process, job.request.outputs)
        # creationTime: when the job ended, or when its record last changed.
        stamp = job.finished or job.updated or job.created
        result = ExecuteResult(job.id, process, job.request, selected, stamp.replace(microsecond=0),
                               status=job.status.value, progress=job.progress,
                               message=job.message)
        tail = job.log_tail
        if tail is None and job.status is JobStatus.FAILED:
            # read for the failure's report (WPS 2.0 GetResult) when the record came without
            tail = self.store.job_log(job.id, tail=_LOG_READ)
        if tail:
            result.log = last_lines(tail[-LOG_TAIL_CHARS:], cut=len(tail) > LOG_TAIL_CHARS)
        if job.status is JobStatus.SUCCEEDED:
            produced = codec.outputs_from_json(job.outputs or [])
            result.outputs = output_values(produced, selected, job.output_url,
                                           self.storage.url)
        elif job.status in (JobStatus.FAILED, JobStatus.DISMISSED):
            result.error = _error(job.error or JobError(
                "NoApplicableCode", f"The job was {job.status.value}"))
        return result

    def dismiss(self, job_id: str, caller: Caller = OPERATOR) -> Job | None:
        """Stop a job (its OS processes end) and remove its outputs; None for unknown ids
        and for jobs that are not the caller's (by default: the operator, any job).

        An ended job is marked dismissed too, so its id is released (WPS 2.0 NoSuchJob).
        """
        if self.get_job(job_id, caller) is None:
            return None
        if self.store.finish(job_id, JobStatus.DISMISSED) or self.store.mark_dismissed(job_id):
            logger.info("job %s: dismissed", job_id)
        # The job's own process sees it within a heartbeat wherever it runs; its worker, told
        # now, ends it at once.
        if self.notifier is not None:
            self.notifier.job_dismissed(job_id)
        self.storage.delete(job_id)
        return self.store.get(job_id)

    def cleanup(self) -> list[str]:
        """Delete ended jobs older than the retention time, with their outputs."""
        return cleanup(self.settings, self.store, self.storage)


def last_lines(text: str, count: int = LOG_TAIL_LINES, cut: bool = False) -> str:
    """The last ``count`` lines of a log; ``cut``: the text is the end of a longer log, so
    its first line may be the end of one (it is left out, or marked when it is all)."""
    lines = text.splitlines()
    if cut and len(lines) > 1:
        lines = lines[1:]
    elif cut and lines:
        lines = ["…" + lines[0]]
    return "\n".join(lines[-count:])


def _error(error: JobError) -> WPSError:
    rebuilt = WPSError.from_code(error.code, error.text, error.locator)
    if error.status is not None:
        rebuilt.status = error.status
    return rebuilt
