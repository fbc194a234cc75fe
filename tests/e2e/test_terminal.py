"""Progress bars in a terminal: `wpsd jobs watch` and `wpsd jobs list --follow`, read from a
pseudo-terminal (and from a pipe) while the demo server runs real jobs."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from helpers import free_port

WPSD = str(Path(sys.executable).with_name("wpsd"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def submit(base: str, delay: float) -> str:
    response = requests.post(f"{base}/processes/sleep/execution",
                             json={"inputs": {"delay": delay}},
                             headers={"Prefer": "respond-async"}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.headers["Location"].rsplit("/", 1)[1])


def in_terminal(command: list[str], env: dict[str, str], until: str | None = None,
                timeout: float = 30) -> tuple[str, int | None]:
    """Run a command with a pty as its terminal; what it wrote, and its exit code (None when
    it was interrupted after writing ``until``)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
                output += chunk
            if until is not None and until in ANSI.sub("", output.decode(errors="replace")):
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=10)
                return output.decode(errors="replace"), None
            if proc.poll() is not None and not ready:
                break
        else:
            raise AssertionError("the command did not end:\n" + output.decode(errors="replace"))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return output.decode(errors="replace"), proc.wait(timeout=10)


def test_watch_draws_live_progress_bars_in_a_terminal(demo_server):
    base = demo_server.url.removesuffix("/wps")
    env = dict(os.environ, WPSD_DATA_DIR=str(demo_server.workdir.parent))
    job_id = submit(base, 2.0)
    text, code = in_terminal([WPSD, "jobs", "watch", "--interval", "0.1", job_id], env)
    assert code == 0, text
    # Redrawn in place: the cursor goes back up over the bar it drew before.
    assert "\x1b[1F" in text
    frames = [ANSI.sub("", frame) for frame in text.split("\x1b[1F")]
    percents = [int(m.group(1)) for frame in frames
                for m in [re.search(r"\]\s+(\d+)%", frame)] if m]
    assert percents == sorted(percents) and 0 < len(set(percents)) and percents[-1] == 100
    assert any(0 < p < 100 for p in percents), percents  # seen while it ran
    assert re.search(r"\[#{30}\] 100%\s+successful", frames[-1])
    assert job_id[:8] in frames[-1] and "sleep" in frames[-1]


