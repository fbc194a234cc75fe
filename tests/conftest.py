from __future__ import annotations

import dataclasses
import http.server
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import demo
import pytest
from e2e_server import Server, start_server
from flask import Flask
from flask.testing import FlaskClient

import schemas
from helpers import WPS, free_port
from sample_processes import processes as sample_processes
from wpsd import Process, Settings, create_app
from wpsd.web.app import close_app


def pytest_configure(config: pytest.Config) -> None:
    # Most tests validate what they receive: without the schemas, say so once and stop,
    # rather than fail each of them with the same message. (A UsageError here is printed
    # once, as "ERROR: ..."; pytest.exit would print it twice.)
    if config.option.help or config.option.version:
        return
    try:
        schemas.check_available()
    except schemas.SchemaUnavailable as exc:
        raise pytest.UsageError(f"The tests cannot run: {exc}") from None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The reference and callback servers of the tests listen on loopback, which the outbound
    # policy refuses unless it is allowed (tests/web/test_ssrf.py checks the default).
    return Settings(data_dir=tmp_path, heartbeat_interval=0.2,
                    allowed_reference_hosts=("127.0.0.1",))


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Callable[..., Flask]]:
    """Apps with changed settings; each is shut down after the test."""
    apps: list[Flask] = []

    def make(processes: Sequence[Process] | None = None, **changes: Any) -> Flask:
        chosen = demo.processes + sample_processes if processes is None else processes
        app = create_app(dataclasses.replace(settings, **changes), processes=chosen)
        apps.append(app)
        return app

    yield make
    for app in apps:
        shutdown(app)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, processes=demo.processes + sample_processes)
    yield app
    shutdown(app)


def shutdown(app: Flask) -> None:
    """Stop an app's worker and its jobs (a test leaves nothing running)."""
    close_app(app, kill_jobs=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def wps(client: FlaskClient) -> WPS:
    return WPS(client)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; a POST answers with its own body and headers, for reference tests."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply = body + f"|Accept-Language={self.headers.get('Accept-Language')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records every POST (path, JSON body) for callback tests."""

    received: list[tuple[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def callback_server() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """A loopback server that records callbacks: (base URL, list of (path, document))."""
    received: list[tuple[str, Any]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for input references: (base URL, folder it serves)."""
    folder = tmp_path_factory.mktemp("served")

    def handler(*args: Any) -> _Handler:
        return _Handler(*args, directory=str(folder))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python3 demo.py` on a free loopback port, as a user starts it."""
    port = free_port()
    proc, server = start_server(
        [sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(port)],
        tmp_path_factory.mktemp("demo"), port,
    )
    yield server
    proc.terminate()
    proc.wait(timeout=10)
