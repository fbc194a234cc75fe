"""The worker model, through the WSGI app and the real embedded worker: forked jobs, sync
processes shared by the web processes of a host, claims limited to a worker's processes."""

from __future__ import annotations

import os
import signal
import time

import demo

from helpers import ASYNC, EXEC, WPS, alive, children, literal, poll, submit
from sample_processes import processes as sample_processes
from wpsd import create_app
from wpsd.web.app import close_app


def pids(wps: WPS, asynchronous: bool = False) -> tuple[int, int]:
    if asynchronous:
        _, location = submit(wps, "pids" + ASYNC)
        root = poll(wps, location)[-1]
    else:
        root = wps.get(EXEC + "pids").xml
    pid, parent = literal(root, "pids").split()
    return int(pid), int(parent)


def workers_of(pid: int) -> list[int]:
    return [child for child, command in children(pid) if "wpsd.worker" in command]


def cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read()


def test_web_processes_of_a_host_share_one_worker(settings):
    first, second = (create_app(settings, processes=sample_processes) for _ in range(2))
    try:
        seen = {pids(WPS(app.test_client())) for app in (first, second) for _ in range(4)}
        worker = {parent for _, parent in seen}
        assert len(worker) == 1, "every synchronous execution comes from the one worker"
        assert workers_of(os.getpid()) == list(worker)
        # Sync processes are reused: eight executions, at most max_sync_executions processes.
        assert len({pid for pid, _ in seen}) <= settings.max_sync_executions
    finally:
        close_app(first, kill_jobs=True)
        close_app(second, kill_jobs=True)


def test_a_job_is_forked_from_the_warm_worker(wps):
    sync_pid, worker = pids(wps)
    job_pid, parent = pids(wps, asynchronous=True)
    assert parent == worker and job_pid != sync_pid
    assert not alive(job_pid), "a job's process ends with its job"
    # Forked, not a new interpreter: the job ran under the worker's own command line.
    assert b"wpsd.worker" in cmdline(worker)


def test_servers_of_other_processes_on_one_store_run_only_their_own(settings, make_app):
    demo_app = make_app(processes=demo.processes)
    sample_app = make_app(processes=sample_processes)
    assert demo_app.extensions["wpsd"].store.url == sample_app.extensions["wpsd"].store.url
    hello = WPS(demo_app.test_client())
    mine = WPS(sample_app.test_client())
    _, greeting = submit(hello, "say_hello&DataInputs=name=demo" + ASYNC)
    _, where = submit(mine, "pids" + ASYNC)
    assert literal(poll(hello, greeting)[-1], "response") == "Hello demo"
    assert len(literal(poll(mine, where)[-1], "pids").split()) == 2
    assert len(workers_of(os.getpid())) == 2, "each set of processes has a worker of its own"


def test_a_burst_of_jobs_is_accepted_and_run(wps):
    locations = [submit(wps, "say_hello&DataInputs=name=burst" + ASYNC)[1] for _ in range(200)]
    for location in locations:
        assert literal(poll(wps, location)[-1], "response") == "Hello burst"


def test_a_job_outlives_its_killed_worker_and_a_new_worker_starts(wps, app):
    _, worker = pids(wps)
    _, location = submit(wps, "sleep&DataInputs=delay=2" + ASYNC)
    job_id = location.rsplit("/", 1)[1]
    store = app.extensions["wpsd"].store
    deadline = time.monotonic() + 30
    while store.get(job_id).progress == 0:  # running in its own process, reporting progress
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(worker, signal.SIGKILL)
    assert literal(poll(wps, location)[-1], "sleep_output") == "done sleeping"
    _, new_worker = pids(wps)  # the next execution starts a new worker
    assert new_worker != worker and alive(new_worker)
