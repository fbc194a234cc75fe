"""LocalExecutor: each job in its own OS process on this host, a bounded number at once.

A dispatcher thread claims accepted jobs from the store, starts a worker process for each
(``python -m wpsd.jobs.worker``, in a session of its own), keeps their heartbeats, stops the
ones that were dismissed or ran too long, and fails the jobs whose worker died. Because the
queue is the store, jobs accepted before a restart start after it, and running jobs that
nobody keeps alive any more (the server and its worker died) are failed, never left running.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ...config import Settings
from ...processes.registry import ProcessRegistry
from ...service import discard_workdirs
from ..job import JobError, JobStatus, now
from ..store.base import JobStore

logger = logging.getLogger("wpsd")
#: the variable that tells a worker process which modules define the processes
SOURCES_VARIABLE = "WPSD_WORKER_SOURCES"
HOST = socket.gethostname()
#: a running job whose heartbeat is this many intervals old (and at least STALE_MINIMUM
#: seconds old, so that a loaded machine is not mistaken for a dead worker) has lost its worker
STALE_AFTER_BEATS = 5
STALE_MINIMUM = 3.0
CLEANUP_INTERVAL = 600.0


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    started: float
    limit: float


class LocalExecutor:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        registry: ProcessRegistry,
        sources: Sequence[str],
        poll_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.sources = list(sources)
        self.poll_interval = min(poll_interval, settings.heartbeat_interval)
        self._children: dict[str, _Child] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_cleanup = 0.0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="wpsd-executor")

    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            child = self._children.get(job_id)
        if child is not None:
            _kill(child)
        self._wake.set()

    def shutdown(self, wait: bool = True, kill_running: bool = False) -> None:
        """Stop dispatching. Running workers finish their jobs unless ``kill_running``."""
        self._stop.set()
        self._wake.set()
        if wait and self._thread.is_alive():
            self._thread.join()
        if kill_running:
            with self._lock:
                children = list(self._children.values())
            for child in children:
                _kill(child)
                child.process.wait()

    # ------------------------------------------------------------ the dispatcher

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._watch()
                self._fail_stale()
                self._launch()
                if time.monotonic() - self._last_cleanup > CLEANUP_INTERVAL:
                    self._last_cleanup = time.monotonic()
                    self._cleanup()
            except Exception:
                # A database hiccup must not end the dispatcher; try again next round.
                logger.exception("executor: dispatching failed; retrying")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _reap(self) -> None:
        with self._lock:
            ended = [(i, c) for i, c in self._children.items() if c.process.poll() is not None]
            for job_id, _ in ended:
                del self._children[job_id]
        for job_id, child in ended:
            discard_workdirs(self.settings, job_id)
            code = child.process.returncode
            if code < 0:
                reason = f"was killed by signal {-code} ({signal.Signals(-code).name})"
            else:
                reason = f"exited with code {code}"
            message = f"The job's worker process {reason} before the job finished"
            if self.store.finish(job_id, JobStatus.FAILED,
                                 error=JobError("NoApplicableCode", message)):
                logger.error("job %s: %s", job_id, message)

    def _watch(self) -> None:
        with self._lock:
            children = dict(self._children)
        if not children:
            return
        statuses = self.store.heartbeat(list(children))
        for job_id, child in children.items():
            status = statuses.get(job_id)
            if status is not JobStatus.RUNNING:
                _kill(child)  # dismissed, or failed by someone else
            elif time.monotonic() - child.started > child.limit:
                message = (f"The job ran longer than its time limit of {child.limit:g} s "
                           "and was stopped")
                self.store.finish(job_id, JobStatus.FAILED,
                                  error=JobError("NoApplicableCode", message))
                logger.error("job %s: %s", job_id, message)
                _kill(child)

    def _fail_stale(self) -> None:
        silence = max(STALE_AFTER_BEATS * self.settings.heartbeat_interval, STALE_MINIMUM)
        message = ("The job's worker stopped without finishing (the server or the worker "
                   "process died)")
        for job_id in self.store.fail_stale(now() - dt.timedelta(seconds=silence), message):
            logger.error("job %s: %s", job_id, message)

    def _launch(self) -> None:
        free = self.settings.max_parallel_jobs - self.store.count([JobStatus.RUNNING], HOST)
        while free > 0 and not self._stop.is_set():
            job = self.store.claim_next(HOST)
            if job is None:
                return
            free -= 1
            process = self.registry.get(job.process_id)
            limit = (process.time_limit if process and process.time_limit else None) \
                or self.settings.job_time_limit
            env = dict(os.environ)
            env.update(self.settings.to_environ())
            env[SOURCES_VARIABLE] = json.dumps(self.sources)
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            child = subprocess.Popen(
                [sys.executable, "-m", "wpsd.jobs.worker", job.id],
                env=env, start_new_session=True, stdin=subprocess.DEVNULL,
            )
            with self._lock:
                self._children[job.id] = _Child(child, time.monotonic(), limit)
            self.store.set_pid(job.id, child.pid)
            logger.info("job %s: %s started in process %d", job.id, job.process_id, child.pid)

    def _cleanup(self) -> None:
        from ...service import Service  # the service owns retention; import late, no cycle
        from ...storage.filesystem import FileStorage

        Service(self.settings, self.registry, FileStorage(self.settings.output_dir),
                self.store).cleanup()


def _kill(child: _Child) -> None:
    try:
        os.killpg(child.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
