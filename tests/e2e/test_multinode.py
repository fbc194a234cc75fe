"""Several web nodes on one PostgreSQL job store, as separate server processes driven over HTTP.

Two hosts are simulated on this machine by giving each its own TMPDIR: a host's web nodes and
worker meet in a channel directory below it (``worker/channel.py``), so each "host" has its
own worker and wake socket, and only PostgreSQL's NOTIFY crosses from one to the other.
Heartbeats are slow here (10 s), so that what arrives sooner came by notification.

Needs WPSD_TEST_POSTGRES_URL: skipped when it is unset, failed when it is set but unreachable.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from e2e_server import ROOT, start_server
from owslib.ogcapi.processes import Processes

from helpers import alive, children, free_port, postgres_schema
from wpsd.backends.pgnotify import channel_name
from wpsd.backends.sql import SQLJobStore
from wpsd.core.job import JobStatus
from wpsd.worker.channel import Channel

POSTGRES_VARIABLE = "WPSD_TEST_POSTGRES_URL"
PROCESSES = "tests/e2e/multinode_processes.py"
HEARTBEAT = 10.0
ENDED = ("successful", "failed", "dismissed")


@pytest.fixture
def store_url() -> Iterator[str]:
    """A private schema of the test PostgreSQL (search_path in the URL's options)."""
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        pytest.skip(f"{POSTGRES_VARIABLE} is not set")
    with postgres_schema(base) as url:
        yield url


def listen_query(store_url: str) -> str:
    """The last statement of a worker's LISTEN session on this store (the store's channel)."""
    return f'LISTEN "{channel_name(Channel.for_server(store_url, ()).key)}"'


def terminate(store_url: str, query: str) -> int:
    """End the sessions whose last statement was ``query``; how many there were."""
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        ended = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query = :q AND pid <> pg_backend_pid()"), {"q": query}).scalar_one()
    engine.dispose()
    return int(ended)


def listen_socket(store_url: str) -> str | None:
    """The worker's LISTEN connection as /proc names its socket (``socket:[inode]``), when
    it goes over TCP."""
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        port = conn.execute(sa.text("SELECT client_port FROM pg_stat_activity WHERE query = :q"),
                            {"q": listen_query(store_url)}).scalar_one()
    engine.dispose()
    if port is None or port < 0:
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                return f"socket:[{fields[9]}]"
    raise AssertionError(f"no socket of local port {port}")


def sockets_of(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


class Host:
    """A simulated host: its own TMPDIR (hence its own worker channel) and data_dir."""

    def __init__(self, name: str, root: Path, store_url: str) -> None:
        self.name, self.dir = name, root / name
        self.dir.mkdir()
        # Short: the channel's Unix socket paths below it are limited to about 100 bytes.
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"wpsd-{name}-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {"TMPDIR": str(self.tmpdir), "WPSD_DATABASE_URL": store_url,
                    "WPSD_HEARTBEAT_INTERVAL": str(HEARTBEAT), "WPSD_MAX_PARALLEL_JOBS": "2",
                    "WPSD_MAX_SYNC_EXECUTIONS": "1"}
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def serve(self, embedded_worker: bool = True) -> None:
        env = dict(self.env, WPSD_EMBEDDED_WORKER=str(embedded_worker).lower())
        self.server, _ = start_server(
            [sys.executable, "-m", "wpsd.cli", "serve", PROCESSES, "--host", "127.0.0.1",
             "--port", str(self.port)], self.dir, self.port, **env)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=20)

    def start_worker(self) -> None:
        """`wpsd worker` beside a server without an embedded worker, as the README deploys."""
        log = self.dir / "worker.log"
        with log.open("wb") as out:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "wpsd.cli", "worker", PROCESSES], cwd=ROOT,
                env=dict(os.environ, WPSD_DATA_DIR=str(self.dir), **self.env),
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while b"serving" not in log.read_bytes():
            assert self.worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    def workers(self) -> list[int]:
        """The embedded worker of this host's server."""
        assert self.server is not None
        return [pid for pid, command in children(self.server.pid) if "wpsd.worker" in command]

    def close(self) -> None:
        self.stop_server()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=20)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # ---------------------------------------------------------------- over HTTP

    def submit(self, log: Path, delay: float = 0.0) -> str:
        """An asynchronous execution through OWSLib's OGC API client; the job's id."""
        status = Processes(self.base).execute("record", {"log": str(log), "delay": delay},
                                              async_=True)
        assert status["status"] == "accepted", status
        return str(status["jobID"])

    def status(self, job_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.base}/jobs/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, job_id: str, statuses: tuple[str, ...] = ENDED, timeout: float = 60
             ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (status := self.status(job_id))["status"] not in statuses:
            assert time.monotonic() < deadline, f"job {job_id} stayed {status['status']}"
            time.sleep(0.05)
        return status


