"""Operations through the WSGI app: health checks, request ids, /metrics, log formats, and the
settings that go with them."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client import generate_latest

from helpers import free_port
from helpers import metric_samples as parse
from helpers import metric_value as count
from wpsd import load_settings, metrics
from wpsd.logs import ContextFilter, JSONFormatter, configure_logging, request_id
from wpsd.web.metrics import HEADER
from wpsd.worker.channel import Channel
from wpsd.worker.embedded import worker_running

ROOT = Path(__file__).resolve().parents[2]
CAPABILITIES = "/wps?service=WPS&request=GetCapabilities"


def wait_for_worker(app) -> None:
    service = app.extensions["wpsd"]
    channel = Channel.for_server(service.settings.job_database_url,
                                 [p.identifier for p in service.registry])
    deadline = time.monotonic() + 20
    while not worker_running(channel):
        assert time.monotonic() < deadline, "the embedded worker did not start"
        time.sleep(0.05)


# ------------------------------------------------------------------ health


def test_live_and_ready(app, client):
    assert client.get("/health/live").get_json() == {"status": "live"}
    wait_for_worker(app)
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.get_json() == {"status": "ready"}
    assert ready.headers["Cache-Control"] == "no-store"


def test_not_ready_without_a_worker(make_app):
    client = make_app(embedded_worker=False).test_client()
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["status"] == "not ready"
    assert "wpsd worker" in ready.get_json()["reason"]


def test_not_ready_when_the_store_does_not_answer(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("database is gone")

    monkeypatch.setattr(app.extensions["wpsd"].store, "count", broken)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "not ready", "reason": "the job store does not answer"}


def test_health_needs_no_authentication(make_app):
    client = make_app(auth="tokens", embedded_worker=False).test_client()
    assert client.get(CAPABILITIES).status_code == 401
    assert client.get("/metrics").status_code == 401  # what a server runs is its own
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 503  # answered, not refused


# ------------------------------------------------------------------ request ids


def test_request_ids_are_echoed_or_made(client):
    given = client.get(CAPABILITIES, headers={HEADER: "abc-123.x"})
    assert given.headers[HEADER] == "abc-123.x"
    made = client.get(CAPABILITIES)
    other = client.get(CAPABILITIES)
    assert len(made.headers[HEADER]) == 32 and made.headers[HEADER] != other.headers[HEADER]
    for insane in ("two words", "x" * 200, "<script>", "a\tb"):
        answered = client.get(CAPABILITIES, headers={HEADER: insane})
        assert answered.headers[HEADER] != insane and len(answered.headers[HEADER]) == 32
    # refusals carry one too
    assert HEADER in client.get("/nothing-here").headers


def test_log_lines_of_a_request_carry_its_id(client):
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("wpsd")
    logger.addHandler(handler)
    try:
        # a request the server logs an error for
        client.get("/wps?service=WMS&request=GetCapabilities", headers={HEADER: "req-7"})
    finally:
        logger.removeHandler(handler)
    assert seen and all(record.request_id == "req-7" for record in seen)
    assert logging.Formatter("%(message)s%(context)s").format(seen[0]).endswith(
        " [request=req-7]")


def test_json_lines():
    record = logging.LogRecord("wpsd", logging.INFO, __file__, 1, "job %s: %s started",
                               ("j1", "sleep"), None)
    record.job_id = "j1"
    token = request_id.set(None)
    try:
        ContextFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "job j1: sleep started"
    assert line["job_id"] == "j1" and line["level"] == "INFO" and line["logger"] == "wpsd"
    assert "request_id" not in line and "context" not in line
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("wpsd", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    ContextFilter().filter(failed)
    assert "ValueError: boom" in json.loads(JSONFormatter().format(failed))["exception"]


def test_no_terminal_colours_in_log_files(monkeypatch):
    from werkzeug import serving

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(serving, "_log_add_style", True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    configure_logging("json")
    assert serving._log_add_style is False
    assert isinstance(root.handlers[0].formatter, JSONFormatter)


# ------------------------------------------------------------------ metrics


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def test_metrics_count_requests_by_protocol_and_operation(client):
    key = {"protocol": "wps1", "operation": "GetCapabilities", "status": "200"}
    before = scrape(client)
    client.get(CAPABILITIES)
    client.get(CAPABILITIES)
    client.get("/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=nope")
    client.get("/processes", headers={"Accept": "application/json"})
    client.get("/processes", headers={"Accept": "text/html"})
    client.get("/wps?service=WPS&request=SomethingElse&version=1.0.0")
    for path in ("/favicon.ico", "/vendor/leaflet/leaflet.js"):
        client.get(path).close()  # a file served: close it
    after = scrape(client)

    def delta(**labels: str) -> float:
        return (count(after, "wpsd_http_requests_total", **labels)
                - count(before, "wpsd_http_requests_total", **labels))

    assert delta(**key) == 2
    assert delta(protocol="wps2", operation="DescribeProcess", status="400") == 1
    assert delta(protocol="ogcapi", operation="processes", status="200") == 1
    assert delta(protocol="html", operation="processes", status="200") == 1
    assert delta(protocol="wps1", operation="other", status="501") == 1
    # the pages' files are the HTML face's
    assert delta(protocol="html", operation="static", status="200") == 2
    assert not any(dict(labels).get("operation") in ("favicon", "leaflet")
                   for _, labels in after)
    # the scrape before is counted too
    assert delta(protocol="other", operation="metrics", status="200") == 1
    assert "wpsd_jobs_queued" in {name for name, _ in after}


def test_metrics_can_be_turned_off(make_app):
    client = make_app(metrics=False, embedded_worker=False).test_client()
    assert client.get("/metrics").status_code == 404


def scrape_address(url: str) -> dict:
    deadline = time.monotonic() + 30
    while True:  # the worker's metrics process may still be starting
        try:
            response = requests.get(url, timeout=10)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "nothing serves the metrics at " + url
            time.sleep(0.05)
    assert response.status_code == 200
    return parse(response.text)


def test_metrics_on_an_address_of_their_own(make_app):
    address = f"127.0.0.1:{free_port()}"
    # The web app does not serve them then ...
    assert make_app(metrics_listen=address, embedded_worker=False).test_client().get(
        "/metrics").status_code == 404
    # ... the host's worker does, to whoever reaches its address: no token needed.
    client = make_app(metrics_listen=address, auth="tokens").test_client()
    url = f"http://{address}/metrics"
    key = {"protocol": "wps1", "operation": "GetCapabilities", "status": "401"}
    before = scrape_address(url)
    assert client.get(CAPABILITIES).status_code == 401
    assert client.get(CAPABILITIES).status_code == 401
    after = scrape_address(url)
    # the web process counts its requests as ever
    assert (count(after, "wpsd_http_requests_total", **key)
            - count(before, "wpsd_http_requests_total", **key)) == 2
    assert count(after, "wpsd_worker_processes_started_total", kind="metrics") >= 1
    assert ("wpsd_jobs_queued", ()) in after and ("wpsd_jobs_running", ()) in after
    assert client.get("/health/live").status_code == 200


def test_a_taken_metrics_address_does_not_stop_the_worker(make_app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        app = make_app(metrics_listen=address)
        before = parse(metrics.exposition()[0].decode())
        wait_for_worker(app)
        client = app.test_client()
        hello = client.get("/wps?service=WPS&version=1.0.0&request=Execute&identifier=say_hello"
                           "&DataInputs=name=x&RawDataOutput=response")
        assert hello.get_data(as_text=True) == "Hello x"  # executions go on
        deadline = time.monotonic() + 30
        while True:  # its metrics process failed (and is started again later)
            after = parse(metrics.exposition()[0].decode())
            if (count(after, "wpsd_worker_processes_crashed_total", kind="metrics")
                    > count(before, "wpsd_worker_processes_crashed_total", kind="metrics")):
                break
            assert time.monotonic() < deadline, "the metrics process did not fail"
            time.sleep(0.05)
        assert client.get("/health/ready").status_code == 200


#: a process that counts as a job process can: fetches and, as the worker does, a job
COUNTING_CHILD = """
import os
import sys
from pathlib import Path
from wpsd import metrics
metrics.enable(Path(sys.argv[1]))
for _ in range(3):
    with metrics.counting_fetch() as size:
        size.append(10)
