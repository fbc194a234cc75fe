"""wpsd and PyWPS 4.8.1 as real servers, side by side: async jobs, sync Execute, latency, memory.

    python benchmarks/bench_servers.py [--pywps-venv .venv-pywps] [--json FILE] [--help]

Each server runs under ``gunicorn -w 2`` (sync workers) on its own loopback port, serving the same
two processes (``say_hello``, and ``sleep`` which reports a progress as its first act and then
really sleeps): ``servers/wpsd_processes.py`` and ``servers/pywps_processes.py``. Both servers
are up at once and take turns row by row (the one that goes first alternates), so that background
load on the machine falls on both alike. They are driven over HTTP only (WPS 1.0.0 KVP GET) by
client threads in this process. wpsd is configured by a generated TOML file (``WPSD_CONFIG``) and
served as ``wpsd.wsgi:application``; nothing of wpsd is imported here, so the benchmark survives
a rework of its internals, and measures the wpsd of whichever interpreter runs it.

PyWPS runs from a virtual environment of its own (``--pywps-venv``, created with ``pip install
pywps==4.8.1 gunicorn`` when missing) so that its pins never touch wpsd's. Its pywps.cfg and
WSGI module are generated in a temporary folder. PyWPS writes status documents as files into
``outputpath`` and points ``statusLocation`` at ``outputurl``; a deployment puts a static file
server there. Here the same gunicorn app serves that folder (Werkzeug's SharedDataMiddleware in
front of ``pywps.Service``), so PyWPS's status polls cost its gunicorn workers about what wpsd's
status polls cost wpsd's (which builds them from its job store), over the same HTTP path.

Both servers get the same limits: 20 async jobs at once (wpsd ``max_parallel_jobs``, PyWPS
``parallelprocesses``), 1000 waiting (``max_queued_jobs`` / ``maxprocesses``), job stores in
SQLite files. Memory is the sum of PSS (``/proc/PID/smaps_rollup``) over every process of a
server - the gunicorn tree, its job processes and, for wpsd, any companion command - sampled every
100 ms; processes are found by parentage and by a marker variable in their environment, so
processes that started sessions of their own are counted (and stopped at the end) too.
The client shares the machine's cores with the server: its CPU use is reported per row.

Two latencies are reported for a job's start, since the servers mark it at different moments:
when the status document first says ProcessStarted (wpsd: when its dispatcher claims the job;
PyWPS: in the forked job process, just before the handler), and when it first shows the
handler's own first progress report (both: the handler runs).

Prints one table (PyWPS, wpsd, the ratio - above 1 wpsd is better, whichever way the row
counts - and whether wpsd meets the team's target), the run parameters, and with ``--json``
every figure. ``--wpsd-companion CMD`` runs a command beside wpsd's gunicorn (as a future
``wpsd worker``), ``--wpsd-setting KEY=VALUE`` adds a wpsd setting, ``--only`` and ``--rows``
run a part.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import http.client
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SERVERS_DIR = Path(__file__).resolve().parent / "servers"
PYWPS_VERSION = "4.8.1"
GUNICORN_WORKERS = 2
#: a variable with a value unique to each server: every process of that server inherits it
MARKER_VARIABLE = "WPSD_BENCH_SERVER_TAG"
#: the progress message both sleep processes report first (see servers/*_processes.py)
STARTED_MESSAGE = b"handler started"

#: Commands started beside wpsd's gunicorn with the same environment, each in a session of its
#: own; their processes count in wpsd's memory and are stopped with it. Placeholders:
#: ``{python}`` (this interpreter, i.e. wpsd's venv) and ``{config}`` (the generated TOML file).
#: The README's deployment: gunicorn serves, ``wpsd worker`` executes (embedded_worker off).
WPSD_COMPANIONS: list[str] = ["{python} -m wpsd.cli worker"]

WPS = "service=WPS&version=1.0.0"
GET_CAPABILITIES = "service=WPS&request=GetCapabilities"
DESCRIBE_PROCESS = f"{WPS}&request=DescribeProcess&identifier=say_hello"
EXECUTE_HELLO = f"{WPS}&request=Execute&identifier=say_hello&DataInputs=name=Bench"
ASYNC = "&storeExecuteResponse=true&status=true"


def execute_sleep(seconds: float) -> str:
    return f"{WPS}&request=Execute&identifier=sleep&DataInputs=seconds={seconds:g}{ASYNC}"


# ------------------------------------------------------------------ processes and memory

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process; None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):  # ended, not yet reaped by its parent: no memory, no work
        return None
    return int(fields[1]), int(fields[19])


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[tuple[int, int], float]:
    """User and system CPU seconds of every live process, by (pid, start time)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in (b"Z", b"X"):
            found[(int(entry.name), int(fields[19]))] = (int(fields[11]) + int(fields[12])
                                                         ) / CLOCK_TICKS
    return found


