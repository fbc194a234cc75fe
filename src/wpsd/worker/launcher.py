"""The job launcher of a Dask worker: forks each job from a warm, single-threaded process.

A Dask worker runs tasks in threads of a process that also runs an event loop, and it cannot
interrupt a running task. Forking that process is unsafe, and a handler run in one of its
threads could neither be stopped nor survive the worker. So the wpsd plugin of each Dask
worker (:mod:`.dask`) starts this launcher once, as a plain subprocess that imports the
processes and forks every job from itself, in a process group of its own, just as the host
worker does (:mod:`.supervisor`). The job process is the same (:func:`.jobprocess.run_job`):
it keeps its heartbeat, stops when dismissed or past its time limit, records its outcome.

The launcher talks to the plugin over two pipes, one line per message:

- standard input, from the plugin: ``run <job id> <claimer> <attempt>``. EOF means the Dask
  worker is gone (died, or shut down): the launcher ends every job it runs, fails those that
  may not run twice, and leaves.
- the reply descriptor (``--replies FD``), to the plugin: ``done <job id> <word>``, where the
  word is ``ok``, ``failed`` (the job process died), or ``skipped`` (the job was not started:
  it was no longer running, or another attempt owned it).

A task that Dask runs again after the worker it ran on died is a second attempt: ``claimer``
no longer holds the job then (the first attempt took it over). Only a process declared
``idempotent`` is run again; any other job fails with a message that says why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import selectors
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Settings, load_settings
from ..core.execution import Environment
from ..core.job import JobError, JobStatus
from ..ports import JobStore
from ..processes.registry import ProcessRegistry
from . import jobprocess
from .embedded import SOURCES_VARIABLE
from .main import load_registry

logger = logging.getLogger("wpsd")
LOST_MESSAGE = ("The Dask worker running the job stopped before the job finished; the job "
                "was not run again because its process is not declared idempotent")


@dataclass
class _Running:
    job_id: str
    idempotent: bool


class Launcher:
    def __init__(self, registry: ProcessRegistry, store: JobStore, settings: Settings,
                 env: Environment, replies: int) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings
        self.env = env
        self.replies = replies
        self.children: dict[int, _Running] = {}
        self._buffer = b""
        self._owned: list[int] = []

    def serve(self) -> None:
        signal_r, signal_w = os.pipe()
        os.set_blocking(signal_w, False)
        signal.set_wakeup_fd(signal_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # A Dask worker shutting down ends its plugin's launcher through the pipe; signals
        # from a terminal go to the whole group and must not stop jobs halfway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._owned = [0, self.replies, signal_r, signal_w]
        selector = selectors.DefaultSelector()
        selector.register(0, selectors.EVENT_READ, "requests")
        selector.register(signal_r, selectors.EVENT_READ, "signal")
        self.store.warm_up([p.identifier for p in self.registry])
        self.store.before_fork()
        running = True
        while running:
            for key, _ in selector.select(5.0):
                if key.data == "signal":
                    with contextlib.suppress(BlockingIOError):
                        os.read(signal_r, 4096)
                else:
                    running = self._read_requests()
            self._reap()
        self._abandon()

    def _read_requests(self) -> bool:
        data = os.read(0, 65536)
        if not data:
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            words = line.decode("utf-8", errors="replace").split()
            if len(words) == 4 and words[0] == "run":
                try:
                    self._start(*words[1:])
                except Exception:  # the store may be briefly unreachable: fail this one only
                    logger.exception("job %s: could not be started", words[1])
                    self._reply(words[1], "failed")
        return True

    def _start(self, job_id: str, claimer: str, attempt: str) -> None:
        job = self.store.get(job_id)
        process = self.registry.get(job.process_id) if job is not None else None
        if job is None or job.status is not JobStatus.RUNNING:
            self._reply(job_id, "skipped")  # dismissed, or ended while the task waited
            return
        idempotent = process is not None and process.idempotent
        if not self.store.reassign(job_id, claimer, attempt):
            # Not the first attempt: the one that took the job over ran on a worker that died.
            again = idempotent and job.worker is not None and job.worker != attempt
            if not (again and self.store.reassign(job_id, job.worker or "", attempt)):
                if self.store.finish(job_id, JobStatus.FAILED,
                                     error=JobError("NoApplicableCode", LOST_MESSAGE)):
                    logger.error("job %s: %s", job_id, LOST_MESSAGE)
                self._reply(job_id, "skipped")
                return
            logger.warning("job %s: its Dask worker died; running it again on %s", job_id,
                           attempt)
            job = self.store.get(job_id) or job
        self.store.before_fork()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                jobprocess.become_job_process(self.store, self._owned[1:])
                jobprocess.run_job(job, self.settings, self.registry, self.store, self.env)
            except BaseException:
                logger.exception("job %s: its process failed", job_id)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = _Running(job_id, idempotent)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            running = self.children.pop(pid, None)
            if running is None:
                continue
            jobprocess.kill_group(pid)  # whatever its handler left behind
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                message = (f"The job's process on its Dask worker "
                           f"{jobprocess.exit_description(code)} before the job finished")
                if self.store.finish(running.job_id, JobStatus.FAILED,
                                     error=JobError("NoApplicableCode", message)):
                    logger.error("job %s: %s", running.job_id, message)
            self._reply(running.job_id, "ok" if code == 0 else "failed")

    def _abandon(self) -> None:
        """The Dask worker is gone: its tasks are lost to Dask, so end their jobs here."""
        for pid, running in self.children.items():
            jobprocess.kill_group(pid)
            if not running.idempotent:  # an idempotent job is run again by Dask
                self.store.finish(running.job_id, JobStatus.FAILED,
                                  error=JobError("NoApplicableCode", LOST_MESSAGE))
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def _reply(self, job_id: str, word: str) -> None:
        with contextlib.suppress(BrokenPipeError):  # the plugin is gone: nobody waits
            os.write(self.replies, f"done {job_id} {word}\n".encode())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wpsd.worker.launcher")
    parser.add_argument("--replies", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    from ..backends.outputs import open_storage
    from ..backends.sql import SQLJobStore
    from ..fetch import environment

    settings = load_settings(None, os.environ)
    registry = load_registry(json.loads(os.environ[SOURCES_VARIABLE]))
    store = SQLJobStore(settings.job_database_url)
    storage = open_storage(settings)
    try:
        Launcher(registry, store, settings, environment(settings, storage), args.replies).serve()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
