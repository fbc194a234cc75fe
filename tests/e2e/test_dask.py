"""Jobs on a real Dask cluster: a scheduler and workers as processes of their own, two wpsd
web nodes on one job store (the test PostgreSQL when WPSD_TEST_POSTGRES_URL is set) and
outputs in S3 (SeaweedFS on loopback), driven over HTTP the way clients use them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from e2e_server import ROOT, Server, start_server
from lxml import etree
from owslib.wps import WebProcessingService

from helpers import POSTGRES_VARIABLE, alive, free_port, metric_samples, postgres_schema
from schemas import assert_valid
from support.seaweed import S3Server, seaweed_s3

distributed = pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
PROCESSES = f"{ROOT / 'tests' / 'sample_processes.py'},{ROOT / 'tests' / 'dask_processes.py'}"


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


class Cluster:
    """A Dask scheduler and workers (each a nanny and its worker process), on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.port = tmp, free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self._start("scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard")
        self.client = distributed.Client(self.address, timeout=30)

    def _start(self, name: str, *args: str) -> None:
        command = name if name == "scheduler" else "worker"
        with (self.tmp / f"dask-{name}.log").open("wb") as log:
            self.procs.append(subprocess.Popen([BIN / "dask", command, *args], cwd=ROOT,
                                               stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def add_workers(self, count: int) -> None:
        have = len(self.client.scheduler_info()["workers"])
        for i in range(count):
            self._start(f"worker{have + i}", self.address, "--nthreads", "1", "--nworkers", "1",
                        "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{have + i}")
        self.client.wait_for_workers(have + count, timeout=60)

    def worker_pids(self) -> set[int]:
        return set(self.client.run(os.getpid).values())

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.tmp.glob("dask-*.log"))

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    found = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        found.add_workers(2)
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        yield f"sqlite:///{tmp_path / 'jobs.sqlite'}"
        return
    with postgres_schema(base) as url:
        yield url


class Node:
    """One wpsd web node (``wpsd serve``), started and stopped by the test."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.port = tmp, env, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"
        self.server: Server | None = None

    def start(self) -> None:
        self.tmp.mkdir(exist_ok=True)
        self.proc, self.server = start_server(
            [str(BIN / "wpsd"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            self.tmp, self.port, **self.env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def submit(self, process: str, inputs: dict[str, object]) -> str:
        response = requests.post(f"{self.base}/processes/{process}/execution",
                                 json={"inputs": inputs},
                                 headers={"Prefer": "respond-async"}, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.headers["Location"].rsplit("/", 1)[1])

    def status(self, job_id: str) -> dict[str, object]:
        response = requests.get(f"{self.base}/jobs/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = requests.get(f"{self.base}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return metric_samples(response.text)

    def wait(self, job_id: str, *states: str, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if status["status"] in states:
                return status
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {states}: {status}")


@pytest.fixture
def nodes(tmp_path: Path, cluster: Cluster, database: str, s3: S3Server,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Node, Node]]:
    # Each node counts in the metrics folder of its own data_dir, as two hosts would (this
    # pytest process may have set the variable for its own apps).
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    shared = {"WPSD_DATABASE_URL": database, "WPSD_PROCESSES": PROCESSES,
              "WPSD_OUTPUT_STORAGE": f"s3://{s3.bucket}/{tmp_path.name}",
              "WPSD_OUTPUT_STORAGE_OPTIONS": json.dumps(s3.options),
              "WPSD_HEARTBEAT_INTERVAL": "0.2",
              "WPSD_EXECUTOR": "dask", "WPSD_DASK_SCHEDULER": cluster.address}
    # Node A runs the host's worker, whose bridge submits to the cluster; node B only serves.
    a = Node(tmp_path / "a", shared)
    b = Node(tmp_path / "b", {**shared, "WPSD_EMBEDDED_WORKER": "false"})
    a.start()
    b.start()
    yield a, b
    for node in (a, b):
        node.stop()


def wait_for(predicate, what: str, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job_pids(pidfile: Path) -> tuple[int, int]:
    text = wait_for(lambda: pidfile.is_file() and pidfile.read_text(), "the job to start")
    job, helper = map(int, text.split())
    return job, helper


def test_a_job_runs_on_a_dask_worker_and_any_node_reports_it(cluster, nodes):
    a, b = nodes
    # Submitted through WPS 1.0.0 with OWSLib on node A, its output kept by reference ...
    wps = WebProcessingService(a.base + "/wps", version="1.0.0", skip_caps=True)
    execution = wps.execute("pids", [], output=[("pids", True)])
    job_id = execution.statusLocation.rsplit("/", 1)[1]
    # ... polled, listed and read through OGC API and WPS 2.0 on node B ...
    assert b.wait(job_id, "successful")["status"] == "successful"
    listed = requests.get(f"{b.base}/jobs", params={"limit": 100}, timeout=10).json()
    assert job_id in [job["jobID"] for job in listed["jobs"]]
    result = requests.get(f"{b.base}/wps", timeout=10, params={
        "service": "WPS", "version": "2.0.0", "request": "GetResult", "jobId": job_id})
    assert_valid(result.content)
    href = etree.fromstring(result.content).find(".//{*}Reference").get(
        "{http://www.w3.org/1999/xlink}href")
    # ... whose output, written to S3 by the job's process on a Dask worker, node B serves.
    assert href.startswith(a.base + "/wps/outputs/")
    served = requests.get(href.replace(a.base, b.base), timeout=10)
    assert served.status_code == 200, served.text
    job_pid, launcher = map(int, served.text.split())
    # The job ran in a process of the launcher of one of the Dask workers.
    assert parent(launcher) in cluster.worker_pids()
    assert not alive(job_pid)


def test_dask_jobs_are_counted_once_on_the_host_that_submitted_them(nodes):
    a, b = nodes
    # Submitted through either node: node A's worker (its Dask bridge) claims them all.
    succeeding = [a.submit("pids", {}), b.submit("pids", {})]
    failing = b.submit("fail", {})
    for job_id in succeeding:
        assert b.wait(job_id, "successful")["status"] == "successful"
    assert b.wait(failing, "failed")["status"] == "failed"

    def executions(found: dict, process: str, outcome: str) -> float:
        return found.get(("wpsd_executions_total", (
            ("mode", "async"), ("outcome", outcome), ("process", process))), 0.0)

    def counted() -> dict | None:  # the bridge counts a job as its task ends
        found = a.metrics()
        done = (executions(found, "pids", "succeeded") == 2
                and executions(found, "fail", "failed") == 1)
        return found if done else None

    found = wait_for(counted, "the Dask jobs to be counted")
    for process, runs in (("pids", 2), ("fail", 1)):
        labels = (("process", process),)
        assert found["wpsd_job_duration_seconds_count", labels] == runs
        assert found["wpsd_job_queue_wait_seconds_count", labels] == runs
    assert found["wpsd_job_duration_seconds_sum", (("process", "pids"),)] > 0
    # Counted once, on A's host (exactly 2 and 1 above): node B, which runs no worker,
    # counts none of them.
    elsewhere = b.metrics()
    assert executions(elsewhere, "pids", "succeeded") == 0
    assert executions(elsewhere, "fail", "failed") == 0
    # and no job of the local kind was forked on A's host
    assert found.get(("wpsd_worker_processes_started_total", (("kind", "job"),)), 0.0) == 0
    assert found["wpsd_worker_processes_started_total", (("kind", "bridge"),)] >= 1


def test_dismissed_on_another_node_the_job_stops_on_its_dask_worker(nodes, tmp_path):
    a, b = nodes
    pidfile = tmp_path / "forever.pids"
    job_id = a.submit("forever", {"pidfile": str(pidfile)})
    job_pid, helper_pid = job_pids(pidfile)
    response = requests.delete(f"{b.base}/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dismissed"
    # The handler's process and the process it started both end, on the worker's host.
    wait_for(lambda: not alive(job_pid) and not alive(helper_pid), "the job's processes to end",
             timeout=10)
    assert a.status(job_id)["status"] == "dismissed"


def test_a_dask_worker_that_dies_mid_job_fails_the_job(cluster, nodes, tmp_path):
    a, b = nodes
    pidfile = tmp_path / "forever.pids"
    job_id = a.submit("forever", {"pidfile": str(pidfile)})
    job_pid, helper_pid = job_pids(pidfile)
    worker = parent(parent(job_pid))
    assert worker in cluster.worker_pids()
    os.kill(worker, signal.SIGKILL)
    failed = b.wait(job_id, "failed", timeout=30)
    assert "Dask worker" in str(failed["message"])
    wait_for(lambda: not alive(job_pid) and not alive(helper_pid), "the job's processes to end",
             timeout=10)
    # Its nanny starts the worker again, and the cluster goes on running jobs.
    cluster.client.wait_for_workers(2, timeout=60)
    again = a.submit("pids", {})
    assert b.wait(again, "successful")["status"] == "successful"


def test_an_idempotent_job_whose_worker_died_runs_again(cluster, nodes, tmp_path):
    a, b = nodes
    marker = tmp_path / "attempts.txt"
    job_id = a.submit("attempts", {"marker": str(marker)})
    first = int(wait_for(lambda: marker.is_file() and marker.read_text().split(),
                         "the first attempt")[0])
    os.kill(parent(parent(first)), signal.SIGKILL)
    assert b.wait(job_id, "successful", timeout=90)["status"] == "successful"
    results = requests.get(f"{b.base}/jobs/{job_id}/results", timeout=10,
                           headers={"Accept": "application/json"})
    assert "2" in results.text
    assert not alive(first)
    cluster.client.wait_for_workers(2, timeout=60)


def test_restarting_the_submitting_node_leaves_its_jobs_running(nodes):
    a, b = nodes
    job_id = a.submit("spin", {"seconds": 3})
    b.wait(job_id, "running")
    a.kill()  # the server and its worker (and so the Dask bridge) go away at once
    assert b.wait(job_id, "successful", timeout=60)["status"] == "successful"
    a.start()
    assert a.status(job_id)["status"] == "successful"
    # The restarted node's new bridge submits again.
    again = a.submit("pids", {})
    assert b.wait(again, "successful")["status"] == "successful"