class OthersMeter:
    """CPU used by processes that are neither the servers' nor this client's, during a row.

    Counts processes alive at the end (their whole time if they started during the row), so it
    misses short-lived ones: a lower bound of what other users of the machine took.
    """

    def __init__(self, trees: Sequence[ProcessTree]) -> None:
        self.trees = trees
        self.ours = {os.getpid()}.union(*(tree.pids() for tree in trees))
        self.before = cpu_times()
        self.wall = time.perf_counter()

    def cores(self) -> float:
        ours = self.ours.union(*(tree.pids() for tree in self.trees))
        after = cpu_times()
        wall = time.perf_counter() - self.wall
        used = sum(cpu - self.before.get(key, 0.0) for key, cpu in after.items()
                   if key[0] not in ours)
        return round(used / wall, 2)


class ProcessTree:
    """Every process of one server: descendants of its roots, and whatever carries its marker."""

    def __init__(self, marker: str) -> None:
        self.roots: list[tuple[int, int]] = []  # (pid, start time): a reused pid is no root
        self._needle = f"{MARKER_VARIABLE}={marker}".encode()
        self._tagged: dict[tuple[int, int], bool] = {}  # (pid, start time): has the marker

    def _has_marker(self, pid: int, started: int) -> bool:
        key = (pid, started)
        if key not in self._tagged:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    self._tagged[key] = self._needle in f.read().split(b"\0")
            except OSError:
                return False
        return self._tagged[key]

    def pids(self) -> set[int]:
        table: dict[int, tuple[int, int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    table[int(entry.name)] = stat
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found: set[int] = set()
        todo = [pid for pid, started in self.roots if table.get(pid, (0, -1))[1] == started]
        while todo:
            pid = todo.pop()
            if pid not in found:
                found.add(pid)
                todo.extend(children.get(pid, ()))
        for pid, (_, started) in table.items():
            if pid not in found and pid != os.getpid() and self._has_marker(pid, started):
                found.add(pid)
        return found

    def pss_mib(self) -> tuple[float, int]:
        pids = self.pids()
        return sum(_pss_kib(pid) for pid in pids) / 1024, len(pids)


class MemorySampler(threading.Thread):
    """Sums the PSS of a server's processes every ``interval`` seconds; keeps the peak per phase."""

    def __init__(self, tree: ProcessTree, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="pss-sampler")
        self.tree, self.interval = tree, interval
        self.phase = "start"
        self.peaks: dict[str, tuple[float, int]] = {}  # phase: (MiB, processes then)
        self.samples = 0
        self.cpu_s = 0.0  # this thread's own CPU time: reading smaps_rollup is not free
        self.wall_s = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        wall = time.perf_counter()
        while not self._stop_event.is_set():
            mib, count = self.tree.pss_mib()
            self.samples += 1
            self.cpu_s = time.thread_time()
            self.wall_s = time.perf_counter() - wall
            phase = self.phase
            if mib > self.peaks.get(phase, (0.0, 0))[0]:
                self.peaks[phase] = (mib, count)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)

    def peak(self, exclude: Sequence[str] = ("start",)) -> tuple[float, int]:
        values = [v for phase, v in self.peaks.items() if phase not in exclude]
        return max(values, default=(0.0, 0))


# ------------------------------------------------------------------ servers

class Server:
    """A server under test: its commands (a process group each) and all their processes."""

    def __init__(self, name: str, label: str, port: int, tmp: Path, interval: float) -> None:
        self.name, self.label, self.port, self.tmp = name, label, port, tmp
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/wps"
        self.marker = uuid.uuid4().hex
        self.tree = ProcessTree(self.marker)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.sampler = MemorySampler(self.tree, interval)

    def start(self, command: Sequence[str], env: dict[str, str], log_name: str) -> None:
        env = dict(env, PYTHONUNBUFFERED="1", **{MARKER_VARIABLE: self.marker})
        log = self.tmp / log_name
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(list(command), cwd=self.tmp, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs.append(proc)
        stat = _stat(proc.pid)
        if stat is not None:
            self.tree.roots.append((proc.pid, stat[1]))

    def wait_ready(self, timeout: float = 60.0) -> float:
        started = time.perf_counter()
        deadline = started + timeout
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: {proc.args} exited with {proc.returncode}:"
                                       f"\n{self.log_tail()}")
            try:
                code, body = get(f"{self.url}?{GET_CAPABILITIES}", timeout=5)
                if code == 200 and b"Capabilities" in body:
                    break
            except CLIENT_ERRORS:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} did not answer in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)
        self.sampler.start()
        return time.perf_counter() - started

    def log_tail(self, lines: int = 30) -> str:
        text = []
        for log in self.logs:
            if log.exists():
                text.append(f"--- {log.name}\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(text)

    def settle(self, processes: int, timeout: float = 10.0) -> float:
        """Wait until the server has no more processes than ``processes`` (its jobs have ended)."""
        started = time.perf_counter()
        while len(self.tree.pids()) > processes and time.perf_counter() - started < timeout:
            time.sleep(0.05)
        return time.perf_counter() - started

    def stop(self) -> list[int]:
        """End every process of the server; return the pids that would not end (none, normally)."""
        if self.sampler.is_alive():
            self.sampler.stop()
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Job processes in sessions of their own can outlive gunicorn: end them by pid (each
        # carries this server's marker, so nothing else is touched).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.tree.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + 3
            while self.tree.pids() and time.monotonic() < end:
                time.sleep(0.05)
        return sorted(self.tree.pids())


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn_args(port: int) -> list[str]:
    """The same gunicorn command line for both servers."""
    return ["-m", "gunicorn", "--workers", str(GUNICORN_WORKERS), "--bind", f"127.0.0.1:{port}",
            "--timeout", "120", "--graceful-timeout", "3", "--log-level", "warning"]


def clean_environ() -> dict[str, str]:
    """This environment without settings of either server, so that only the generated ones count."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("WPSD_", "PYWPS_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def launch_wpsd(tmp: Path, args: argparse.Namespace) -> Server:
    port = free_port()
    config = tmp / "wpsd.toml"
    settings = {
        "processes": [str(SERVERS_DIR / "wpsd_processes.py")],
        "workdir": str(tmp / "work"),
        "output_dir": str(tmp / "outputs"),
        "database_url": f"sqlite:///{tmp / 'jobs.sqlite'}",
        "max_parallel_jobs": args.parallel_jobs,
        "max_queued_jobs": args.queued_jobs,
        "embedded_worker": not args.wpsd_companions,
    }
    for item in args.wpsd_settings:  # --wpsd-setting KEY=VALUE, VALUE as JSON or else a string
        key, _, value = item.partition("=")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    # JSON scalars and arrays of strings are valid TOML values.
    config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    env = dict(clean_environ(), WPSD_CONFIG=str(config))
    version = importlib.metadata.version("wpsd")
    server = Server("wpsd", f"wpsd {version}", port, tmp, args.pss_interval)
    server.start([sys.executable, *gunicorn_args(port), "wpsd.wsgi:application"], env,
                 "gunicorn.log")
    for i, command in enumerate(args.wpsd_companions):
        server.start([part.replace("{python}", sys.executable).replace("{config}", str(config))
                      for part in shlex.split(command)], env, f"companion-{i}.log")
    return server


PYWPS_WSGI = """\
# Generated by benchmarks/bench_servers.py: PyWPS's Service, and its outputpath served at
# /outputs/ (where outputurl, hence statusLocation, points) as a static file server would.
import sys

sys.path.insert(0, {servers!r})

from pywps import Service
from werkzeug.middleware.shared_data import SharedDataMiddleware

from pywps_processes import processes

application = SharedDataMiddleware(Service(processes, [{config!r}]),
                                   {{"/outputs": {outputs!r}}}, cache=False)
"""


def launch_pywps(tmp: Path, args: argparse.Namespace, venv: Path) -> Server:
    port = free_port()
    outputs, work = tmp / "outputs", tmp / "work"
    outputs.mkdir()
    work.mkdir()
    config = tmp / "pywps.cfg"
    config.write_text(
        "[server]\n"
        f"url = http://127.0.0.1:{port}/wps\n"
        f"outputurl = http://127.0.0.1:{port}/outputs/\n"
        f"outputpath = {outputs}\n"
        f"workdir = {work}\n"
        f"parallelprocesses = {args.parallel_jobs}\n"
        f"maxprocesses = {args.queued_jobs}\n"
        "[processing]\n"
        "mode = default\n"
        "[logging]\n"
        "level = WARNING\n"
        f"database = sqlite:///{tmp / 'pywps-log.sqlite'}\n"
    )
    (tmp / "pywps_wsgi.py").write_text(PYWPS_WSGI.format(
        servers=str(SERVERS_DIR), config=str(config), outputs=str(outputs)))
    server = Server("pywps", f"PyWPS {PYWPS_VERSION}", port, tmp, args.pss_interval)
    server.start([str(venv / "bin" / "python"), *gunicorn_args(port), "pywps_wsgi:application"],
                 clean_environ(), "gunicorn.log")
    return server


def ensure_pywps_venv(venv: Path) -> None:
    """Create PyWPS's own virtual environment unless it already has pywps==4.8.1 and gunicorn."""
    python = venv / "bin" / "python"

    def installed() -> bool:
        probe = subprocess.run(
            [str(python), "-c", "import gunicorn, pywps; print(pywps.__version__)"],
            capture_output=True, text=True)
        return probe.returncode == 0 and probe.stdout.strip() == PYWPS_VERSION

    if python.exists() and installed():
        return
    if not python.exists():
        base = shutil.which("python3") or getattr(sys, "_base_executable", sys.executable)
        log(f"creating {venv} for PyWPS {PYWPS_VERSION}")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    log(f"installing pywps=={PYWPS_VERSION} and gunicorn into {venv}")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"pywps=={PYWPS_VERSION}", "gunicorn"], check=True)
    if not installed():
        raise SystemExit(f"{venv}: pywps {PYWPS_VERSION} with gunicorn did not install")