def test_watch_over_http_writes_a_line_per_change_into_a_pipe(demo_server):
    base = demo_server.url.removesuffix("/wps")
    job_id = submit(base, 1.0)
    done = subprocess.run([WPSD, "jobs", "watch", "--url", base, "--interval", "0.1", job_id],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "\x1b" not in done.stdout  # no terminal codes into a pipe
    assert len(lines) == len(set(lines)) >= 2  # only changes are written
    assert lines[-1].startswith(job_id[:8]) and "successful" in lines[-1]


def test_a_failed_watch_exits_non_zero(demo_server):
    base = demo_server.url.removesuffix("/wps")
    job_id = submit(base, 30.0)
    requests.delete(f"{base}/jobs/{job_id}", timeout=10)
    done = subprocess.run([WPSD, "jobs", "watch", "--url", base, job_id], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and "dismissed" in done.stdout


def test_list_follow_shows_running_jobs_until_interrupted(demo_server):
    base = demo_server.url.removesuffix("/wps")
    env = dict(os.environ, WPSD_DATA_DIR=str(demo_server.workdir.parent))
    job_id = submit(base, 3.0)
    text, code = in_terminal([WPSD, "jobs", "list", "--follow"], env, until=job_id[:8])
    assert code is None and "sleep" in ANSI.sub("", text)
    requests.delete(f"{base}/jobs/{job_id}", timeout=10)


def wait_until_ended(base: str, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while requests.get(f"{base}/jobs/{job_id}", timeout=10).json()["status"] in (
            "accepted", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_show_prints_inputs_outputs_timing_and_log(demo_server):
    base = demo_server.url.removesuffix("/wps")
    env = dict(os.environ, WPSD_DATA_DIR=str(demo_server.workdir.parent))
    slept = submit(base, 0.3)
    answer = requests.post(
        f"{base}/processes/expand_bbox/execution",
        json={"inputs": {"bbox": {"bbox": [1, 2, 3, 4],
                                  "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
                         "margin": 0.5}},
        headers={"Prefer": "respond-async"}, timeout=10)
    expanded = answer.headers["Location"].rsplit("/", 1)[1]
    for job_id in (slept, expanded):
        wait_until_ended(base, job_id)

    def show(*args: str) -> str:
        done = subprocess.run([WPSD, "jobs", "show", *args], capture_output=True, text=True,
                              timeout=60, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    text = show(slept)
    assert re.search(rf"^Id +{slept}$", text, re.M)
    assert re.search(r"^Status +successful \(100%\)$", text, re.M)
    assert re.search(r"^Started +\S+ \S+ \(queued \d+\.\d\d s\)$", text, re.M)
    assert re.search(r"^Finished +\S+ \S+ \(ran 0\.[3-9]\d s\)$", text, re.M) \
        or re.search(r"^Finished +\S+ \S+ \(ran [1-9]\d*\.\d\d s\)$", text, re.M)
    assert "Inputs\n  delay = 0.3\nOutputs\n  sleep_output = done sleeping\nLog\n" in text
    log_lines = text.split("\nLog\n", 1)[1].splitlines()
    assert any(line.endswith("progress 90% slept 0.3 s") for line in log_lines)
    assert all(line.startswith("  ") for line in log_lines)

    text = show(expanded)
    epsg4326 = "(http://www.opengis.net/def/crs/EPSG/0/4326)"
    assert f"Inputs\n  bbox = bbox 1 2 3 4 {epsg4326}\n  margin = 0.5\n" in text
    assert f"Outputs\n  bbox = bbox 0.5 1.5 3.5 4.5 {epsg4326}\n" in text
    record = json.loads(show("--json", expanded))
    assert record["process"] == "expand_bbox" and record["status"] == "successful (100%)"
    assert [name for name, _ in record["inputs"]] == ["bbox", "margin"]
    assert record["inputs"][1] == ["margin", "0.5"]

    done = subprocess.run([WPSD, "jobs", "show", "no-such-job"], capture_output=True,
                          text=True, timeout=60, env=env, check=False)
    assert done.returncode == 1 and "no job no-such-job" in done.stderr


def screen_of(output: str, columns: int = 200, rows: int = 30) -> list[str]:
    """The lines a terminal shows after it was sent ``output`` (pyte emulates one)."""
    import pyte

    screen = pyte.Screen(columns, rows)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [row.rstrip() for row in screen.display if row.strip()]


def test_follow_over_http_redraws_a_shrinking_list_without_stale_lines(demo_server):
    base = demo_server.url.removesuffix("/wps")
    short, long = submit(base, 0.5), submit(base, 4.0)
    try:
        # Until the long job is 60% through: the short one ended seconds before.
        text, code = in_terminal([WPSD, "jobs", "watch", "--url", base, "--interval", "0.1"],
                                 dict(os.environ), until="slept 2.4 s")
    finally:
        requests.delete(f"{base}/jobs/{long}", timeout=10)
    assert code is None
    shown = screen_of(text)
    assert any(short[:8] in frame for frame in text.split("\x1b[J")), "the short job was seen"
    assert len(shown) == 1 and shown[0].startswith(long[:8]) and "running" in shown[0], shown


def test_watch_over_http_says_what_went_wrong_without_a_traceback(demo_server):
    base = demo_server.url.removesuffix("/wps")
    for url, said in ((base, f"{base}/jobs/no-such-job: HTTP 404, "),
                      (f"http://127.0.0.1:{free_port()}", "Connection refused")):
        done = subprocess.run([WPSD, "jobs", "watch", "--url", url, "no-such-job"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("Error: ") and said in done.stderr, done.stderr


def test_list_over_http_and_follow_over_http(demo_server):
    base = demo_server.url.removesuffix("/wps")
    done_id = submit(base, 0.1)
    wait_until_ended(base, done_id)
    listed = subprocess.run([WPSD, "jobs", "list", "--url", base, "--status", "successful",
                             "--process", "sleep", "--limit", "500"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    header, *rows = listed.splitlines()
    assert header.split()[:4] == ["id", "process", "status", "%"]
    mine = [row for row in rows if row.startswith(done_id)]
    assert len(mine) == 1 and mine[0].split()[1:4] == ["sleep", "successful", "100"]
    assert all(row.split()[2] == "successful" for row in rows)
    running = submit(base, 3.0)
    try:
        text, code = in_terminal([WPSD, "jobs", "list", "--follow", "--url", base],
                                 dict(os.environ), until=running[:8])
    finally:
        requests.delete(f"{base}/jobs/{running}", timeout=10)
    assert code is None and "sleep" in ANSI.sub("", text)
    refused = subprocess.run([WPSD, "jobs", "list", "--url", base, "--owner", "x"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "--owner reads the local store" in refused.stderr
