"""Jobs through a Dask cluster against the local executor, over HTTP.

    python benchmarks/bench_dask.py [--jobs 200] [--seconds 0.2] [--workers 1,2,4] [--json FILE]

For each worker count a real cluster is started (``dask scheduler`` and ``dask worker
--nworkers N --nthreads 1``, so N worker processes), and a wpsd server (``wpsd serve``, its
embedded worker with ``executor = "dask"``) serving ``tests/dask_processes.py``. ``--jobs``
asynchronous jobs of ``spin`` (``--seconds`` of pure-Python work each) are submitted at once
through OGC API - Processes by 8 client threads; the figure is jobs per second from the first
submission to the last job seen successful. The same runs through the local executor (jobs
forked by the host's worker, ``max_parallel_jobs`` = the core count) for comparison.

The per-job overhead is the time from submission to "successful" of a job that does nothing,
``--overhead-jobs`` of them one after the other: the Dask path (1 worker) against the local one.

Prints a table with ratios: scaling is throughput through N workers over that through 1
(target: 4 workers >= 1.8x one on 2 cores, >= 3.5x where the cores exist); overhead is the
Dask path's latency over the local path's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROCESSES = str(ROOT / "tests" / "dask_processes.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method,
                      headers={"Content-Type": "application/json", **(headers or {})})
    with urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers), response.read()


class Group:
    """Processes started in sessions of their own, stopped together."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with (self.tmp / f"{name}.log").open("wb") as log:
            self.procs.append(subprocess.Popen(command, cwd=ROOT, stdout=log,
                                               stderr=subprocess.STDOUT, env=env,
                                               start_new_session=True))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []


def start_cluster(group: Group, workers: int) -> str:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    group.start("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                              "--port", str(port), "--no-dashboard"])
    group.start("workers", [str(BIN / "dask"), "worker", address, "--nworkers", str(workers),
                            "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"])
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(workers, timeout=60)
    return address


def start_wpsd(group: Group, tmp: Path, settings: dict[str, str]) -> str:
    port = free_port()
    env = {**os.environ, "WPSD_DATA_DIR": str(tmp), "WPSD_PROCESSES": PROCESSES,
           "WPSD_MAX_QUEUED_JOBS": "10000", **settings}
    group.start("wpsd", [str(BIN / "wpsd"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            http("GET", base + "/processes")
            return base
        except (URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise RuntimeError((tmp / "wpsd.log").read_text()) from None
            time.sleep(0.2)


def submit(base: str, seconds: float) -> str:
    status, headers, body = http("POST", f"{base}/processes/spin/execution",
                                 {"inputs": {"seconds": seconds}}, {"Prefer": "respond-async"})
    if status != 201:
        raise RuntimeError(body.decode())
    return headers["Location"].rsplit("/", 1)[1]


def status_of(base: str, job_id: str) -> str:
    return str(json.loads(http("GET", f"{base}/jobs/{job_id}")[2])["status"])


def throughput(base: str, jobs: int, seconds: float) -> dict[str, Any]:
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: submit(base, seconds), range(jobs)))
    submitted = time.monotonic() - started
    pending = set(ids)
    failed = 0
    while pending:
        time.sleep(0.1)
        for job_id in list(pending):
            state = status_of(base, job_id)
            if state in ("successful", "failed", "dismissed"):
                pending.discard(job_id)
                failed += state != "successful"
            else:
                break  # oldest first: the rest are not done either, most likely
    elapsed = time.monotonic() - started
    return {"jobs_per_s": jobs / elapsed, "elapsed_s": elapsed, "submit_s": submitted,
            "failed": failed}


def overhead(base: str, jobs: int) -> dict[str, Any]:
    latencies = []
    for _ in range(jobs):
        started = time.monotonic()
        job_id = submit(base, 0.0)
        while status_of(base, job_id) not in ("successful", "failed"):
            time.sleep(0.002)
        latencies.append(time.monotonic() - started)
    return {"p50_ms": 1000 * statistics.median(latencies),
            "mean_ms": 1000 * statistics.fmean(latencies)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="wpsd-bench-dask-") as folder:
            group = Group(Path(folder))
            try:
                address = start_cluster(group, workers)
                base = start_wpsd(group, Path(folder), {"WPSD_EXECUTOR": "dask",
                                                        "WPSD_DASK_SCHEDULER": address})
                submit(base, 0.0)  # the first job starts the workers' launchers
                time.sleep(2)
                figures[f"dask-{workers}"] = throughput(base, args.jobs, args.seconds)
                if workers == 1:
                    figures["dask-overhead"] = overhead(base, args.overhead_jobs)
                print(f"dask, {workers} workers: {figures[f'dask-{workers}']}", flush=True)
            finally:
                group.stop()
    with tempfile.TemporaryDirectory(prefix="wpsd-bench-local-") as folder:
        group = Group(Path(folder))
        try:
            base = start_wpsd(group, Path(folder), {"WPSD_EXECUTOR": "local"})
            submit(base, 0.0)
            time.sleep(1)
            figures["local"] = throughput(base, args.jobs, args.seconds)
            figures["local-overhead"] = overhead(base, args.overhead_jobs)
            print(f"local: {figures['local']}", flush=True)
        finally:
            group.stop()
    return figures


def table(args: argparse.Namespace, figures: dict[str, Any]) -> str:
    one = figures[f"dask-{args.workers[0]}"]["jobs_per_s"]
    lines = [f"{args.jobs} jobs of {args.seconds:g} s pure-Python work, {os.cpu_count()} cores",
             "| run | jobs/s | elapsed s | failed | vs 1 worker |", "|---|---:|---:|---:|---:|"]
    for workers in args.workers:
        row = figures[f"dask-{workers}"]
        lines.append(f"| dask, {workers} workers | {row['jobs_per_s']:.2f} | "
                     f"{row['elapsed_s']:.1f} | {row['failed']} | {row['jobs_per_s'] / one:.2f}x |")
    local = figures["local"]
    ratio = local["jobs_per_s"] / one
    lines.append(f"| local executor ({os.cpu_count()} at once) | {local['jobs_per_s']:.2f} | "
                 f"{local['elapsed_s']:.1f} | {local['failed']} | {ratio:.2f}x |")
    dask, here = figures["dask-overhead"], figures["local-overhead"]
    lines += ["", "| per-job overhead (no-op job, submit to successful) | p50 ms | mean ms |",
              "|---|---:|---:|",
              f"| local executor | {here['p50_ms']:.1f} | {here['mean_ms']:.1f} |",
              f"| dask, 1 worker | {dask['p50_ms']:.1f} | {dask['mean_ms']:.1f} |",
              f"| dask / local | {dask['p50_ms'] / here['p50_ms']:.2f}x | "
              f"{dask['mean_ms'] / here['mean_ms']:.2f}x |"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1, 2, 4])
    parser.add_argument("--overhead-jobs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = run(args)
    print(table(args, figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
