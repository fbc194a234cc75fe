"""Jobs survive the server: the demo server and its workers killed for real, then restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from e2e_server import ROOT, start_server
from lxml import etree

from helpers import NS, alive, children, free_port
from schemas import assert_valid
from wpsd.backends.sql import SQLJobStore

EXEC = ("?service=WPS&version=1.0.0&request=Execute&identifier={}"
        "&storeExecuteResponse=true&status=true&DataInputs={}")


class Demo:
    """A demo server on a fixed port and folder, which the test can kill and start again."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.port, self.proc = tmp, free_port(), None
        self.env = {"WPSD_MAX_PARALLEL_JOBS": "1", "WPSD_HEARTBEAT_INTERVAL": "0.2",
                    "WPSD_DATABASE_URL": f"sqlite:///{tmp / 'jobs.sqlite'}"}
        self.url = f"http://127.0.0.1:{self.port}/wps"

    def start(self) -> None:
        self.proc, _ = start_server(
            [sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(self.port)],
            self.tmp, self.port, **self.env)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def submit(self, process: str, inputs: str) -> str:
        root = etree.fromstring(requests.get(self.url + EXEC.format(process, inputs),
                                             timeout=10).content)
        return root.get("statusLocation").rsplit("/", 1)[1]

    def status(self, job_id: str) -> etree._Element:
        response = requests.get(f"{self.url}/jobs/{job_id}", timeout=10)
        assert_valid(response.content)
        return etree.fromstring(response.content)

    def wait(self, job_id: str, states: tuple[str, ...], timeout: float = 60) -> etree._Element:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            root = self.status(job_id)
            if root.find("wps:Status/*", NS).tag.split("}")[1] in states:
                return root
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {states}")


def worker_pid(store: SQLJobStore, job_id: str) -> int:
    """The job's worker process id, recorded just after the job is claimed."""
    deadline = time.monotonic() + 30
    while (pid := store.get(job_id).pid) is None:
        assert time.monotonic() < deadline, "no worker process was recorded"
        time.sleep(0.05)
    return pid


@pytest.fixture
def demo(tmp_path):
    server = Demo(tmp_path)
    yield server
    if server.proc and server.proc.poll() is None:
        server.proc.terminate()
        server.proc.wait(timeout=10)
    store = SQLJobStore(server.env["WPSD_DATABASE_URL"])
    for job in store.list_jobs():  # leave no worker behind
        if job.pid and alive(job.pid):
            os.kill(job.pid, signal.SIGKILL)
    store.close()


def test_server_and_worker_killed(demo):
    demo.start()
    running = demo.submit("sleep", "delay=60")
    demo.wait(running, ("ProcessStarted",))
    queued = demo.submit("say_hello", "name=queued")
    store = SQLJobStore(demo.env["WPSD_DATABASE_URL"])
    worker = worker_pid(store, running)
    assert store.get(queued).status.value == "accepted"
    demo.kill()
    os.kill(worker, signal.SIGKILL)
    demo.start()
    failed = demo.wait(running, ("ProcessFailed", "ProcessSucceeded"))
    text = failed.findtext(".//ows:ExceptionText", namespaces=NS)
    # Failed, never left running: by the new worker (silent too long), or by the old one if
    # it reaped the job's process before it stopped.
    assert "stopped without finishing" in text or "killed by signal 9" in text
    done = demo.wait(queued, ("ProcessSucceeded", "ProcessFailed"))
    assert done.xpath("//wps:LiteralData/text()", namespaces=NS) == ["Hello queued"]
    store.close()


def test_server_killed_while_its_worker_goes_on(demo):
    demo.start()
    job = demo.submit("sleep", "delay=2")
    demo.wait(job, ("ProcessStarted",))
    demo.kill()
    demo.start()
    done = demo.wait(job, ("ProcessSucceeded", "ProcessFailed"))
    assert done.xpath("//wps:LiteralData/text()", namespaces=NS) == ["done sleeping"]


def test_worker_killed(demo):
    demo.start()
    job = demo.submit("sleep", "delay=60")
    demo.wait(job, ("ProcessStarted",))
    store = SQLJobStore(demo.env["WPSD_DATABASE_URL"])
    os.kill(worker_pid(store, job), signal.SIGKILL)
    store.close()
    failed = demo.wait(job, ("ProcessFailed",))
    assert "killed by signal 9 (SIGKILL)" in failed.findtext(".//ows:ExceptionText",
                                                             namespaces=NS)


def test_warm_workers_end_with_their_server(demo):
    demo.start()
    response = requests.get(demo.url + "?service=WPS&version=1.0.0&request=Execute"
                            "&identifier=say_hello&DataInputs=name=x", timeout=30)
    assert response.status_code == 200
    # The embedded worker and its warm sync processes (forked from it: same command line).
    workers = [pid for pid, command in descendants(demo.proc.pid) if "wpsd.worker" in command]
    assert len(workers) >= 2, "the server's worker and its sync processes"
    demo.kill()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "worker processes outlived their server"


def descendants(pid: int) -> list[tuple[int, str]]:
    found = []
    for child, command in children(pid):
        found += [(child, command), *descendants(child)]
    return found


def run_cli(demo, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WPSD_DATA_DIR=str(demo.tmp), **demo.env)
    return subprocess.run([sys.executable, "-m", "wpsd.cli", "jobs", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_jobs_cli(demo):
    demo.start()
    running = demo.submit("sleep", "delay=60")
    demo.wait(running, ("ProcessStarted",))
    listed = run_cli(demo, "list")
    assert listed.returncode == 0 and running in listed.stdout and "running" in listed.stdout
    shown = json.loads(run_cli(demo, "show", "--json", running).stdout)
    assert shown["status"].startswith("running (") and shown["process"] == "sleep"
    assert shown["finished"] is None and shown["inputs"] == [["delay", "60"]]
    store = SQLJobStore(demo.env["WPSD_DATABASE_URL"])
    worker = worker_pid(store, running)
    cancelled = run_cli(demo, "cancel", running)
    assert cancelled.stdout.strip() == f"{running} dismissed"
    deadline = time.monotonic() + 10
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)
    assert run_cli(demo, "show", "nope").returncode == 1
    assert "removed 0 jobs" in run_cli(demo, "cleanup").stdout
    assert run_cli(demo, "list", "--status", "dismissed").stdout.count(running) == 1
    store.close()
