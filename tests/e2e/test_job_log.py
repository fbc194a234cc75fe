"""A job's log: what its handler wrote through context.logger, kept with the job (bounded,
without tracebacks) and served as the job's rel="log" link and by `wpsd jobs log`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from wpsd.worker.jobprocess import MAX_JOB_LOG, JobLog

WPSD = str(Path(sys.executable).with_name("wpsd"))


def test_a_jobs_log_is_linked_served_and_printed(demo_server):
    base = demo_server.url.removesuffix("/wps")
    answer = requests.post(f"{base}/processes/sleep/execution", json={"inputs": {"delay": 0.3}},
                           headers={"Prefer": "respond-async"}, timeout=10)
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while (status := requests.get(f"{base}/jobs/{job_id}", timeout=10).json())["status"] \
            != "successful":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    (log_link,) = [link for link in status["links"] if link["rel"] == "log"]
    served = requests.get(log_link["href"], timeout=10)
    assert served.headers["Content-Type"].startswith("text/plain")
    for percent in (0, 50, 90):
        assert f"progress {percent}%" in served.text
    printed = subprocess.run([WPSD, "jobs", "log", job_id], capture_output=True, text=True,
                             timeout=60, env=dict(os.environ,
                                                  WPSD_DATA_DIR=str(demo_server.workdir.parent)),
                             check=True)
    assert printed.stdout == served.text
    assert requests.get(f"{base}/jobs/no-such-job/log", timeout=10).status_code == 404


class _Store:
    def __init__(self) -> None:
        self.text = ""

    def append_log(self, job_id: str, text: str) -> None:
        self.text += text


def test_the_log_is_bounded_and_keeps_no_traceback():
    store = _Store()
    handler = JobLog(store, "job-1")  # type: ignore[arg-type]
    logger = logging.getLogger("wpsd.test-job-log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log = logging.LoggerAdapter(logger, {"job_id": "job-1"})
        try:
            raise ValueError("inner detail")
        except ValueError:
            log.exception("the handler failed")
        logger.info("a line of another job", extra={"job_id": "job-2"})
        for i in range(10_000):
            log.info("line %d of a chatty handler", i)
        handler.flush()
    finally:
        logger.removeHandler(handler)
    assert "the handler failed" in store.text and "Traceback" not in store.text
    assert "inner detail" not in store.text and "another job" not in store.text
    assert len(store.text) <= MAX_JOB_LOG
    assert store.text.endswith("... (the rest of the log is not kept)\n")


def test_the_server_log_names_the_job_of_a_handlers_lines(capsys):
    from wpsd import logs

    logs.configure_logging()
    logger = logging.getLogger("wpsd.test-job-lines")
    token = logs.request_id.set(None)  # no request is being served
    try:
        handler_log = logging.LoggerAdapter(logger, {"job_id": "job-7"})
        handler_log.warning("tile %d is empty", 4)
        handler_log.info("job %s: ended", "job-7")  # the server's own lines name it already
    finally:
        logs.request_id.reset(token)
        logging.basicConfig(force=True)
    first, second = capsys.readouterr().err.splitlines()
    assert first.endswith("WARNING:wpsd.test-job-lines:tile 4 is empty [job=job-7]")
    assert second.endswith("INFO:wpsd.test-job-lines:job job-7: ended")


def test_json_lines_of_the_servers_job_lines_carry_the_job_id(capsys):
    import json

    from wpsd import logs

    logs.configure_logging("json")
    token = logs.request_id.set(None)
    try:
        logging.getLogger("wpsd.test-job-lines").info("job %s: %s submitted", "job-8", "sleep")
    finally:
        logs.request_id.reset(token)
        logging.basicConfig(force=True)
    line = json.loads(capsys.readouterr().err)
    assert line["job_id"] == "job-8" and line["message"] == "job job-8: sleep submitted"


def test_a_log_of_exactly_the_tail_size_keeps_its_first_line(make_app):
    from wpsd.core.job import Job, JobError, JobStatus
    from wpsd.core.service import LOG_TAIL_CHARS
    from wpsd.protocol.requests import Execute

    service = make_app(embedded_worker=False).extensions["wpsd"]
    job = Job("job-of-2048", "fail", Execute(identifier="fail", version="1.0.0"),
              "http://h/wps", "http://h/wps/outputs/", "en-US")
    service.store.create(job)
    first = "first line\n"
    service.store.append_log(job.id, first + "x" * (LOG_TAIL_CHARS - len(first) - 1) + "\n")
    service.store.finish(job.id, JobStatus.FAILED, error=JobError("NoApplicableCode", "no"))
    shown = service.job_result(service.get_job(job.id, with_log=True)).log
    assert shown.startswith("first line\n")
    assert service.job_result(service.get_job(job.id)).log == shown  # read apart: the same
    service.store.append_log(job.id, "one more\n")  # now the first line is cut
    shown = service.job_result(service.get_job(job.id, with_log=True)).log
    assert not shown.startswith("first line") and shown.endswith("one more")


def test_last_lines_of_a_log():
    from wpsd.core.service import last_lines

    assert last_lines("") == ""
    assert last_lines("a\nb\nc\n", count=2) == "b\nc"
    # the end of a longer log: its first line may be cut, so it is left out
    assert last_lines("end of a\nb\n", cut=True) == "b"
    assert last_lines("the end of one long line", cut=True) == "…the end of one long line"
