"""The README's production deployment survives slow clients: gunicorn's gevent workers with
`wpsd worker` beside them. Fifty connections that never finish their headers and ten open
event streams hold no worker, so everyone else is still answered (with sync workers, two
streams were enough to stop the server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests
from e2e_server import ROOT, start_server

from helpers import free_port

#: the README's production command, on a loopback port
GUNICORN = [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "2",
            "--worker-connections", "1000", "--timeout", "60", "wpsd.wsgi:application"]


def test_slow_clients_and_event_streams_block_nobody(tmp_path: Path):
    config = tmp_path / "wpsd.toml"
    config.write_text('processes = ["demo"]\nembedded_worker = false\n')
    env = dict(os.environ, WPSD_CONFIG=str(config), WPSD_DATA_DIR=str(tmp_path))
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "wpsd.cli", "worker"], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    port = free_port()
    gunicorn, server = start_server([*GUNICORN, "--bind", f"127.0.0.1:{port}"], tmp_path, port,
                                    WPSD_CONFIG=str(config))
    root = server.url.rsplit("/wps", 1)[0]
    slow: list[socket.socket] = []
    streams: list[requests.Response] = []
    try:
        for _ in range(50):  # a slowloris: headers begun, never finished
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /wps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        job = requests.post(f"{root}/processes/sleep/execution", json={"inputs": {"delay": 30}},
                            headers={"Prefer": "respond-async"}, timeout=30).json()["jobID"]
        for _ in range(10):
            stream = requests.get(f"{root}/jobs/{job}/events", stream=True, timeout=30)
            assert next(stream.iter_lines()).startswith(b"event: status")
            streams.append(stream)
        # Everyone else is still served; a blocked server would time these out.
        capabilities = requests.get(server.url, params={"service": "WPS",
                                                        "request": "GetCapabilities"}, timeout=10)
        assert capabilities.status_code == 200
        hello = requests.get(server.url, timeout=10, params={
            "service": "WPS", "version": "1.0.0", "request": "Execute", "identifier": "say_hello",
            "DataInputs": "name=still", "RawDataOutput": "response"})
        assert hello.text == "Hello still"
        assert requests.delete(f"{root}/jobs/{job}", timeout=10).status_code == 200
    finally:
        for sock in slow:
            sock.close()
        for stream in streams:
            stream.close()
        gunicorn.terminate()
        gunicorn.wait(timeout=15)
        worker.terminate()
        worker.wait(timeout=15)