metrics.count_job("p", "succeeded", 0.5, 2.0)
os._exit(0)  # as job processes end: no folding of its own at exit, its reaper folds it
"""


def run_counting_children(folder: Path, how_many: int) -> list[int]:
    env = {**os.environ, metrics.VARIABLE: str(folder)}
    procs = [subprocess.Popen([sys.executable, "-c", COUNTING_CHILD, str(folder)], env=env)
             for _ in range(how_many)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    return [proc.pid for proc in procs]


def test_a_process_that_exits_in_order_folds_itself(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, metrics.VARIABLE: str(folder)}
    in_order = COUNTING_CHILD.replace("os._exit(0)", "sys.exit(0)")
    subprocess.run([sys.executable, "-c", in_order, str(folder)], env=env, check=True,
                   timeout=60)
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_folded.db", "histogram_folded.db"]
    assert totals(folder) == per_child(1)


def totals(folder: Path) -> tuple[float, ...]:
    found = parse(generate_latest(metrics.registry(directory=folder)).decode())
    return (count(found, "wpsd_references_fetched_total", result="ok"),
            count(found, "wpsd_reference_bytes_total"),
            count(found, "wpsd_executions_total", process="p", mode="async",
                  outcome="succeeded"),
            count(found, "wpsd_job_duration_seconds_count", process="p"),
            count(found, "wpsd_job_duration_seconds_sum", process="p"),
            count(found, "wpsd_job_duration_seconds_bucket", process="p", le="2.5"),
            count(found, "wpsd_job_queue_wait_seconds_bucket", process="p", le="0.5"))


def per_child(children: int) -> tuple[float, ...]:
    return (3 * children, 30 * children, children, children, 2.0 * children, children,
            children)


def test_the_counts_of_ended_processes_are_folded(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    seen: list[tuple[float, ...]] = []
    stop = threading.Event()

    def scrape_all_along() -> None:
        while not stop.is_set():
            seen.append(totals(folder))

    scraper = threading.Thread(target=scrape_all_along)
    scraper.start()
    children = 0
    try:
        for _ in range(8):  # each round: processes count and end, and are folded
            for pid in run_counting_children(folder, 4):
                metrics.fold(pid, folder)
                children += 1
    finally:
        stop.set()
        scraper.join()
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_folded.db", "histogram_folded.db"]
    final = totals(folder)
    assert final == per_child(children)
    # No scrape missed the counts of a process being folded, or saw them twice: totals
    # only grow, up to the final ones.
    assert len(seen) > 1
    for earlier, later in zip(seen, [*seen[1:], final], strict=True):
        assert all(a <= b for a, b in zip(earlier, later, strict=True)), (earlier, later)


def test_a_file_cut_short_by_a_kill_is_left_and_never_breaks_a_scrape(tmp_path, monkeypatch):
    # A process killed as it made its file leaves it empty: prometheus_client cannot read
    # it; folding it must not fail the worker that reaps the process, nor scraping.
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv(metrics.VARIABLE, str(folder))
    metrics.enable(folder)
    (folder / "counter_999999.db").touch()
    metrics.process_ended(999999)
    assert (folder / "counter_999999.db").exists()
    (child,) = run_counting_children(folder, 1)
    metrics.process_ended(child)
    assert totals(folder) == per_child(1)


class Killed(BaseException):
    """A fold's process killed half-way, as far as the folder can tell."""


