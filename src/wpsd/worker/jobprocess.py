"""What a job's own process does, once forked from the warm worker.

The process is the leader of its own process group (the worker called ``setsid``), so ending
the group ends whatever the handler started. A thread keeps the job's heartbeat in the store
and ends the group when the job is dismissed (from any node) or runs past its time limit;
the main thread runs the execution and records how it ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable

from .. import callbacks
from ..config import Settings
from ..core import codec
from ..core.execution import Environment, Outcome, execute, select_outputs
from ..core.job import Job, JobError, JobStatus
from ..core.results import output_values
from ..core.service import execution_request
from ..exceptions import NoApplicableCode
from ..ports import JobStore
from ..processes.registry import ProcessRegistry

logger = logging.getLogger("wpsd")
#: progress reports closer together than this are not all written to the store
PROGRESS_INTERVAL = 0.25
#: the most of a job's log that is kept: a chatty handler must not fill the store
MAX_JOB_LOG = 64 * 1024


class JobLog(logging.Handler):
    """Keeps, with the job, the lines its handler logs through ``context.logger`` (records
    that carry the job's id), written to the store at most every PROGRESS_INTERVAL. Tracebacks
    stay in the server log: the job's log is the client's to read."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        super().__init__(logging.INFO)
        self.store, self.job_id = store, job_id
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._pending: list[str] = []
        self._kept = 0
        self._last = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "job_id", None) != self.job_id or self._kept >= MAX_JOB_LOG:
            return
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                        "stack_info": None})
        text = self.format(record) + "\n"
        if self._kept + len(text) >= MAX_JOB_LOG:
            text = "... (the rest of the log is not kept)\n"
            self._kept = MAX_JOB_LOG
        else:
            self._kept += len(text)
        self._pending.append(text)
        if time.monotonic() - self._last >= PROGRESS_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._last = time.monotonic()
            try:
                self.store.append_log(self.job_id, text)
            except Exception:  # losing log lines must not fail the job
                pass


def become_job_process(store: JobStore, close: Iterable[int] = ()) -> None:
    """In a child just forked from a worker: make it the leader of a process group of its
    own (ending the group ends whatever the handler starts), with default signal handling,
    none of the worker's descriptors in ``close``, and connections of its own."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    for fd in close:
        with contextlib.suppress(OSError):
            os.close(fd)
    store.after_fork()


def kill_group(pid: int) -> None:
    """End the process group of a job process (the job and all it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def exit_description(code: int) -> str:
    """How a child ended, from its exit code as subprocess and waitstatus give it."""
    if code < 0:
        return f"was killed by signal {-code} ({signal.Signals(-code).name})"
    return f"exited with code {code}"


def time_limit_message(limit: float) -> str:
    return f"The job ran longer than its time limit of {limit:g} s and was stopped"


def _end_process_group() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _watch(store: JobStore, job_id: str, interval: float, limit: float) -> None:
    started = time.monotonic()
    while True:
        time.sleep(interval)
        if not store.heartbeat(job_id, os.getpid()):
            logger.info("job %s: no longer running (dismissed?), stopping its process", job_id)
            _end_process_group()
        if time.monotonic() - started > limit:
            store.finish(job_id, JobStatus.FAILED,
                         error=JobError("NoApplicableCode", time_limit_message(limit)))
            logger.error("job %s: %s", job_id, time_limit_message(limit))
            _end_process_group()


def run_job(job: Job, settings: Settings, registry: ProcessRegistry, store: JobStore,
            env: Environment) -> None:
    """Run a job this process claimed (status running) and record how it ended."""
    job_id = job.id
    process = registry.get(job.process_id)
    if process is None:  # the worker claims only jobs of its processes; a race at most
        store.finish(job_id, JobStatus.FAILED, error=JobError(
            "NoApplicableCode", f"Process {job.process_id!r} is not available to the worker"))
        return
    limit = process.time_limit or settings.job_time_limit
    threading.Thread(target=_watch, args=(store, job_id, settings.heartbeat_interval, limit),
                     daemon=True, name="wpsd-heartbeat").start()
    logger.info("job %s: %s started in process %d", job_id, job.process_id, os.getpid())
    if job.request.subscriber:
        callbacks.job_started(job, settings)
    last_write = 0.0

    def progress(percent: int, message: str) -> None:
        nonlocal last_write
        if time.monotonic() - last_write >= PROGRESS_INTERVAL:
            last_write = time.monotonic()
            store.update_progress(job_id, percent, message)

    job_log = JobLog(store, job_id)
    logging.getLogger("wpsd").addHandler(job_log)
    try:
        # execute logs how the job ended (once: with its time, or with why it failed)
        outcome = execute(process, execution_request(job.request, job_id, job.output_url), env,
                          progress)
    except Exception:  # a bug of ours fails the job, never leaves it running
        logger.exception("job %s: could not run", job_id)
        outcome = Outcome.failure(NoApplicableCode("The job could not run"))
    logging.getLogger("wpsd").removeHandler(job_log)
    job_log.flush()  # before the job ends: whoever sees it ended sees its whole log
    if outcome.error is None:
        store.finish(job_id, JobStatus.SUCCEEDED, outputs=codec.outputs_to_json(outcome.outputs))
    else:
        store.finish(job_id, JobStatus.FAILED, error=outcome.error)
    if job.request.subscriber:
        ended = store.get(job_id)
        if ended is not None:
            selected = select_outputs(process, job.request.outputs)
            callbacks.job_ended(ended, output_values(outcome.outputs, selected, job.output_url,
                                                      env.storage.url),
                                settings)