class Cluster:
    def __init__(self, root: Path, store_url: str) -> None:
        self.root, self.store_url = root, store_url
        self.log = root / "runs.log"  # every job's line: "<job id> <pid>"
        self.hosts: list[Host] = []
        self.store = SQLJobStore(store_url)

    def host(self, name: str) -> Host:
        self.hosts.append(Host(name, self.root, self.store_url))
        return self.hosts[-1]

    def runs(self) -> list[tuple[str, int]]:
        if not self.log.exists():
            return []
        return [(job, int(pid)) for job, pid in
                (line.split() for line in self.log.read_text().splitlines())]

    def pid_of(self, job_id: str, timeout: float = 30) -> int:
        """The process of a job, once it has started (it records itself)."""
        deadline = time.monotonic() + timeout
        while not (found := [pid for job, pid in self.runs() if job == job_id]):
            assert time.monotonic() < deadline, f"job {job_id} never started"
            time.sleep(0.02)
        return found[0]

    def latency(self, job_id: str) -> float:
        """Seconds from the job's submission (its row) to its claim by a worker."""
        job = self.store.get(job_id)
        assert job is not None and job.started is not None
        return (job.started - job.created).total_seconds()

    def close(self) -> None:
        for host in self.hosts:
            host.close()
        for _, pid in self.runs():  # job processes outlive their workers by design
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.store.close()


@pytest.fixture
def cluster(store_url: str, tmp_path: Path) -> Iterator[Cluster]:
    found = Cluster(tmp_path, store_url)
    yield found
    found.close()


def test_a_job_submitted_on_one_node_is_followed_on_the_other(cluster):
    a, b = cluster.host("a"), cluster.host("b")
    a.serve()
    b.serve(embedded_worker=False)
    job = a.submit(cluster.log)
    assert b.wait(job)["status"] == "successful"
    results = requests.get(f"{b.base}/jobs/{job}/results", timeout=10)
    assert results.status_code == 200 and results.json() == {"job": job}
    listed = requests.get(f"{b.base}/jobs", timeout=10).json()
    assert job in [found["jobID"] for found in listed["jobs"]]
    assert [run for run, _ in cluster.runs()] == [job]


def test_the_worker_of_another_host_is_woken_at_once(cluster):
    a, b = cluster.host("a"), cluster.host("b")
    a.serve()
    b.serve(embedded_worker=False)  # and no worker on host b: only a's can run the jobs
    latencies: dict[str, list[float]] = {"remote (NOTIFY)": [], "local (datagram)": []}
    for _ in range(10):
        for node, kind in ((b, "remote (NOTIFY)"), (a, "local (datagram)")):
            job = node.submit(cluster.log)
            node.wait(job)
            latencies[kind].append(cluster.latency(job))
            time.sleep(0.05)
    # The server ends the worker's LISTEN session: it reconnects, and wakes up as before.
    assert terminate(cluster.store_url, listen_query(cluster.store_url)) == 1
    time.sleep(0.5)
    for _ in range(5):
        job = b.submit(cluster.log)
        b.wait(job)
        latencies["remote, reconnected"] = [*latencies.get("remote, reconnected", []),
                                            cluster.latency(job)]
    assert "lost the PostgreSQL notification connection" in a.dir.joinpath(
        "server.log").read_text()
    for kind, values in latencies.items():
        print(f"\nsubmit -> started, {kind}: median {statistics.median(values) * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms over {len(values)} jobs")
    # About as soon as a local wake-up: found by a poll instead (every 5 s while notified,
    # every 1 s otherwise) a job would wait half a poll interval on average. This checks
    # that the wake-up works, it is no performance bound.
    local = statistics.median(latencies["local (datagram)"])
    assert statistics.median(latencies["remote (NOTIFY)"]) < local + 0.25
    assert statistics.median(latencies["remote, reconnected"]) < local + 0.25


