from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, url: str, log: Path, workdir: Path, output_dir: Path) -> None:
        self.url, self.log, self.workdir, self.output_dir = url, log, workdir, output_dir

    def log_text(self) -> str:
        return self.log.read_text()


def start_server(command: list[str], tmp: Path, port: int, **extra_env: str
                 ) -> tuple[subprocess.Popen, Server]:
    # References and callbacks of the tests go to servers on loopback, which a server refuses
    # unless allowed; the demo itself keeps the production default when a user starts it.
    env = dict(os.environ, WPSD_DATA_DIR=str(tmp), PYTHONUNBUFFERED="1",
               WPSD_ALLOWED_REFERENCE_HOSTS="127.0.0.1")
    env.update(extra_env)
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/wps"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, params={"service": "WPS", "request": "GetCapabilities"}, timeout=5)
            break
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still starting
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start:\n" + log.read_text()) from None
            time.sleep(0.1)
    return proc, Server(url, log, tmp / "work", tmp / "outputs")
