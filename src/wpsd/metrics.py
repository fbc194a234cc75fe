"""Prometheus metrics, added up across the processes of a host.

A server's web processes (gunicorn's workers too), its worker, and the worker's sync and job
processes each count in files of their own in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode); ``/metrics`` adds them up. When the operator has not set that variable,
:func:`enable` sets it to ``data_dir/metrics`` before prometheus_client makes any metric, so
the web processes and the worker of one server (same settings, same data_dir) meet there.

Every ``count_*`` function does nothing until :func:`enable` ran in the process (or one it was
forked from), so code that counts needs no check of its own, and ``metrics = false`` counts
nothing. Jobs queued and running are no counters: they are read from the job store at each
scrape (:class:`JobsCollector`).

A process that counts leaves files named after its pid, and every scrape reads them all: the
worker forks a process per job (one that fetches a reference counts that), so the folder would
grow by two files a job. :func:`process_ended` *folds* the counters and histograms of a process
that is gone into one archive file per type (``counter_folded.db``) and deletes its files; the
worker calls it for each child it reaps, and every process that counts calls it for itself as
it exits in order (:func:`enable` registers that). Counting in the worker instead would need
every child to report its counts to it; folding keeps prometheus_client's way of counting
everywhere. A lock file in the folder keeps scrapes (shared) and folds (exclusive) apart, so
that no scrape sees a count both in a process's file and in the archive, or in neither. The
files of a process killed before it could fold itself, and not reaped by a worker, stay and
are counted.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .ports import JobStore

logger = logging.getLogger("wpsd")
VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: the file whose flock keeps scrapes and folds apart (no ``.db``: the collector skips it)
LOCK_NAME = "folding.lock"
#: what stands for the pid in the name of an archive file: ``counter_folded.db``
ARCHIVE = "folded"
#: the file types whose values add up across processes, and so can be folded; gauges cannot
#: (a pid is one of their labels in some modes), and wpsd keeps none in files
_FOLDED_TYPES = ("counter", "histogram", "summary")
#: seconds: executions from a blink to hours
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Metrics:
    """The metric objects, made once per process tree by :func:`enable`."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            "wpsd_http_requests", "HTTP requests answered, by protocol, operation and status",
            ["protocol", "operation", "status"])
        self.request_seconds = Histogram(
            "wpsd_http_request_duration_seconds", "Time to answer an HTTP request",
            ["protocol"], buckets=REQUEST_BUCKETS)
        self.executions = Counter(
            "wpsd_executions", "Executions ended, by process, mode (sync or async) and outcome",
            ["process", "mode", "outcome"])
        self.job_seconds = Histogram(
            "wpsd_job_duration_seconds", "Run time of asynchronous jobs (started to finished)",
            ["process"], buckets=DURATION_BUCKETS)
        self.queue_seconds = Histogram(
            "wpsd_job_queue_wait_seconds", "Time jobs waited for a slot (submitted to started)",
            ["process"], buckets=DURATION_BUCKETS)
        self.children = Counter(
            "wpsd_worker_processes_started", "Processes the worker forked, by kind",
            ["kind"])
        self.crashes = Counter(
            "wpsd_worker_processes_crashed",
            "Processes of the worker that ended by a signal or an error exit, by kind",
            ["kind"])
        self.fetches = Counter(
            "wpsd_references_fetched", "Input references fetched, by result", ["result"])
        self.fetched_bytes = Counter(
            "wpsd_reference_bytes", "Bytes of input references fetched")


_metrics: _Metrics | None = None


def enable(default_directory: Path) -> Path:
    """Count metrics in this process (and those it forks) from now on; return the folder.

    The folder is ``PROMETHEUS_MULTIPROC_DIR`` if set, else ``default_directory``, which
    becomes that variable (so that the processes this one starts count there too). The
    first call in a process decides.
    """
    global _metrics
    directory = Path(os.environ.setdefault(VARIABLE, str(default_directory)))
    directory.mkdir(parents=True, exist_ok=True)
    if _metrics is None:
        from prometheus_client import values

        # prometheus_client picks its value class when imported: if that was before the
        # variable was set, pick again, or the counts would stay in this process.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _metrics = _Metrics()
        # A process that ends in order (a gunicorn worker replaced, a server stopped) folds
        # its own counts, as the worker folds its children's: the folder does not grow with
        # every restart. The pid is read at exit: a forked child that inherits this and
        # exits in order folds itself (job and sync processes end by os._exit, skipping it).
        atexit.register(_fold_self)
    return directory


