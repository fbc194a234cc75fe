"""Synchronous executions: warm processes of the worker, shared by every web process of a host.

Each sync process was forked from the worker after it imported the processes, so it starts
warm; it takes one connection at a time from the shared listening socket, runs the execution
and answers. It is reused for up to :data:`EXECUTIONS_PER_PROCESS` executions (then the
worker forks a fresh one, to bound what handlers leak). A time-limit overrun or a crash ends
only that process and its process group; the web node gets a failed outcome either way.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import metrics
from ..core import codec
from ..core.execution import Environment, ExecutionRequest, Outcome, execute
from ..exceptions import NoApplicableCode, ServerBusy
from ..processes.registry import ProcessRegistry
from .channel import Channel, recv_frame, send_frame

logger = logging.getLogger("wpsd")
EXECUTIONS_PER_PROCESS = 500
#: how long a request may wait for a free sync process before the client is told to retry
QUEUE_WAIT = 30.0
#: seconds given to a worker that is starting (the embedded one imports the processes first)
STARTUP_WAIT = 30.0


def serve(listener: socket.socket, registry: ProcessRegistry, env: Environment) -> None:
    """The loop of one sync process; returns when it has served its share."""
    watchdog = _Watchdog()
    for _ in range(EXECUTIONS_PER_PROCESS):
        conn, _ = listener.accept()
        with conn:
            try:
                _serve_one(conn, registry, env, watchdog)
            except (OSError, ValueError):
                logger.warning("sync execution: the web node went away")


def _serve_one(conn: socket.socket, registry: ProcessRegistry, env: Environment,
               watchdog: _Watchdog) -> None:
    message = recv_frame(conn)
    if message is None:
        return
    request = codec.request_from_json(message["request"])
    limit = float(message["limit"])
    send_frame(conn, {"started": os.getpid()})
    process = registry.get(request.process_id)
    if process is None:
        outcome = Outcome.failure(NoApplicableCode(
            f"Process {request.process_id!r} is not defined at module level of an importable "
            "module, so the worker cannot run it"))
    else:
        watchdog.start(conn, request, limit)
        outcome = execute(process, request, env)
        if not watchdog.stop():
            return  # the watchdog answered and is ending this process
    send_frame(conn, codec.outcome_to_json(outcome))


class _Watchdog:
    """Stops an execution that runs past its time limit: answers its client, then ends this
    process's group. One thread for the life of the process, not one per execution."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deadline: float | None = None
        self._conn: socket.socket | None = None
        self._request: ExecutionRequest | None = None
        self._limit = 0.0
        threading.Thread(target=self._run, daemon=True, name="wpsd-time-limit").start()

    def start(self, conn: socket.socket, request: ExecutionRequest, limit: float) -> None:
        with self._lock:
            self._conn, self._request, self._limit = conn, request, limit
            self._deadline = time.monotonic() + limit
            self._lock.notify()

    def stop(self) -> bool:
        """False when the time limit struck first (the answer is sent, the end is near)."""
        with self._lock:
            if self._deadline is None:
                return False
            self._deadline = None
            return True

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._deadline is None or time.monotonic() < self._deadline:
                    wait = None if self._deadline is None else self._deadline - time.monotonic()
                    self._lock.wait(wait)
                self._deadline = None
                conn, request, limit = self._conn, self._request, self._limit
            assert conn is not None and request is not None
            logger.error("job %s: ran longer than its time limit of %g s; stopping its process",
                         request.job_id, limit)
            try:
                send_frame(conn, codec.outcome_to_json(Outcome.failure(NoApplicableCode(
                    f"The execution ran longer than its time limit of {limit:g} s and was "
                    "stopped"))))
            finally:
                # Everything the handler started is in this process group; the worker forks
                # a new sync process.
                os.killpg(os.getpgid(0), signal.SIGKILL)


class SyncClient:
    """The web node's side: one connection per execution to the host's sync processes."""

    def __init__(self, channel: Channel, workdir: Path,
                 ensure_worker: Callable[[], None] | None = None) -> None:
        self._path = channel.sync_path
        #: where executions make their working directories (on this host, like the worker)
        self._workdir = workdir
        #: starts a worker when none runs (embedded mode); None when the operator runs one
        self._ensure_worker = ensure_worker

    def run(self, request: ExecutionRequest, limit: float) -> Outcome:
        with self._connect() as sock:
            sock.settimeout(QUEUE_WAIT)
            send_frame(sock, {"request": codec.request_to_json(request), "limit": limit})
            try:
                started = recv_frame(sock)
            except TimeoutError:
                raise ServerBusy("Every execution slot is busy; try again later") from None
            if started is None:
                return self._died(request)
            # The sync process enforces the limit itself; this is the backstop.
            sock.settimeout(limit + QUEUE_WAIT)
            try:
                answer = recv_frame(sock)
            except TimeoutError:
                answer = None
        outcome = self._died(request) if answer is None else codec.outcome_from_json(answer)
        metrics.count_execution(request.process_id, "sync", _outcome_name(outcome))
        return outcome

    def _died(self, request: ExecutionRequest) -> Outcome:
        # The process that died could not remove its working directory.
        for folder in self._workdir.glob(f"{request.job_id}-*"):
            shutil.rmtree(folder, ignore_errors=True)
        return Outcome.failure(NoApplicableCode(
            "The worker process running the execution died (it crashed or was killed)"))

    def close(self) -> None:
        pass  # a connection per execution: nothing is held between them

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + STARTUP_WAIT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(QUEUE_WAIT)
            try:
                sock.connect(self._path)
                return sock
            except TimeoutError:
                sock.close()
                raise ServerBusy("Every execution slot is busy; try again later") from None
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if self._ensure_worker is None:
                    raise ServerBusy("No worker runs the executions of this server: start "
                                     "`wpsd worker` with the server's settings") from None
                if time.monotonic() > deadline:
                    raise ServerBusy("The worker did not start; see the server log") from None
                self._ensure_worker()
                time.sleep(0.02)


def _outcome_name(outcome: Outcome) -> str:
    if outcome.error is None:
        return "succeeded"
    return "rejected" if outcome.rejected else "failed"