# ------------------------------------------------------------------ the client

STATUS = re.compile(rb"<(?:[\w.-]+:)?Process(Accepted|Started|Paused|Succeeded|Failed)\b")
STATUS_LOCATION = re.compile(rb'statusLocation="([^"]+)"')


CLIENT_ERRORS = (OSError, http.client.HTTPException)


def get(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """GET with the standard library's HTTP client: (status, body).

    A new connection per request, as gunicorn's sync workers close each one anyway. The client
    shares the cores with the server, and http.client costs it about a third of the CPU time
    per request that requests does (measured here: 0.75 ms against 2.6 ms).
    """
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                            timeout=timeout)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def status_of(body: bytes) -> str | None:
    """Accepted, Started, Paused, Succeeded or Failed; None for an unreadable (torn) document."""
    found = STATUS.search(body)
    if found:
        return found.group(1).decode()
    return "Failed" if b"ExceptionReport" in body else None


EXCEPTION_TEXT = re.compile(rb"<(?:[\w.-]+:)?ExceptionText>(.*?)</", re.S)


def failure_text(body: bytes) -> str:
    found = EXCEPTION_TEXT.search(body)
    return html.unescape(found.group(1).decode(errors="replace")) if found else body[:300].decode(
        errors="replace")


@dataclasses.dataclass
class Job:
    location: str
    submitted: float  # perf_counter() before the request was sent
    status: str
    done: float | None = None
    failure: str | None = None  # the exception text of a failed job's status document


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.torn = 0  # status documents that could not be read (empty, partial, HTTP error)
        self.refused = 0

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def submit(server: Server, query: str, counters: Counters) -> Job | None:
    started = time.perf_counter()
    try:
        code, body = get(f"{server.url}?{query}")
    except CLIENT_ERRORS:
        counters.add("refused")
        return None
    location = STATUS_LOCATION.search(body)
    status = status_of(body)
    if code != 200 or location is None or status in (None, "Failed"):
        counters.add("refused")
        return None
    return Job(html.unescape(location.group(1).decode()), started, status)