def _fold_self() -> None:
    process_ended(os.getpid())


def enabled() -> bool:
    return _metrics is not None


def count_request(protocol: str, operation: str, status: int, seconds: float) -> None:
    if _metrics is not None:
        _metrics.requests.labels(protocol, operation, str(status)).inc()
        _metrics.request_seconds.labels(protocol).observe(seconds)


def count_execution(process_id: str, mode: str, outcome: str) -> None:
    if _metrics is not None:
        _metrics.executions.labels(process_id, mode, outcome).inc()


def count_job(process_id: str, outcome: str, queued: float | None, ran: float | None) -> None:
    """An asynchronous job ended: its outcome, seconds queued and seconds running."""
    if _metrics is not None:
        _metrics.executions.labels(process_id, "async", outcome).inc()
        if queued is not None:
            _metrics.queue_seconds.labels(process_id).observe(max(queued, 0.0))
        if ran is not None:
            _metrics.job_seconds.labels(process_id).observe(max(ran, 0.0))


def count_child(kind: str) -> None:
    if _metrics is not None:
        _metrics.children.labels(kind).inc()


def count_crash(kind: str) -> None:
    if _metrics is not None:
        _metrics.crashes.labels(kind).inc()


@contextlib.contextmanager
def counting_fetch() -> Iterator[list[int]]:
    """Around one fetch of a reference: append the size fetched to the list yielded; an
    exception counts as a failure."""
    size: list[int] = []
    try:
        yield size
    except BaseException:
        if _metrics is not None:
            _metrics.fetches.labels("failed").inc()
        raise
    if _metrics is not None:
        _metrics.fetches.labels("ok").inc()
        _metrics.fetched_bytes.inc(sum(size))


def count_ended_job(store: JobStore, job_id: str) -> None:
    """Count an asynchronous job that ended: its outcome and times, as the store has them.

    Called once a job, by whoever saw it end: the worker when it reaps the job's process, the
    Dask bridge when the job's task ends.
    """
    if _metrics is None:
        return
    ended = store.get(job_id)
    if ended is None:
        return
    queued = ran = None
    if ended.started is not None:
        queued = (ended.started - ended.created).total_seconds()
        if ended.finished is not None:
            ran = (ended.finished - ended.started).total_seconds()
    outcome = ended.status.value if ended.status.finished else "unfinished"
    count_job(ended.process_id, outcome, queued, ran)


def process_ended(pid: int) -> None:
    """A process that counted is gone (a reaped child, or this process at its very end):
    drop its live-gauge files and fold its counts into the archive."""
    if _metrics is not None:
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        try:
            fold(pid, Path(os.environ[VARIABLE]))
        except Exception:
            # Whatever failed (a file cut short by a SIGKILL makes prometheus_client raise
            # struct.error), its files stay and are still counted: only the folder grows.
            logger.exception("metrics: could not fold the counts of process %d", pid)


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    # Opened anew each time: flock belongs to the open file, so two threads of one process
    # (a scrape and a fold) exclude each other as two processes do.
    fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def fold(pid: int, directory: Path) -> None:
    """Move the counters and histograms of process ``pid``, which has ended, from its own
    files in ``directory`` into the archive files, and delete its files.

    Each type is folded by writing a new archive beside the old one (named after ``pid``),
    deleting the process's file, then renaming the new archive over the old. A folder left by
    a fold that was killed half-way is set right by the next (:func:`finish_folds`): a new
    archive whose process file is still there is dropped, one whose file is gone is renamed,
    and the rest of that process is folded.
    """
    if not any((directory / f"{kind}_{pid}.db").exists() for kind in _FOLDED_TYPES):
        return  # it counted nothing (most job processes): no need to wait for a scrape
    with _locked(directory, exclusive=True):
        _finish_folds(directory)
        _fold(pid, directory)


