"""Jobs as tasks on a Dask cluster (``executor = "dask"``).

Three parts, each where it has to run:

- The *bridge* (:func:`run_bridge`), a child of the host's worker (forked before any thread
  exists, so the worker stays safe to fork): it claims this server's accepted jobs as the
  cluster has room (as many as the cluster has worker threads, less the jobs running) and
  submits each as a task. Claiming only what can start keeps a job "accepted" until it
  really runs, and its heartbeat honest.
- The *task* (:func:`run_task`), run by Dask in a thread of a Dask worker: it hands the job
  to the worker's launcher and waits for it to end.
- The *plugin* (:class:`JobLauncher`), registered on every Dask worker by the bridge: it
  starts the worker's launcher (:mod:`.launcher`), the single-threaded process that forks
  each job in a process group of its own. Ending that group is how a dismissed job stops
  on the cluster (Dask cannot interrupt a task), and the launcher's standard input is its
  lifeline: when the Dask worker dies, the launcher ends and fails its jobs.

Tasks are fire-and-forget: a job keeps running when the server that submitted it restarts,
and records its outcome itself, as local jobs do.

The bridge counts each job in the metrics when its task ends, from what the store holds, as
the host's worker counts a local job: so a job is counted once, on the host of the server
that submitted it (the launcher may run on any host, and counts nothing). A job whose bridge
was restarted while it ran is not counted, as that bridge's futures are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from distributed import Client, Future, WorkerPlugin, fire_and_forget, get_worker

from .. import metrics
from ..config import Settings
from ..core.job import JobError, JobStatus
from ..ports import JobStore
from ..processes.registry import ProcessRegistry
from .embedded import SOURCES_VARIABLE
from .main import IN_WORKER_VARIABLE

if TYPE_CHECKING:
    from distributed import Worker


logger = logging.getLogger("wpsd")
#: seconds between looks at the store for jobs that no wake-up announced
POLL_INTERVAL = 1.0
#: seconds to wait for the scheduler when connecting
CONNECT_TIMEOUT = 30.0


def plugin_name(settings: Settings, sources: Sequence[str]) -> str:
    """One plugin (and launcher) per job store and set of process modules on a cluster:
    several wpsd servers may share one cluster."""
    key = json.dumps([settings.job_database_url, sorted(sources)])
    return "wpsd-" + hashlib.sha256(key.encode()).hexdigest()[:12]


class JobLauncher(WorkerPlugin):
    """Keeps a Dask worker's launcher running and passes jobs to it."""

    # A bridge that reconnects (a restarted server) must not replace the plugin: that would
    # close the launcher, and with it the jobs it runs.
    idempotent = True

    def __init__(self, name: str, settings: Settings, sources: Sequence[str]) -> None:
        self.name = name
        self.settings = settings
        self.sources = list(sources)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[str]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # What travels to the workers: the configuration, not this side's threads.
        return {"name": self.name, "settings": self.settings, "sources": self.sources}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["settings"], state["sources"])  # type: ignore[misc]

    def setup(self, worker: Worker) -> None:
        with self._lock:
            self._start()

    def teardown(self, worker: Worker) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            process.stdin.close()  # the launcher's lifeline: it ends its jobs and leaves
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    def run(self, job_id: str, claimer: str, attempt: str) -> str:
        """Run one job through the launcher; returns how it ended (see :mod:`.launcher`)."""
        done = threading.Event()
        answer: list[str] = []
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None and self._process.stdin is not None
            self._waiting[job_id] = (done, answer)
            self._process.stdin.write(f"run {job_id} {claimer} {attempt}\n".encode())
            self._process.stdin.flush()
        done.wait()
        return answer[0] if answer else "failed"

    def _start(self) -> None:
        replies_r, replies_w = os.pipe()
        env = {**os.environ, **self.settings.to_environ(),
               SOURCES_VARIABLE: json.dumps(self.sources), IN_WORKER_VARIABLE: "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "wpsd.worker.launcher", "--replies", str(replies_w)],
            stdin=subprocess.PIPE, pass_fds=(replies_w,), env=env,
            start_new_session=True)  # signals to the Dask worker's group do not reach jobs
        os.close(replies_w)
        threading.Thread(target=self._read_replies, args=(replies_r, self._process),
                         daemon=True, name="wpsd-launcher-replies").start()

    def _read_replies(self, fd: int, process: subprocess.Popen[bytes]) -> None:
        with os.fdopen(fd, "rb") as replies:
            for line in replies:
                words = line.decode("utf-8", errors="replace").split()
                if len(words) == 3 and words[0] == "done":
                    self._answer(words[1], words[2])
        # The launcher is gone: its jobs were failed by it or by their own processes.
        process.wait()
        with self._lock:
            orphans = list(self._waiting)
        for job_id in orphans:
            self._answer(job_id, "failed")

    def _answer(self, job_id: str, word: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(job_id, None)
        if waiting is not None:
            waiting[1].append(word)
            waiting[0].set()


def run_task(name: str, job_id: str, claimer: str) -> str:
    """The Dask task of one job: runs on a Dask worker, through that worker's launcher."""
    worker = get_worker()
    launcher = worker.plugins.get(name)
    if not isinstance(launcher, JobLauncher):
        raise RuntimeError(f"the wpsd plugin {name} is not registered on {worker.address}")
    return launcher.run(job_id, claimer, f"dask:{worker.address}")


# ---------------------------------------------------------------- the bridge

def run_bridge(settings: Settings, registry: ProcessRegistry, store: JobStore,
               wake: int) -> None:
    """Submit this server's jobs to the Dask cluster until ``wake`` (a pipe from the host's
    worker, one byte per wake-up) reaches EOF."""
    sources = registry.sources()
    name = plugin_name(settings, sources)
    claimer = f"{socket.gethostname()}:{os.getpid()}:dask"
    process_ids = [p.identifier for p in registry]
    client = Client(settings.dask_scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    try:
        client.register_plugin(JobLauncher(name, settings, sources), name=name)
        logger.info("dask bridge %s: submitting jobs to %s", claimer, settings.dask_scheduler)
        _Bridge(client, store, name, claimer, process_ids).loop(wake)
    finally:
        client.close()


class _Bridge:
    def __init__(self, client: Client, store: JobStore, name: str, claimer: str,
                 process_ids: list[str]) -> None:
        self.client = client
        self.store = store
        self.name = name
        self.claimer = claimer
        self.process_ids = process_ids
        self.inflight: dict[str, Future[str]] = {}
        #: jobs submitted that no launcher has taken over yet: this bridge keeps their
        #: heartbeat, since a task may wait a while for a launcher that is still starting
        self.waiting: set[str] = set()
        # A task that ends frees a thread of the cluster: the client's thread says so here,
        # so that the next job is submitted at once rather than at the next poll.
        self._ended_r, self._ended_w = os.pipe()
        os.set_blocking(self._ended_w, False)

    def _ended(self, _future: Future[str]) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._ended_w, b"e")

    def loop(self, wake: int) -> None:
        due, next_poll = True, time.monotonic()
        while True:
            ready, _, _ = select.select([wake, self._ended_r], [], [],
                                        max(0.0, next_poll - time.monotonic()))
            if wake in ready and not os.read(wake, 4096):
                return  # the worker that forked us is gone
            if self._ended_r in ready:
                os.read(self._ended_r, 4096)
            due = due or bool(ready)
            if time.monotonic() >= next_poll:
                next_poll, due = time.monotonic() + POLL_INTERVAL, True
            try:
                self._keep_waiting_alive()
                self._collect_ended_tasks()
                if due:
                    due = self._submit()
            except Exception:
                # A scheduler or database hiccup must not end the bridge: retry next round.
                logger.exception("dask bridge: a round of submitting failed; retrying")

    def _submit(self) -> bool:
        """Claim and submit jobs for the cluster's free threads; True if more may wait."""
        threads = int(sum(self.client.nthreads().values()))
        room = threads - self.store.count([JobStatus.RUNNING])
        if room <= 0:
            return False  # an ending task or the poll says when to look again
        claimed = self.store.claim(self.claimer, self.process_ids, room)
        for job in claimed:
            future = self.client.submit(run_task, self.name, job.id, self.claimer,
                                        key=f"wpsd-job-{job.id}", pure=False)
            fire_and_forget(future)  # runs on even if this bridge goes away
            future.add_done_callback(self._ended)
            self.inflight[job.id] = future
            self.waiting.add(job.id)
        return len(claimed) == room

    def _keep_waiting_alive(self) -> None:
        for job_id in list(self.waiting):
            # A no-op hand-over that refreshes the heartbeat while this bridge holds the job;
            # once a launcher took it (or it ended), it matches nothing and is dropped.
            if not self.store.reassign(job_id, self.claimer, self.claimer):
                self.waiting.discard(job_id)

    def _collect_ended_tasks(self) -> None:
        """Fail the jobs whose task failed, and count every job whose task ended."""
        for job_id, future in list(self.inflight.items()):
            if not future.done():
                continue
            # A task that did not fail ended through the launcher, which recorded the outcome.
            if future.status == "error":
                # e.g. KilledWorker: the task's workers kept dying; the job may still be
                # running.
                message = f"The job's Dask task failed: {future.exception()}"
                if self.store.finish(job_id, JobStatus.FAILED,
                                     error=JobError("NoApplicableCode", message)):
                    logger.error("job %s: %s", job_id, message)
            metrics.count_ended_job(self.store, job_id)
            # Last: should the store fail us, the next round does this job again.
            del self.inflight[job_id]
