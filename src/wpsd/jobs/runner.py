"""run_job(): the one function every executor calls to run a claimed job."""

from __future__ import annotations

import logging
import time

from .. import callbacks
from ..exceptions import NoApplicableCode, WPSError
from ..service import Service, select_outputs
from .codec import dump_outputs
from .job import JobError, JobStatus

logger = logging.getLogger("wpsd")
#: progress reports closer together than this are not all written to the store
PROGRESS_INTERVAL = 0.25


def run_job(job_id: str, service: Service) -> JobStatus:
    """Run a job that this caller has claimed (status running), and record how it ended."""
    store = service.store
    assert store is not None
    job = store.get(job_id)
    if job is None or job.status is not JobStatus.RUNNING:
        return job.status if job else JobStatus.FAILED
    started = time.monotonic()
    last_write = 0.0
    timeout = service.settings.reference_timeout
    if job.request.subscriber:
        callbacks.job_started(job, timeout)

    def progress(percent: int, message: str) -> None:
        nonlocal last_write
        if time.monotonic() - last_write >= PROGRESS_INTERVAL:
            last_write = time.monotonic()
            store.update_progress(job_id, percent, message)

    try:
        process = service.registry.get(job.process_id)
        if process is None:
            raise NoApplicableCode(f"Process {job.process_id!r} is not available to the worker")
        selected = select_outputs(process, job.request)
        result = service.run(process, job.request, selected, job_id, job.output_url, progress)
        error = result.error
    except WPSError as exc:
        error = exc
    except Exception as exc:  # the job fails, never the worker silently
        logger.exception("job %s: could not run", job_id)
        error = NoApplicableCode(f"The job could not run: {type(exc).__name__}: {exc}")
    duration = time.monotonic() - started
    if error is None:
        store.finish(job_id, JobStatus.SUCCEEDED, outputs=dump_outputs(result.outputs))
        logger.info("job %s: succeeded in %.2f s", job_id, duration)
        status = JobStatus.SUCCEEDED
    else:
        # The WPS 2.0 code is the finer one; WPS 1.0.0 maps it back (WPSError.from_code).
        store.finish(job_id, JobStatus.FAILED,
                     error=JobError(error.code2, error.text, error.locator))
        logger.info("job %s: failed in %.2f s: %s", job_id, duration, error.text)
        status = JobStatus.FAILED
    ended = store.get(job_id)
    if job.request.subscriber and ended is not None:
        callbacks.job_ended(ended, result.outputs if error is None else None, timeout)
    return status
