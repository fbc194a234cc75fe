"""What an operator sees of a running server: /metrics added up over its processes, health,
JSON log lines with request and job ids, and `wpsd jobs` in OGC API's words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from e2e_server import ROOT, start_server
from prometheus_client import generate_latest

from helpers import alive, free_port
from helpers import metric_samples as samples
from helpers import metric_value as value
from wpsd import metrics


def test_metrics_health_and_logs_of_a_real_server(tmp_path: Path, file_server,
                                                  monkeypatch: pytest.MonkeyPatch):
    # The default: a folder under the server's data_dir (this pytest process may have set
    # the variable for its own apps; the server must not share that folder).
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    base_url, folder = file_server
    (folder / "metrics-square.json").write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}))
    port = free_port()
    proc, server = start_server(
        [sys.executable, "-m", "wpsd.cli", "serve", "demo", "--host", "127.0.0.1",
         "--port", str(port)], tmp_path, port, WPSD_LOG_FORMAT="json",
        WPSD_HEARTBEAT_INTERVAL="0.2", WPSD_DATABSE_URL="sqlite://")
    base = f"http://127.0.0.1:{port}"
    try:
        wps = base + "/wps"
        for _ in range(2):
            assert requests.get(wps, params={"service": "WPS", "request": "GetCapabilities"},
                                timeout=30).status_code == 200
        described = requests.get(wps, timeout=30, params={
            "service": "WPS", "version": "2.0.0", "request": "DescribeProcess",
            "identifier": "say_hello"})
        assert described.status_code == 200
        hello = requests.get(wps, timeout=30, headers={"X-Request-ID": "op-test-1"}, params={
            "service": "WPS", "version": "1.0.0", "request": "Execute",
            "identifier": "say_hello", "DataInputs": "name=metrics", "RawDataOutput": "response"})
        assert hello.text == "Hello metrics" and hello.headers["X-Request-ID"] == "op-test-1"
        area = requests.post(base + "/processes/area/execution", timeout=30, json={
            "inputs": {"features": {"href": base_url + "metrics-square.json",
                                    "type": "application/geo+json"}},
            "response": "document"})
        assert area.json() == {"area": 1.0}
        missing = requests.post(base + "/processes/area/execution", timeout=30, json={
            "inputs": {"features": {"href": base_url + "no-such-file.json",
                                    "type": "application/geo+json"}}})
        assert missing.status_code == 400  # the reference could not be fetched
        jobs = []
        for _ in range(2):
            submitted = requests.post(base + "/processes/sleep/execution", timeout=30,
                                      json={"inputs": {"delay": 0.2}},
                                      headers={"Prefer": "respond-async"})
            assert submitted.status_code == 201
            jobs.append(submitted.headers["Location"])
        deadline = time.monotonic() + 30
        for location in jobs:
            while requests.get(location, timeout=30).json()["status"] != "successful":
                assert time.monotonic() < deadline, "the jobs did not finish"
                time.sleep(0.1)
        # The worker counts a job when it reaps its process, just after the job finished.
        deadline = time.monotonic() + 10
        while True:
            found = samples(requests.get(base + "/metrics", timeout=30).text)
            if (value(found, "wpsd_job_duration_seconds_count", process="sleep") == 2
                    or time.monotonic() > deadline):
                break
            time.sleep(0.1)

        # 2 GetCapabilities here and the one of start_server
        assert value(found, "wpsd_http_requests_total", protocol="wps1",
                     operation="GetCapabilities", status="200") == 3
        assert value(found, "wpsd_http_requests_total", protocol="wps2",
                     operation="DescribeProcess", status="200") == 1
        assert value(found, "wpsd_http_requests_total", protocol="wps1",
                     operation="Execute", status="200") == 1
        assert value(found, "wpsd_http_requests_total", protocol="ogcapi",
                     operation="execute", status="201") == 2
        assert value(found, "wpsd_http_requests_total", protocol="ogcapi",
                     operation="job", status="200") >= 2
        assert value(found, "wpsd_executions_total", process="say_hello", mode="sync",
                     outcome="succeeded") == 1
        assert value(found, "wpsd_executions_total", process="area", mode="sync",
                     outcome="succeeded") == 1
        assert value(found, "wpsd_executions_total", process="sleep", mode="async",
                     outcome="succeeded") == 2
        assert value(found, "wpsd_job_duration_seconds_count", process="sleep") == 2
        assert value(found, "wpsd_job_duration_seconds_sum", process="sleep") >= 0.4
        assert value(found, "wpsd_job_queue_wait_seconds_count", process="sleep") == 2
        assert value(found, "wpsd_worker_processes_started_total", kind="job") == 2
        assert value(found, "wpsd_worker_processes_started_total", kind="sync") >= 2
        assert value(found, "wpsd_worker_processes_crashed_total", kind="job") == 0
        # the area's reference, fetched in a sync process of the worker
        assert value(found, "wpsd_references_fetched_total", result="ok") == 1
        assert value(found, "wpsd_references_fetched_total", result="failed") == 1
        assert value(found, "wpsd_reference_bytes_total") == len(
            (folder / "metrics-square.json").read_bytes())
        assert value(found, "wpsd_jobs_queued") == 0
        assert value(found, "wpsd_jobs_running") == 0
        assert list((tmp_path / "metrics").glob("*.db")), "the default folder is data_dir/metrics"

        assert requests.get(base + "/health/live", timeout=30).status_code == 200
        ready = requests.get(base + "/health/ready", timeout=30)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}

        # One vocabulary: the CLI says what OGC API says.
        env = dict(os.environ, WPSD_DATA_DIR=str(tmp_path))
        listed = subprocess.run([sys.executable, "-m", "wpsd.cli", "jobs", "list", "--status",
                                 "successful"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        rows = [line for line in listed.stdout.splitlines() if " sleep " in line]
        assert len(rows) == 2 and all(" successful " in row for row in rows)
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    lines = [json.loads(line) for line in server.log_text().splitlines()
             if line.startswith("{")]
    assert lines, server.log_text()
    # The request's own log line (werkzeug's) names the client's id; job lines their job.
    assert any(line.get("request_id") == "op-test-1" and line["logger"] == "werkzeug"
               for line in lines)
    job_id = jobs[0].rsplit("/", 1)[1]
    started = [line for line in lines if line["message"].startswith(f"job {job_id}: sleep started")]
    assert len(started) == 1
    assert any(line.get("job_id") == job_id for line in lines)
    # A mistyped variable is named, with the setting it was probably meant to be.
    # (said before the settings that choose JSON are read: a text line)
    assert server.log_text().count(
        "WARNING:wpsd:environment variable WPSD_DATABSE_URL names no wpsd setting and is "
        "ignored; did you mean database_url") == 1, "once: not again by the worker"
    # every line of the job's life carries its id, the server's own lines too
    assert {line["message"].split(": ", 1)[1].split(" ")[1] for line in lines
            if line.get("job_id") == job_id and "progress" not in line["message"]} >= {
        "submitted", "started", "succeeded"}
    assert "\x1b[" not in server.log_text()  # no terminal colours in a log file


def unfolded(folder: Path) -> set[int]:
    """The processes whose metrics files are in the folder (besides the archives)."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("*.db")
            if not path.stem.endswith("_folded")}