def poll(job: Job, counters: Counters) -> tuple[str | None, bytes]:
    try:
        code, body = get(job.location, timeout=30)
        if code != 200:
            body = b""
    except CLIENT_ERRORS:
        body = b""
    status = status_of(body)
    if status is None:
        counters.add("torn")
    return status, body


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@contextmanager
def client_cpu(figures: dict[str, Any]) -> Iterator[None]:
    """Record the wall time and this client's CPU use (in cores) of a measurement."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    wall = time.perf_counter() - wall
    figures["wall_s"] = round(wall, 3)
    figures["client_cpu_cores"] = round((time.process_time() - cpu) / wall, 2) if wall else 0.0


def wait_all(jobs: list[Job], pool: ThreadPoolExecutor, window: int, counters: Counters,
             timeout: float, pause: float = 0.05) -> None:
    """Poll every job's status document until it has ended, in submission order.

    While the oldest unfinished job runs, only it is polled (every ``pause`` s), so that the
    polling itself hardly loads the server; once it has ended, the next ``window`` unfinished
    ones are polled at once, and again while any of those turns out to have ended.
    """
    pending = [j for j in jobs if j.status not in ("Succeeded", "Failed")]
    for job in jobs:
        if job.status in ("Succeeded", "Failed"):
            job.done = job.submitted
    deadline = time.perf_counter() + timeout
    catching_up = False
    while pending and time.perf_counter() < deadline:
        batch = pending[:window] if catching_up else pending[:1]
        results = list(pool.map(lambda j: poll(j, counters), batch))
        now = time.perf_counter()
        catching_up = False
        for job, (status, body) in zip(batch, results, strict=True):
            if status in ("Succeeded", "Failed"):
                job.status, job.done, catching_up = status, now, True
                pending.remove(job)
                if status == "Failed":
                    job.failure = failure_text(body)
        if not catching_up:
            time.sleep(pause)


def async_burst(server: Server, jobs: int, inflight: int, timeout: float) -> dict[str, Any]:
    """``jobs`` async say_hello jobs, ``inflight`` submits at once, then polled to their end."""
    counters = Counters()
    figures: dict[str, Any] = {}
    with client_cpu(figures), ThreadPoolExecutor(inflight) as pool:
        start = time.perf_counter()
        submitted = list(pool.map(lambda _: submit(server, EXECUTE_HELLO + ASYNC, counters),
                                  range(jobs)))
        accepted = [j for j in submitted if j is not None]
        figures["submit_s"] = round(time.perf_counter() - start, 3)
        wait_all(accepted, pool, inflight, counters, timeout)
    succeeded = [j for j in accepted if j.status == "Succeeded"]
    last = max((j.done for j in accepted if j.done is not None), default=start)
    figures.update(jobs=jobs, accepted=len(accepted), succeeded=len(succeeded),
                   failed=sum(j.status == "Failed" for j in accepted),
                   unfinished=sum(j.done is None for j in accepted),
                   total_s=round(last - start, 3), torn_status_reads=counters.torn,
                   failures=sorted({j.failure or "" for j in accepted if j.status == "Failed"}))
    figures["jobs_per_s"] = round(len(succeeded) / (last - start), 2) if last > start else 0.0
    return figures


def sleep_burst(server: Server, jobs: int, seconds: float, timeout: float) -> dict[str, Any]:
    """``jobs`` async sleep jobs submitted at once: seconds until every one has succeeded."""
    counters = Counters()
    figures: dict[str, Any] = {}
    with client_cpu(figures), ThreadPoolExecutor(jobs) as pool:
        start = time.perf_counter()
        submitted = list(pool.map(lambda _: submit(server, execute_sleep(seconds), counters),
                                  range(jobs)))
        accepted = [j for j in submitted if j is not None]
        wait_all(accepted, pool, jobs, counters, timeout, pause=0.02)
    done = [j.done for j in accepted if j.done is not None]
    succeeded = sum(j.status == "Succeeded" for j in accepted)
    figures.update(jobs=jobs, seconds=seconds, accepted=len(accepted), succeeded=succeeded,
                   torn_status_reads=counters.torn,
                   failures=sorted({j.failure or "" for j in accepted if j.status == "Failed"}))
    figures["total_s"] = (round(max(done) - start, 3) if succeeded == jobs and done else math.nan)
    return figures


def load(server: Server, query: str, expect: Sequence[bytes], concurrency: int, duration: float,
         limit: int) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` clients, until ``duration`` s or ``limit`` requests."""
    url = f"{server.url}?{query}"
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    figures: dict[str, Any] = {}
    with client_cpu(figures):
        start = time.perf_counter()
        stop_at = start + duration
        last = [start]

        def client() -> None:
            while next(counter) < limit and time.perf_counter() < stop_at:
                began = time.perf_counter()
                try:
                    code, body = get(url)
                    problem = None if code == 200 and all(e in body for e in expect) else (
                        f"{code}: {body[:200]!r}")
                except CLIENT_ERRORS as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                ended = time.perf_counter()
                with lock:
                    last[0] = max(last[0], ended)
                    if problem is None:
                        latencies.append(ended - began)
                    else:
                        errors.append(problem)

        threads = [threading.Thread(target=client) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = last[0] - start
    figures.update(requests=len(latencies) + len(errors), ok=len(latencies), errors=len(errors),
                   first_error=errors[0] if errors else None,
                   req_per_s=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
                   p50_ms=round(percentile(latencies, 0.5) * 1000, 2),
                   p99_ms=round(percentile(latencies, 0.99) * 1000, 2))
    return figures


def start_latency(server: Server, jobs: int, seconds: float, interval: float, budget: float
                  ) -> dict[str, Any]:
    """Async sleep jobs one at a time: how long until the client sees each one running.

    Each job's status document is polled every ``interval`` s until it shows ProcessStarted
    and the handler's first progress message (or the end); then the next job is submitted, so
    that at most a few sleep at once and none waits in a queue. No new job after ``budget`` s.
    """
    counters = Counters()
    running: list[float] = []
    handler: list[float] = []
    figures: dict[str, Any] = {}
    submitted = 0
    with client_cpu(figures):
        stop_at = time.perf_counter() + budget
        while submitted < jobs and time.perf_counter() < stop_at:
            submitted += 1
            job = submit(server, execute_sleep(seconds), counters)
            if job is None:
                continue
            seen_running = seen_handler = None
            deadline = time.perf_counter() + 30 + seconds
            while time.perf_counter() < deadline:
                status, body = poll(job, counters)
                now = time.perf_counter()
                if seen_running is None and status in ("Started", "Succeeded"):
                    seen_running = now
                if seen_handler is None and (STARTED_MESSAGE in body or status == "Succeeded"):
                    seen_handler = now
                if status in ("Succeeded", "Failed") or seen_handler is not None:
                    break
                time.sleep(interval)
            if seen_running is not None:
                running.append(seen_running - job.submitted)
            if seen_handler is not None:
                handler.append(seen_handler - job.submitted)
        # Let the last jobs end, so that the next row starts on an idle server.
        time.sleep(seconds)
    figures.update(jobs=submitted, seen_running=len(running), seen_handler=len(handler),
                   refused=counters.refused, torn_status_reads=counters.torn,
                   running_p50_ms=round(percentile(running, 0.5) * 1000, 1),
                   running_p99_ms=round(percentile(running, 0.99) * 1000, 1),
                   handler_p50_ms=round(percentile(handler, 0.5) * 1000, 1),
                   handler_p99_ms=round(percentile(handler, 0.99) * 1000, 1))
    return figures


# ------------------------------------------------------------------ one server, every row

def warm_up(server: Server, concurrency: int) -> None:
    """Import, connect and fork whatever either server does lazily, so no row pays for it."""
    counters = Counters()
    with ThreadPoolExecutor(concurrency) as pool:
        for query in (GET_CAPABILITIES, DESCRIBE_PROCESS, EXECUTE_HELLO):
            list(pool.map(lambda _, q=query: get(f"{server.url}?{q}"), range(concurrency * 2)))
        jobs = [submit(server, q, counters) for q in (EXECUTE_HELLO + ASYNC, execute_sleep(0.1))
                for _ in range(2)]
        wait_all([j for j in jobs if j], pool, concurrency, counters, 60)


ROWS = ["async_burst", "sleep_burst", "sync_execute", "start_latency", "get_capabilities",
        "describe_process"]


def row_runner(server: Server, name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "async_burst":
        return async_burst(server, args.jobs, args.concurrency, args.timeout)
    if name == "sleep_burst":
        return sleep_burst(server, args.sleep_jobs, args.sleep_seconds, args.timeout)
    if name == "sync_execute":
        return load(server, EXECUTE_HELLO, [b"ProcessSucceeded", b"Hello Bench"],
                    args.concurrency, args.sync_seconds, args.sync_requests)
    if name == "start_latency":
        return start_latency(server, args.latency_jobs, args.latency_sleep, args.poll_interval,
                             args.latency_budget)
    if name == "get_capabilities":
        return load(server, GET_CAPABILITIES, [b"Capabilities"], args.concurrency,
                    args.read_seconds, args.read_requests)
    if name == "describe_process":
        return load(server, DESCRIBE_PROCESS, [b"ProcessDescriptions"], args.concurrency,
                    args.read_seconds, args.read_requests)
    raise ValueError(name)


def measure(servers: dict[str, Server], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every row on every server, taking turns row by row (the first server of a row alternates),
    so that both meet about the same background load of the machine."""
    results: dict[str, dict[str, Any]] = {}
    for name, server in servers.items():
        results[name] = {"label": server.label, "url": server.url,
                         "startup_s": round(server.wait_ready(), 2)}
    idle: dict[str, int] = {}
    for server in servers.values():
        server.sampler.phase = "warm-up"
        warm_up(server, args.concurrency)
    time.sleep(1.0)
    for name, server in servers.items():
        server.sampler.phase = "idle"
        idle[name] = len(server.tree.pids())
        mib, _ = server.tree.pss_mib()
        results[name]["idle"] = {"pss_mib": round(mib, 1), "processes": idle[name]}
    order = list(servers)
    for row in (r for r in ROWS if not args.rows or r in args.rows):
        for name in order:
            server = servers[name]
            server.sampler.phase = row
            log(f"{server.label}: {row}")
            others = OthersMeter([s.tree for s in servers.values()])
            figures = row_runner(server, row, args)
            # Other users of the machine (other engineers' test runs, say) make a row noisy.
            figures["others_cpu_cores"] = others.cores()
            figures["settle_s"] = round(server.settle(idle[name]), 2)
            server.sampler.phase = "idle"
            figures["peak_pss_mib"], figures["peak_processes"] = (
                round(v, 1) for v in server.sampler.peaks.get(row, (0.0, 0)))
            results[name][row] = figures
            log(f"  {json.dumps(figures)}")
        order.reverse()
    for name, server in servers.items():
        sampler = server.sampler
        peak, processes = sampler.peak(exclude=("start", "warm-up", "idle"))
        results[name].update(
            peak_pss_mib=round(peak, 1), peak_processes=processes, pss_samples=sampler.samples,
            sampler_cpu_cores=round(sampler.cpu_s / sampler.wall_s, 3) if sampler.wall_s else 0)
    return results


def run_servers(names: Sequence[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Start the servers, measure them, and end every one of their processes, whatever happens."""
    servers: dict[str, Server] = {}
    failed = True
    try:
        for name in names:
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-servers-{name}-"))
            servers[name] = (launch_wpsd(tmp, args) if name == "wpsd"
                             else launch_pywps(tmp, args, args.pywps_venv))
        results = measure(servers, args)
        failed = False
        return results
    except KeyboardInterrupt:
        failed = False  # stopped on purpose: nothing to diagnose
        raise
    finally:
        for server in servers.values():
            left = server.stop()
            if left:
                log(f"WARNING: {server.label}: processes {left} would not end")
            if failed:
                log(f"{server.label}: files kept in {server.tmp}\n{server.log_tail()}")
            elif args.keep:
                log(f"{server.label}: files and logs kept in {server.tmp}")
            else:
                shutil.rmtree(server.tmp, ignore_errors=True)


# ------------------------------------------------------------------ the table

@dataclasses.dataclass
class Row:
    label: str
    key: Callable[[dict[str, Any]], Any]
    better: str | None  # "higher", "lower", or None (no ratio)
    fmt: str = "{:.1f}"
    target: Callable[[dict[str, Any], dict[str, Any] | None], str] | None = None


def _ratio(row: Row, peer: Any, ours: Any) -> float | None:
    if row.better is None or not isinstance(peer, int | float) or not isinstance(ours, int | float):
        return None
    if any(math.isnan(v) for v in (peer, ours)) or not peer or not ours:
        return None
    return ours / peer if row.better == "higher" else peer / ours


def _met(ok: bool, what: str) -> str:
    return f"{'met' if ok else 'MISSED'}: {what}"


def rows(args: argparse.Namespace) -> list[Row]:
    def ratio_target(key: Callable[[dict[str, Any]], Any], better: str, at_least: float
                     ) -> Callable[[dict[str, Any], dict[str, Any] | None], str]:
        def check(ours: dict[str, Any], peer: dict[str, Any] | None) -> str:
            if peer is None:
                return f"needs PyWPS (>= {at_least:g}x)"
            value = _ratio(Row("", key, better), key(peer), key(ours))
            return _met(value is not None and value >= at_least, f">= {at_least:g}x")
        return check

    n = args.jobs
    return [
        Row(f"async burst: accepted / succeeded of {n}",
            lambda r: f"{r['async_burst']['accepted']}/{r['async_burst']['succeeded']}", None,
            "{}", lambda r, _: _met(r["async_burst"]["succeeded"] == n, f"{n}/{n}")),
        Row(f"async burst: jobs/s ({args.concurrency} in flight)",
            lambda r: r["async_burst"]["jobs_per_s"], "higher", "{:.1f}",
            ratio_target(lambda r: r["async_burst"]["jobs_per_s"], "higher", 5)),
        Row(f"{args.sleep_jobs} x sleep({args.sleep_seconds:g} s) at once: s until all done",
            lambda r: r["sleep_burst"]["total_s"], "lower", "{:.2f}",
            lambda r, _: _met(r["sleep_burst"]["total_s"] <= 3, "<= 3 s")),
        Row(f"sync Execute say_hello: req/s ({args.concurrency} concurrent)",
            lambda r: r["sync_execute"]["req_per_s"], "higher", "{:.1f}",
            ratio_target(lambda r: r["sync_execute"]["req_per_s"], "higher", 15)),
        Row("sync Execute: p50 ms", lambda r: r["sync_execute"]["p50_ms"], "lower", "{:.1f}"),
        Row("sync Execute: p99 ms", lambda r: r["sync_execute"]["p99_ms"], "lower", "{:.1f}",
            lambda r, _: _met(r["sync_execute"]["p99_ms"] < 50, "< 50 ms")),
        Row("sync Execute: errors", lambda r: r["sync_execute"]["errors"], None, "{}"),
        Row("submit -> ProcessStarted seen: p50 ms",
            lambda r: r["start_latency"]["running_p50_ms"], "lower", "{:.1f}",
            lambda r, _: _met(r["start_latency"]["running_p50_ms"] < 20, "< 20 ms")),
        Row("submit -> ProcessStarted seen: p99 ms",
            lambda r: r["start_latency"]["running_p99_ms"], "lower", "{:.1f}"),
        Row("submit -> handler's 1st progress seen: p50 ms",
            lambda r: r["start_latency"]["handler_p50_ms"], "lower", "{:.1f}"),
        Row("submit -> handler's 1st progress seen: p99 ms",
            lambda r: r["start_latency"]["handler_p99_ms"], "lower", "{:.1f}"),
        Row(f"GetCapabilities: req/s ({args.concurrency} concurrent)",
            lambda r: r["get_capabilities"]["req_per_s"], "higher", "{:.1f}"),
        Row(f"DescribeProcess: req/s ({args.concurrency} concurrent)",
            lambda r: r["describe_process"]["req_per_s"], "higher", "{:.1f}"),
        Row("PSS idle after warm-up, whole tree (MiB)",
            lambda r: r["idle"]["pss_mib"], "lower", "{:.1f}"),
        Row("peak PSS during the rows, whole tree (MiB)",
            lambda r: r["peak_pss_mib"], "lower", "{:.1f}",
            lambda r, p: _met(p is not None and r["peak_pss_mib"] <= p["peak_pss_mib"],
                              "<= PyWPS")),
        Row("processes at that peak", lambda r: r["peak_processes"], None, "{}"),
    ]


def _cell(row: Row, results: dict[str, Any] | None) -> str:
    if results is None:
        return "-"
    try:
        value = row.key(results)
    except KeyError:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return row.fmt.format(value)


def table(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    peer, ours = results.get("pywps"), results.get("wpsd")
    header = ["measure", f"PyWPS {PYWPS_VERSION}", ours["label"] if ours else "wpsd",
              "ratio", "better when", "target (wpsd)"]
    lines = []
    for row in rows(args):
        ratio = None
        if peer and ours:
            try:
                ratio = _ratio(row, row.key(peer), row.key(ours))
            except KeyError:
                ratio = None
        target = ""
        if row.target and ours:
            try:
                target = row.target(ours, peer)
            except (KeyError, TypeError):
                target = "-"
        lines.append([row.label, _cell(row, peer), _cell(row, ours),
                      f"{ratio:.2f}x" if ratio is not None else "-",
                      row.better or "", target])
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = []
    for n, line in enumerate([header, *lines]):
        cells = [str(c).ljust(w) if i in (0, 4, 5) else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append(" | ".join(cells).rstrip())
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    return "\n".join(out)


def wpsd_location() -> str:
    """Where this interpreter's wpsd is, without importing it."""
    spec = importlib.util.find_spec("wpsd")
    return str(Path(spec.origin).parent) if spec and spec.origin else "?"


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "gunicorn": f"-w {GUNICORN_WORKERS} (sync workers) each, both up, taking turns row by "
                    "row (first one alternating), 127.0.0.1",
        "max_parallel_jobs / parallelprocesses": args.parallel_jobs,
        "max_queued_jobs / maxprocesses": args.queued_jobs,
        "async burst": f"{args.jobs} say_hello jobs, {args.concurrency} submits in flight, "
                       "then polled in order (the oldest unfinished every 50 ms, up to "
                       f"{args.concurrency} at once after it ends)",
        "sleep burst": f"{args.sleep_jobs} x sleep({args.sleep_seconds:g}), polled every 20 ms",
        "sync Execute": f"{args.concurrency} concurrent, {args.sync_seconds:g} s "
                        f"or {args.sync_requests} requests",
        "start latency": f"{args.latency_jobs} sleep({args.latency_sleep:g}) jobs one at a "
                         f"time (at most {args.latency_budget:g} s of them), polled every "
                         f"{args.poll_interval * 1000:g} ms",
        "read-only rows": f"{args.concurrency} concurrent, {args.read_seconds:g} s "
                          f"or {args.read_requests} requests",
        "memory": "sum of Pss over every process of the server, sampled every "
                  f"{args.pss_interval * 1000:g} ms by a thread of the client",
        "client": f"http.client (new connection per request), {args.concurrency} threads in "
                  "one process on the same machine",
        "machine before the run": f"{args.busy:.2f} cores busy, load average "
                                  + " ".join(f"{v:.2f}" for v in args.loadavg),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}, {platform.platform()}",
        "wpsd": f"{importlib.metadata.version('wpsd')} from {wpsd_location()}",
        "wpsd companions": args.wpsd_companions or "none",
        "wpsd extra settings": args.wpsd_settings or "none (wpsd's defaults otherwise)",
    }


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine kept busy over ``seconds`` (other users' work, before a run)."""
    def times() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total, idle = times()
    time.sleep(seconds)
    total2, idle2 = times()
    return (1 - (idle2 - idle) / max(1, total2 - total)) * (os.cpu_count() or 1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pywps-venv", type=Path, default=ROOT / ".venv-pywps",
                        help="PyWPS's own virtual environment (created when missing)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--only", choices=["wpsd", "pywps"], help="measure one server only")
    parser.add_argument("--rows", type=lambda v: v.split(","), default=[],
                        help=f"comma-separated subset of {','.join(ROWS)} (default: all)")
    parser.add_argument("--wpsd-companion", dest="wpsd_companions", action="append",
                        default=list(WPSD_COMPANIONS), metavar="COMMAND",
                        help="a command to run beside wpsd's gunicorn ({python}, {config} "
                             "are replaced); repeatable")
    parser.add_argument("--wpsd-setting", dest="wpsd_settings", action="append", default=[],
                        metavar="KEY=VALUE", help="one more line of wpsd's TOML settings "
                        "(VALUE as JSON, else a string); repeatable")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--parallel-jobs", type=int, default=20)
    parser.add_argument("--queued-jobs", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=200, help="async burst size")
    parser.add_argument("--sleep-jobs", type=int, default=20)
    parser.add_argument("--sleep-seconds", type=float, default=1.0)
    parser.add_argument("--sync-seconds", type=float, default=8.0)
    parser.add_argument("--sync-requests", type=int, default=2000)
    parser.add_argument("--latency-jobs", type=int, default=40)
    parser.add_argument("--latency-budget", type=float, default=30.0,
                        help="seconds after which the start-latency row submits no more jobs")
    parser.add_argument("--latency-sleep", type=float, default=0.5)
    parser.add_argument("--poll-interval", type=float, default=0.005)
    parser.add_argument("--read-seconds", type=float, default=3.0)
    parser.add_argument("--read-requests", type=int, default=1500)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds an async row waits for its jobs at most")
    parser.add_argument("--pss-interval", type=float, default=0.1,
                        help="seconds between two memory samples")
    parser.add_argument("--keep", action="store_true", help="keep the servers' files and logs")
    args = parser.parse_args(argv)
    args.pywps_venv = args.pywps_venv.resolve()

    # A signal (Ctrl-C, make interrupted, a closed terminal) unwinds so the servers stop.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    names = [args.only] if args.only else ["pywps", "wpsd"]
    if "pywps" in names:
        ensure_pywps_venv(args.pywps_venv)
    args.loadavg = os.getloadavg()
    args.busy = busy_cores()
    if args.busy > 0.25:
        log(f"WARNING: the machine is busy ({args.busy:.2f} cores in use before the run): "
            "the figures will be noisy")
    started = time.perf_counter()
    results = run_servers(names, args)
    elapsed = time.perf_counter() - started

    print(f"\nwpsd vs PyWPS {PYWPS_VERSION} as servers (measured in {elapsed:.0f} s)")
    for key, value in parameters(args).items():
        print(f"  {key}: {value}")
    print()
    print(table(args, results))
    print("\nclient CPU use (cores, memory sampler included) during sync Execute: " + ", ".join(
        f"{r['label']} {r.get('sync_execute', {}).get('client_cpu_cores', '-')}"
        for r in results.values()) + f" (of {os.cpu_count()})")
    torn = {r["label"]: sum(r.get(k, {}).get("torn_status_reads", 0) for k in
                            ("async_burst", "sleep_burst", "start_latency"))
            for r in results.values()}
    for r in results.values():
        for k in ("async_burst", "sleep_burst"):
            if r.get(k, {}).get("failures"):
                print(f"{r['label']}: failed {k} jobs said: {r[k]['failures']}")
    for r in results.values():
        noisy = {k: v["others_cpu_cores"] for k, v in r.items()
                 if isinstance(v, dict) and v.get("others_cpu_cores", 0) > 0.2}
        if noisy:
            print(f"NOISE: other processes kept cores busy during {r['label']}'s rows: {noisy}")
    print("memory sampler's own CPU use (cores): " + ", ".join(
        f"{r['label']} {r['sampler_cpu_cores']}" for r in results.values()))
    print("status documents read torn or empty (polled again): " + ", ".join(
        f"{label} {count}" for label, count in torn.items()))
    if args.json:
        args.json.write_text(json.dumps(
            {"parameters": parameters(args), "results": results, "elapsed_s": round(elapsed, 1)},
            indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