def test_a_fold_killed_half_way_is_set_right(tmp_path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir()
    first, second = run_counting_children(folder, 2)
    metrics.fold(first, folder)

    def killed(*args: object) -> None:
        raise Killed

    # killed after it deleted the process's files, before the new archive replaced the old
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", killed)
        with pytest.raises(Killed):
            metrics.fold(second, folder)
    assert not (folder / f"counter_{second}.db").exists()
    metrics.finish_folds(folder)
    assert totals(folder) == per_child(2)
    # and the rest of that process is folded too
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_folded.db", "histogram_folded.db"]

    # killed before it deleted the process's file: the new archive is dropped
    third, = run_counting_children(folder, 1)
    unlink = Path.unlink

    def kill_at_source(path: Path, missing_ok: bool = False) -> None:
        if path.name == f"counter_{third}.db":
            raise Killed
        unlink(path, missing_ok=missing_ok)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", kill_at_source)
        with pytest.raises(Killed):
            metrics.fold(third, folder)
    assert list(folder.glob("*.from-*"))
    assert totals(folder) == per_child(3)  # the third's counts once, from its own file
    metrics.fold(third, folder)  # finishes the half-done fold first, then does it again
    assert totals(folder) == per_child(3)
    assert sorted(p.name for p in folder.iterdir()) == [
        "counter_folded.db", "folding.lock", "histogram_folded.db"]


# ------------------------------------------------------------------ settings


def test_unknown_variables_are_named_with_the_likely_setting(caplog):
    with caplog.at_level(logging.WARNING, logger="wpsd"):
        settings = load_settings(None, {
            "WPSD_DATABSE_URL": "sqlite://", "WPSD_MAX_PARALEL_JOBS": "3",
            "WPSD_ZZZ": "1", "WPSD_CONFIG": "x.toml", "WPSD_TEST_POSTGRES_URL": "x",
            "WPSD_FUZZ_EXAMPLES": "5", "WPSD_WORKER_SOURCES": "[]", "WPSD_IN_WORKER": "1",
            "WPSD_SCHEMAS": "x", "WPSD_SCHEMA_CACHE": "x", "WPSD_REQUIRE_BROWSER": "1",
            "WPSD_METRICS": "false", "WPSD_LOG_FORMAT": "json",
            "WPSD_TOKEN": "the CLI's own"})
    assert settings.metrics is False and settings.log_format == "json"
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3, warned
    assert any("WPSD_DATABSE_URL" in m and "did you mean database_url" in m for m in warned)
    assert any("WPSD_MAX_PARALEL_JOBS" in m and "max_parallel_jobs" in m for m in warned)
    assert any("WPSD_ZZZ" in m and "did you mean" not in m for m in warned)


def test_log_format_is_checked():
    with pytest.raises(ValueError, match="log_format"):
        load_settings(None, {"WPSD_LOG_FORMAT": "xml"})


def test_wsgi_refuses_a_server_of_no_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WPSD_")}
    env["WPSD_DATA_DIR"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-c", "import wpsd.wsgi"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "no processes to serve" in run.stderr and "WPSD_PROCESSES" in run.stderr


def test_metrics_of_jobs_count_crashes_but_not_time_limits(wps, client):
    from helpers import ASYNC, poll, submit

    before = scrape(client)
    for name in ("crash", "limited"):
        _, location = submit(wps, name + ASYNC)
        poll(wps, location, timeout=30)

    def delta(found: dict, name: str, **labels: str) -> float:
        return count(found, name, **labels) - count(before, name, **labels)

    deadline = time.monotonic() + 10
    while True:  # the worker counts a job as it reaps the job's process
        after = scrape(client)
        ended = sum(delta(after, "wpsd_executions_total", process=p, mode="async",
                          outcome="failed") for p in ("crash", "limited"))
        if ended == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ended == 2
    assert delta(after, "wpsd_worker_processes_started_total", kind="job") == 2
    assert delta(after, "wpsd_worker_processes_crashed_total", kind="job") == 1
    assert delta(after, "wpsd_job_duration_seconds_count", process="limited") == 1