def test_many_jobs_leave_few_metrics_files_and_exact_totals(tmp_path: Path, file_server,
                                                             monkeypatch: pytest.MonkeyPatch):
    """Each job that fetches a reference counts in files of its own; the worker folds them
    when it reaps the job, so the folder holds the files of the live processes only. Here the
    metrics are served by the worker on an address of their own (metrics_listen)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    base_url, folder = file_server
    (folder / "fold-square.json").write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]]}))
    port, metrics_port = free_port(), free_port()
    proc, server = start_server(
        [sys.executable, "-m", "wpsd.cli", "serve", "demo", "--host", "127.0.0.1",
         "--port", str(port)], tmp_path, port, WPSD_HEARTBEAT_INTERVAL="0.2",
        WPSD_METRICS_LISTEN=f"127.0.0.1:{metrics_port}")
    base, exporter = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    jobs = 40
    seen: list[tuple[float, float]] = []
    stop = threading.Event()

    def totals() -> tuple[float, float]:
        found = samples(requests.get(exporter, timeout=30).text)
        return (value(found, "wpsd_executions_total", process="area", mode="async",
                      outcome="succeeded"),
                value(found, "wpsd_references_fetched_total", result="ok"))

    def scrape_all_along() -> None:
        while not stop.is_set():
            seen.append(totals())

    scraper = threading.Thread(target=scrape_all_along)
    try:
        assert requests.get(base + "/metrics", timeout=30).status_code == 404
        deadline = time.monotonic() + 30
        while True:  # the worker's metrics process may still be starting
            try:
                totals()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, server.log_text()
                time.sleep(0.1)
        scraper.start()
        for _ in range(jobs):
            submitted = requests.post(base + "/processes/area/execution", timeout=30, json={
                "inputs": {"features": {"href": base_url + "fold-square.json",
                                        "type": "application/geo+json"}}},
                headers={"Prefer": "respond-async"})
            assert submitted.status_code == 201, submitted.text
        deadline = time.monotonic() + 120
        while not seen or seen[-1][0] < jobs:  # until every job is counted
            assert time.monotonic() < deadline, (seen[-1:], server.log_text())
            time.sleep(0.1)
        stop.set()
        scraper.join()
        final = totals()
        files = [path.name for path in (tmp_path / "metrics").glob("*.db")]
        pids = unfolded(tmp_path / "metrics")
        ended = {pid for pid in pids if not alive(pid)}
    finally:
        stop.set()
        if scraper.is_alive():
            scraper.join()
        proc.terminate()
        proc.wait(timeout=15)
    assert final == (jobs, jobs)
    # no scrape missed the counts of a job being folded, or saw them twice
    assert len(seen) > 1
    for earlier, later in zip(seen, [*seen[1:], final], strict=True):
        assert earlier[0] <= later[0] and earlier[1] <= later[1], (earlier, later)
    # Left: the archives, and the files of processes that are alive (the server, its
    # worker, the sync processes), however many jobs ran.
    assert {"counter_folded.db", "histogram_folded.db"} <= set(files)
    assert not ended, files
    assert len(files) <= 2 + 2 * len(pids) < jobs, files
    assert "metrics process" not in server.log_text()  # it never failed

    # Stopped (SIGTERM), the server leaves no file but the archives: its worker folds its
    # own as it stops, the web process its own at exit. The totals stay.
    deadline = time.monotonic() + 20
    while unfolded(tmp_path / "metrics"):
        assert time.monotonic() < deadline, list((tmp_path / "metrics").iterdir())
        time.sleep(0.1)
    found = samples(generate_latest(metrics.registry(directory=tmp_path / "metrics")).decode())
    assert value(found, "wpsd_executions_total", process="area", mode="async",
                 outcome="succeeded") == jobs
    assert value(found, "wpsd_references_fetched_total", result="ok") == jobs


def test_the_running_gauge_counts_a_running_job(demo_server):
    base = demo_server.url.removesuffix("/wps")
    submitted = requests.post(base + "/processes/sleep/execution", timeout=30,
                              json={"inputs": {"delay": 30}},
                              headers={"Prefer": "respond-async"})
    location = submitted.headers["Location"]
    try:
        deadline = time.monotonic() + 30
        while requests.get(location, timeout=30).json()["status"] != "running":
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        during = value(samples(requests.get(base + "/metrics", timeout=30).text),
                       "wpsd_jobs_running")
        assert during >= 1  # (other tests' jobs may run on this server too)
    finally:
        requests.delete(location, timeout=30)
    deadline = time.monotonic() + 30
    while value(samples(requests.get(base + "/metrics", timeout=30).text),
                "wpsd_jobs_running") >= during:
        assert time.monotonic() < deadline, "the dismissed job is still counted as running"
        time.sleep(0.1)
