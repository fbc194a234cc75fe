"""The embedded worker: ``python3 demo.py`` and ``wpsd serve`` run executions with no second
command, because the web process starts a worker when none runs for its job store.

One worker serves a store on a host (it holds ``worker.lock``); a web process starts one only
when it finds that lock free, and the duplicates that several web processes may start at the
same moment find it taken and leave. The worker watches a pipe from the process that started
it: when that process is gone, the worker stops (running jobs finish on their own), so a
restarted server never talks to a worker with yesterday's code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

from .. import metrics
from ..config import Settings
from .channel import Channel, Notifier

logger = logging.getLogger("wpsd")
#: the variable that tells a worker which modules define the processes
SOURCES_VARIABLE = "WPSD_WORKER_SOURCES"


def worker_running(channel: Channel) -> bool:
    """Whether some process holds the worker lock of this channel."""
    channel.make()
    fd = os.open(channel.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if we took it
    return False


class EmbeddedWorker:
    """Starts this host's worker on demand and stops it with the server."""

    def __init__(self, settings: Settings, sources: Sequence[str], channel: Channel) -> None:
        self.settings = settings
        self.sources = list(sources)
        self.channel = channel
        self._process: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None

    def ensure(self) -> None:
        """Start a worker unless one is running (or ours is starting)."""
        if self._process is not None:
            if self._process.poll() is None:
                return
            self._forget()  # it ended, or found another worker serving this store
        if worker_running(self.channel):
            return
        read, write = os.pipe()
        env = dict(os.environ)
        env.update(self.settings.to_environ())
        env[SOURCES_VARIABLE] = json.dumps(self.sources)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "wpsd.worker", "--lifeline", str(read),
                 "--channel", str(self.channel.directory)],
                env=env, pass_fds=(read,), stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C meant for the server reaches the worker through
                # the lifeline, as an orderly stop, not as a signal in the middle of a job.
                start_new_session=True,
            )
        finally:
            os.close(read)
        self._lifeline = write
        logger.info("started the embedded worker (process %d)", self._process.pid)

    def close(self, kill_jobs: bool = False) -> None:
        """Stop the worker this process started; with ``kill_jobs`` its running jobs too."""
        if self._lifeline is not None and kill_jobs:
            with contextlib.suppress(OSError):
                os.write(self._lifeline, b"k")
        self._forget()

    def _forget(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        if self._process is not None:
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            # A worker folds its own counts as it stops; one that had to be killed is
            # folded by whoever reaps it, as the worker folds the children it reaps.
            metrics.process_ended(self._process.pid)
            self._process = None


class EmbeddedNotifier(Notifier):
    """A notifier that makes sure a worker runs before it announces a job."""

    def __init__(self, channel: Channel, worker: EmbeddedWorker) -> None:
        super().__init__(channel)
        self.worker = worker

    def job_submitted(self) -> None:
        self.worker.ensure()
        super().job_submitted()