def test_a_dismissal_on_another_node_ends_the_job_at_once(cluster):
    a, b = cluster.host("a"), cluster.host("b")
    a.serve()
    b.serve(embedded_worker=False)
    job = a.submit(cluster.log, delay=60)
    pid = cluster.pid_of(job)
    assert a.status(job)["status"] == "running"
    # The worker's LISTEN connection is its own: neither the job's process nor the warm
    # sync processes, forked from the worker, keep its socket.
    (worker,) = a.workers()
    listening = listen_socket(cluster.store_url)
    if listening is not None:  # a TCP connection (not a Unix socket): it can be told apart
        assert listening in sockets_of(worker)
        forked = [child for child, _ in children(worker)]
        assert pid in forked and len(forked) >= 2
        for child in forked:
            assert listening not in sockets_of(child), f"process {child} kept it"
    dismissed = time.monotonic()
    response = requests.delete(f"{b.base}/jobs/{job}", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    while alive(pid) and time.monotonic() - dismissed < 2 * HEARTBEAT:
        time.sleep(0.01)
    ended = time.monotonic() - dismissed
    print(f"\ndismissed on b -> job process on a gone: {ended * 1000:.0f} ms "
          f"(its heartbeat: every {HEARTBEAT:g} s)")
    assert not alive(pid)
    assert ended < HEARTBEAT / 3, "the job ended by its heartbeat, not by the notification"
    assert a.status(job)["status"] == "dismissed"


def test_forty_jobs_on_two_nodes_with_two_workers_run_once_each(cluster):
    a, b = cluster.host("a"), cluster.host("b")
    a.serve()
    b.serve(embedded_worker=False)
    b.start_worker()
    with ThreadPoolExecutor(8) as pool:
        submitted = list(pool.map(lambda i: (a, b)[i % 2].submit(cluster.log, 0.1), range(40)))
    deadline = time.monotonic() + 120
    while cluster.store.count([JobStatus.ACCEPTED, JobStatus.RUNNING]):
        assert time.monotonic() < deadline, "the jobs did not all end"
        time.sleep(0.1)
    ran = collections.Counter(job for job, _ in cluster.runs())
    assert sorted(ran) == sorted(submitted) and set(ran.values()) == {1}
    jobs = [cluster.store.get(job) for job in submitted]
    assert {job.status for job in jobs if job} == {JobStatus.SUCCEEDED}
    by_worker = collections.Counter(job.worker for job in jobs if job)
    print(f"\njobs per worker: {dict(by_worker)}; submit -> started median "
          f"{statistics.median(cluster.latency(job) for job in submitted) * 1000:.0f} ms")
    assert len(by_worker) == 2, "both workers claimed jobs"


def test_a_node_restarted_mid_job_leaves_the_job_alone(cluster):
    a, b = cluster.host("a"), cluster.host("b")
    a.serve()
    b.serve(embedded_worker=False)
    job = a.submit(cluster.log, delay=4)
    pid = cluster.pid_of(job)
    workers = a.workers()
    assert workers, "a's embedded worker"
    a.stop_server()
    deadline = time.monotonic() + 20
    while any(alive(worker) for worker in workers):  # the worker goes with its server...
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.05)
    assert alive(pid), "...its job does not"
    assert b.status(job)["status"] == "running"
    a.serve()
    assert b.wait(job)["status"] == "successful"
    assert requests.get(f"{b.base}/jobs/{job}/results", timeout=10).json() == {"job": job}
    assert cluster.runs() == [(job, pid)], "run once, by its first process"
    assert not alive(pid)