def finish_folds(directory: Path) -> None:
    """Set right what a fold killed half-way (with the worker that ran it) left in the
    folder (see :func:`fold`); the worker calls it as it starts."""
    try:
        with _locked(directory, exclusive=True):
            _finish_folds(directory)
    except Exception:  # as in process_ended: the folder only grows
        logger.exception("metrics: could not finish the folds of %s", directory)


def _finish_folds(directory: Path) -> None:
    for pending in sorted(directory.glob(f"*_{ARCHIVE}.db.from-*")):
        if not pending.exists():
            continue  # set right with an earlier one of its process
        kind = pending.name.split("_", 1)[0]
        pid = int(pending.name.rsplit("-", 1)[1])
        if (directory / f"{kind}_{pid}.db").exists():
            pending.unlink()  # killed before it deleted the process's file: not folded
        else:
            os.replace(pending, directory / f"{kind}_{ARCHIVE}.db")
        _fold(pid, directory)  # that process had ended: its other types too


def _fold(pid: int, directory: Path) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    for kind in _FOLDED_TYPES:
        source = directory / f"{kind}_{pid}.db"
        if not source.exists():
            continue
        archive = directory / f"{kind}_{ARCHIVE}.db"
        totals: dict[str, float] = {}
        for path in (archive, source):
            if path.exists():
                # Keys as the process wrote them (JSON of name, labels, help): the collector
                # parses them when it reads the archive, as any file.
                values = MmapedDict.read_all_values_from_file(  # type: ignore[no-untyped-call]
                    str(path))
                for key, value, *_ in values:
                    totals[key] = totals.get(key, 0.0) + value
        pending = directory / f"{archive.name}.from-{pid}"
        pending.unlink(missing_ok=True)
        merged = MmapedDict(str(pending))  # type: ignore[no-untyped-call]
        try:
            for key, value in totals.items():
                merged.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
        finally:
            merged.close()  # type: ignore[no-untyped-call]
        source.unlink()
        os.replace(pending, archive)


class _FolderCollector:
    """prometheus_client's MultiProcessCollector, reading the folder under the shared lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Any]:
        from prometheus_client.multiprocess import MultiProcessCollector

        with _locked(self.directory, exclusive=False):
            # A process creates its file empty, then sizes it: one caught in between holds
            # nothing yet, and prometheus_client fails on it rather than skip it.
            files = [str(path) for path in self.directory.glob("*.db") if _size(path) > 0]
            # Read every file while the lock is held, not as the caller iterates.
            found = list(MultiProcessCollector.merge(files))  # type: ignore[no-untyped-call]
        yield from found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0  # removed since the folder was listed (folded, or its process gone)


class JobsCollector:
    """wpsd_jobs_queued and wpsd_jobs_running, counted in the job store at each scrape."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from .core.job import JobStatus

        for name, status, text in (
                ("wpsd_jobs_queued", JobStatus.ACCEPTED, "Jobs waiting for a slot"),
                ("wpsd_jobs_running", JobStatus.RUNNING, "Jobs running")):
            yield GaugeMetricFamily(name, text, value=self.store.count([status]))


def registry(store: JobStore | None = None, directory: Path | None = None
             ) -> CollectorRegistry:
    """A registry of the metrics of every process of the folder (by default
    ``PROMETHEUS_MULTIPROC_DIR``), and of the store's job counts."""
    from prometheus_client import CollectorRegistry

    found = CollectorRegistry()
    found.register(_FolderCollector(directory or Path(os.environ[VARIABLE])))
    if store is not None:
        found.register(JobsCollector(store))
    return found


def exposition(store: JobStore | None = None) -> tuple[bytes, str]:
    """The metrics of every process of the folder (and the store's job counts), as the
    Prometheus text format and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry(store)), CONTENT_TYPE_LATEST


def serve(address: tuple[str, int], store: JobStore, lifeline: int) -> None:
    """Serve the host's metrics on ``address`` (setting ``metrics_listen``) until the
    ``lifeline`` pipe reaches EOF. Run in a process of its own: the server has threads."""
    from prometheus_client import start_http_server

    host, port = address
    try:
        start_http_server(port, host, registry(store))
    except OSError as exc:
        raise OSError(f"cannot serve the metrics on {host}:{port}: {exc}") from exc
    logger.info("serving the metrics on %s:%d", host, port)
    with contextlib.suppress(OSError):
        while os.read(lifeline, 1):
            pass
