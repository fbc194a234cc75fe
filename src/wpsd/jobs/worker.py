"""A job's own OS process: ``python -m wpsd.jobs.worker JOB_ID``.

Started by the local executor with the server's settings in ``WPSD_*`` variables and the
modules that define the processes in ``WPSD_WORKER_SOURCES``. It keeps the job's heartbeat,
and ends its whole process group when the job is dismissed or runs past its time limit, so
whatever the handler started ends with it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

from ..config import load_settings
from ..processes.registry import ProcessRegistry, load_processes
from ..service import Service
from ..storage.filesystem import FileStorage
from .executors.local import SOURCES_VARIABLE
from .job import JobError, JobStatus
from .pool import IN_WORKER_VARIABLE
from .runner import run_job
from .store.sql import SQLJobStore

logger = logging.getLogger("wpsd")


def _end_process_group() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _watchdog(job_id: str, store: SQLJobStore, interval: float, limit: float) -> None:
    started = time.monotonic()
    while True:
        time.sleep(interval)
        status = store.heartbeat([job_id]).get(job_id)
        if status is not JobStatus.RUNNING:
            logger.info("job %s: %s, stopping its process", job_id, status)
            _end_process_group()
        if time.monotonic() - started > limit:
            message = f"The job ran longer than its time limit of {limit:g} s and was stopped"
            store.finish(job_id, JobStatus.FAILED, error=JobError("NoApplicableCode", message))
            logger.error("job %s: %s", job_id, message)
            _end_process_group()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    job_id = argv[1]
    os.environ[IN_WORKER_VARIABLE] = "1"
    settings = load_settings(None, os.environ)
    store = SQLJobStore(settings.job_database_url)
    try:
        registry = ProcessRegistry()
        for source in json.loads(os.environ.get(SOURCES_VARIABLE, "[]")):
            for found in load_processes(source):
                if found.identifier not in registry:
                    registry.add(found)
    except Exception as exc:
        logger.exception("job %s: cannot load processes", job_id)
        store.finish(job_id, JobStatus.FAILED, error=JobError(
            "NoApplicableCode", f"The worker could not load the processes: {exc}"))
        return 1
    store.set_pid(job_id, os.getpid())
    job = store.get(job_id)
    process = registry.get(job.process_id) if job else None
    limit = (process.time_limit if process and process.time_limit else None) \
        or settings.job_time_limit
    threading.Thread(target=_watchdog, args=(job_id, store, settings.heartbeat_interval, limit),
                     daemon=True, name="wpsd-watchdog").start()
    logger.info("job %s: started in process %d", job_id, os.getpid())
    service = Service(settings, registry, FileStorage(settings.output_dir), store)
    run_job(job_id, service)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
