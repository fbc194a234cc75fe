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
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ports import JobStore

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
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
    return directory


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


def process_ended(pid: int) -> None:
    """A child that counted is gone: drop its live-gauge files (its counts stay)."""
    if _metrics is not None:
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


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


def exposition(store: JobStore | None = None) -> tuple[bytes, str]:
    """The metrics of every process of the folder (and the store's job counts), as the
    Prometheus text format and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ[VARIABLE])  # type: ignore[no-untyped-call]
    if store is not None:
        registry.register(JobsCollector(store))
    return generate_latest(registry), CONTENT_TYPE_LATEST
