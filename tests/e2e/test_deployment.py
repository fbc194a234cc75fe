"""Serving user processes: the `wpsd serve` CLI and a real WSGI server (gunicorn)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from e2e_server import ROOT, start_server
from owslib.wps import SYNC, WebProcessingService
from prometheus_client import generate_latest

from helpers import children, free_port, metric_samples, metric_value
from wpsd import metrics

WPSD = [sys.executable, "-m", "wpsd.cli"]


@pytest.fixture
def served(tmp_path):
    procs = []

    def serve(command: list[str]) -> WebProcessingService:
        port = free_port()
        proc, server = start_server([part.replace("PORT", str(port)) for part in command],
                                    tmp_path, port)
        procs.append(proc)
        return WebProcessingService(server.url, version="1.0.0")

    yield serve
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_serves_a_user_module_by_path(served):
    wps = served(WPSD + ["serve", "tests/sample_processes.py", "--host", "127.0.0.1",
                         "--port", "PORT"])
    assert "literal_types" in [p.identifier for p in wps.processes]
    assert wps.execute("multi", [("n", "2"), ("n", "3")], mode=SYNC).processOutputs[0].data == [
        "5"]


def test_cli_serves_modules_named_in_a_config_file(served, tmp_path: Path):
    config = tmp_path / "wpsd.toml"
    config.write_text('processes = ["demo"]\n[metadata]\ntitle = "Configured"\n'
                      'provider_name = "Tests"\n')
    wps = served(WPSD + ["serve", "--config", str(config), "--host", "127.0.0.1",
                         "--port", "PORT"])
    assert wps.identification.title == "Configured"
    assert wps.provider.name == "Tests"
    assert "say_hello" in [p.identifier for p in wps.processes]


def test_cli_without_processes_is_a_usage_error():
    result = subprocess.run(WPSD + ["serve"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "name at least one module" in result.stderr


def test_cli_reports_a_module_without_processes():
    result = subprocess.run(WPSD + ["serve", "json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "defines no wpsd processes" in result.stderr


@pytest.mark.parametrize(
    ("app", "env"),
    [("wpsd.wsgi:application", {"WPSD_PROCESSES": "demo"}), ("demo:create_demo_app()", {})],
)
def test_gunicorn(served, app, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wps = served([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
                  "127.0.0.1:PORT", app])
    execution = wps.execute("say_hello", [("name", "gunicorn")], mode=SYNC)
    assert execution.processOutputs[0].data == ["Hello gunicorn"]


def descendants(pid: int) -> list[tuple[int, str]]:
    found = []
    for child, command in children(pid):
        found.append((child, command))
        found.extend(descendants(child))
    return found


def scraped(url: str, name: str, **labels: str) -> float:
    """One sample of the metrics served at ``url``."""
    return metric_value(metric_samples(requests.get(url, timeout=30).text), name, **labels)


def test_wpsd_worker_beside_gunicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The deployment of the README: gunicorn serves, `wpsd worker` executes."""
    # Their metrics in data_dir/metrics, not in a folder apps of this pytest process set.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = tmp_path / "wpsd.toml"
    config.write_text('processes = ["demo"]\nembedded_worker = false\n'
                      "heartbeat_interval = 0.2\n")
    # start_server gives the web tier WPSD_DATA_DIR: the worker must see the same store.
    env = dict(os.environ, WPSD_CONFIG=str(config), WPSD_DATA_DIR=str(tmp_path))
    port = free_port()
    gunicorn, server = start_server([sys.executable, "-m", "gunicorn", "--workers", "2",
                                     "--bind", f"127.0.0.1:{port}", "wpsd.wsgi:application"],
                                    tmp_path, port, WPSD_CONFIG=str(config))
    worker = None
    try:
        # No worker yet: the web tier accepts and stores, it never executes.
        wps = WebProcessingService(server.url, version="1.0.0")
        refused = requests.get(server.url, timeout=30, params={
            "service": "WPS", "version": "1.0.0", "request": "Execute",
            "identifier": "say_hello", "DataInputs": "name=nobody"})
        assert refused.status_code == 503 and b"wpsd worker" in refused.content
        # OWSLib asks for a stored, updated response when outputs are named.
        job = wps.execute("sleep", [("delay", "0.5")], output=[("sleep_output", False)])
        assert job.status == "ProcessAccepted"
        metrics_url = server.url.removesuffix("/wps") + "/metrics"
        assert scraped(metrics_url, "wpsd_jobs_queued") == 1  # from the store
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(WPSD + ["worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not job.isComplete():  # the queued job runs once the worker is up
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
            job.checkStatus(sleepSecs=0)
        assert job.isSucceded()
        execution = wps.execute("say_hello", [("name", "worker")], mode=SYNC)
        assert execution.processOutputs[0].data == ["Hello worker"]
        # gunicorn's two workers count in files of their own; a scrape adds them up. Two
        # synchronous sleeps at once keep both workers busy, so each serves one.
        key = {"protocol": "wps1", "operation": "Execute", "status": "200"}
        before = scraped(metrics_url, "wpsd_http_requests_total", **key)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: requests.get(server.url, timeout=60, params={
                "service": "WPS", "version": "1.0.0", "request": "Execute",
                "identifier": "sleep", "DataInputs": "delay=1"}), range(2)))
        assert [a.status_code for a in answers] == [200, 200]
        assert scraped(metrics_url, "wpsd_http_requests_total", **key) == before + 2
        web_pids = {pid for pid, _ in children(gunicorn.pid)}
        counting = {int(f.stem.rsplit("_", 1)[1]) for f in (tmp_path / "metrics").glob(
            "counter_*.db") if f.stem.rsplit("_", 1)[1].isdigit()}
        assert len(web_pids & counting) == 2, (web_pids, counting)
        # Executions ran in the worker's processes, none in gunicorn's.
        assert not any("wpsd.cli worker" in c or "wpsd.worker" in c
                       for _, c in descendants(gunicorn.pid))
        assert len(descendants(worker.pid)) >= 2  # its warm sync processes
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=15)
            log.close()
        gunicorn.terminate()
        gunicorn.wait(timeout=15)
    # Stopped in order, gunicorn's workers folded their counts at exit (and the worker its
    # own): only the archives are left, and the totals stayed.
    left = {f.name for f in (tmp_path / "metrics").glob("*.db")}
    assert left <= {"counter_folded.db", "histogram_folded.db", "summary_folded.db"}, left
    found = metric_samples(generate_latest(
        metrics.registry(directory=tmp_path / "metrics")).decode())
    assert metric_value(found, "wpsd_http_requests_total", **key) == before + 2
