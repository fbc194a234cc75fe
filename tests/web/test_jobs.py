"""Asynchronous WPS 1.0.0 execution through the WSGI app, with real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ASYNC, EXEC, NS, WPS, alive, literal, poll, state, submit


def test_lifecycle_with_progress(wps):
    root, location = submit(wps, "sleep&DataInputs=delay=2" + ASYNC)
    assert state(root) == "ProcessAccepted"
    seen = poll(wps, location)
    states = [state(r) for r in seen]
    assert "ProcessStarted" in states and states[-1] == "ProcessSucceeded"
    percents = [int(r.find("wps:Status/wps:ProcessStarted", NS).get("percentCompleted"))
                for r in seen if state(r) == "ProcessStarted"]
    assert percents == sorted(percents) and max(percents) > 0
    assert literal(seen[-1], "sleep_output") == "done sleeping"
    assert seen[-1].get("statusLocation") == location


def test_without_status_the_document_changes_only_at_the_end(wps):
    _, location = submit(wps, "sleep&DataInputs=delay=1&storeExecuteResponse=true")
    states = {state(r) for r in poll(wps, location)}
    assert states == {"ProcessAccepted", "ProcessSucceeded"}


def test_failure(wps, settings):
    _, location = submit(wps, "fail" + ASYNC)
    final = poll(wps, location)[-1]
    text, log = final.xpath(".//ows:ExceptionText/text()", namespaces=NS)
    assert "'fail' failed" in text and "broke on purpose" not in text
    # What the handler logged before it failed is the report's second text, with a link to
    # all of it; the status document links it too.
    job_id = location.rsplit("/", 1)[1]
    log_url = f"http://localhost/jobs/{job_id}/log"
    assert log.startswith(f"Last lines of the job's log (all of it: {log_url}):\n")
    assert "WARNING giving up: the input cannot be read\n" in log
    assert "Traceback" not in log and "broke on purpose" not in log
    response = wps.client.get(location)
    assert response.headers["Link"] == f'<{log_url}>; rel="log"; type="text/plain"'
    assert "giving up: the input cannot be read\n" in wps.client.get(log_url).text
    # The traceback is for the operator: in the job record, shown by `wpsd jobs show`.
    assert b"Traceback" not in response.data
    assert b"Traceback" not in wps.client.get(f"/jobs/{job_id}").data
    shown = subprocess.run([str(Path(sys.executable).with_name("wpsd")), "jobs", "show", job_id],
                           capture_output=True, text=True, timeout=60, check=True,
                           env=dict(os.environ, WPSD_DATA_DIR=str(settings.data_dir)))
    trace = shown.stdout.split("\nTraceback (for the operator: clients never see it)\n")[1]
    assert "  Traceback (most recent call last):" in trace
    assert trace.rstrip().endswith("ValueError: the process broke on purpose")


def test_outputs_by_reference_and_lineage(wps, client):
    _, location = submit(wps, "say_hello&DataInputs=name=Async&lineage=true"
                              "&ResponseDocument=response@asReference=true" + ASYNC)
    final = poll(wps, location)[-1]
    href = final.find("wps:ProcessOutputs/wps:Output/wps:Reference", NS).get("href")
    with client.get(href) as served:
        assert served.data == b"Hello Async"
    assert final.xpath("wps:DataInputs/wps:Input/ows:Identifier/text()", namespaces=NS) == [
        "name"]


def test_input_errors_are_reported_before_a_job_exists(wps, app):
    code, locator, _ = wps.error(EXEC + "multi&DataInputs=n=1;n=x" + ASYNC)
    assert (code, locator) == ("InvalidParameterValue", "n")
    assert app.extensions["wpsd"].store.list_jobs() == []


def test_reference_errors_fail_the_job(wps, file_server):
    base, _ = file_server
    _, location = submit(wps, "xml_echo&DataInputs=doc=@xlink:href=" + base + "missing.xml"
                         + ASYNC)
    exc = poll(wps, location)[-1].find(".//ows:Exception", NS)
    assert (exc.get("exceptionCode"), exc.get("locator")) == ("InvalidParameterValue", "doc")


def test_unknown_job(wps):
    response = wps.client.get("/wps/jobs/no-such-job")
    assert response.status_code == 404 and b"ExceptionReport" in response.data


def test_a_crashing_process_fails_its_job_only(wps):
    _, location = submit(wps, "crash" + ASYNC)
    text = poll(wps, location)[-1].findtext(".//ows:ExceptionText", namespaces=NS)
    assert "killed by signal 11 (SIGSEGV)" in text
    assert literal(wps.get(EXEC + "say_hello&DataInputs=name=still+here").xml,
                   "response") == "Hello still here"


def test_time_limit(wps, app):
    root, location = submit(wps, "limited" + ASYNC)
    text = poll(wps, location, timeout=30)[-1].findtext(".//ows:ExceptionText", namespaces=NS)
    assert "longer than its time limit of 1 s" in text
    job = app.extensions["wpsd"].store.get(location.rsplit("/", 1)[1])
    assert job.pid is not None
    deadline = time.monotonic() + 10
    while alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(job.pid)


def wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_dismiss_ends_the_worker_and_what_it_started(wps, app, tmp_path, settings):
    pidfile = tmp_path / "pids"
    _, location = submit(wps, f"forever&DataInputs=pidfile={pidfile}" + ASYNC)
    worker, helper = (int(p) for p in wait_for(pidfile).split())
    job_id = location.rsplit("/", 1)[1]
    service = app.extensions["wpsd"]
    assert service.dismiss(job_id).status.value == "dismissed"
    deadline = time.monotonic() + 10
    while (alive(worker) or alive(helper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker) and not alive(helper)
    while any(settings.work_path.glob(f"{job_id}-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(settings.work_path.glob(f"{job_id}-*")), "the killed job's workdir remains"
    final = poll(wps, location)[-1]
    assert "dismissed" in final.findtext(".//ows:ExceptionText", namespaces=NS)
    assert not (settings.output_path / job_id).exists()
    assert service.dismiss("no-such-job") is None


def test_queue_is_bounded(make_app, tmp_path):
    app = make_app(max_parallel_jobs=1, max_queued_jobs=1)
    wps = WPS(app.test_client())
    _, running = submit(wps, f"forever&DataInputs=pidfile={tmp_path / 'p'}" + ASYNC)
    wait_for(tmp_path / "p")
    _, queued = submit(wps, "say_hello&DataInputs=name=q" + ASYNC)
    code, _, _ = wps.error(EXEC + "say_hello&DataInputs=name=r" + ASYNC, status=503)
    assert code == "ServerBusy"
    service = app.extensions["wpsd"]
    assert service.get_job(queued.rsplit("/", 1)[1]).status.value == "accepted"
    service.dismiss(running.rsplit("/", 1)[1])
    assert state(poll(wps, queued)[-1]) == "ProcessSucceeded"


def test_cleanup_removes_ended_jobs_only(make_app, tmp_path):
    app = make_app(job_retention=0)
    wps = WPS(app.test_client())
    _, done = submit(wps, "say_hello&DataInputs=name=x&ResponseDocument=response@asReference=true"
                     + ASYNC)
    poll(wps, done)
    _, running = submit(wps, f"forever&DataInputs=pidfile={tmp_path / 'p'}" + ASYNC)
    wait_for(tmp_path / "p")
    service = app.extensions["wpsd"]
    done_id, running_id = done.rsplit("/", 1)[1], running.rsplit("/", 1)[1]
    assert (service.settings.output_path / done_id).exists()
    sync = wps.get(EXEC + "say_hello&DataInputs=name=s&ResponseDocument=response@asReference=true")
    sync_folder = sync.xml.find(".//wps:Reference", NS).get("href").split("/")[-2]
    assert (service.settings.output_path / sync_folder).exists()
    abandoned = service.settings.work_path / "00000000-0000-0000-0000-000000000000-x"
    abandoned.mkdir(parents=True)
    assert sorted(service.cleanup()) == sorted([done_id, sync_folder])
    assert not abandoned.exists()
    assert any(service.settings.work_path.glob(running_id + "-*"))  # the running job's is kept
    assert not (service.settings.output_path / sync_folder).exists()
    assert service.get_job(done_id) is None
    assert not (service.settings.output_path / done_id).exists()
    assert service.get_job(running_id).status.value == "running"
    service.dismiss(running_id)


@pytest.mark.parametrize("body_status", ["true", "false"])
def test_post_execute_async(wps, body_status):
    body = f"""<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
      xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>ultimate_question</ows:Identifier>
      <wps:ResponseForm><wps:ResponseDocument storeExecuteResponse="true" status="{body_status}">
      <wps:Output><ows:Identifier>outvalue</ows:Identifier></wps:Output></wps:ResponseDocument>
      </wps:ResponseForm></wps:Execute>"""
    root = wps.post(body).xml
    final = poll(wps, root.get("statusLocation"))[-1]
    assert literal(final, "outvalue") == "42"
