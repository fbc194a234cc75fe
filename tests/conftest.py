from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

import demo
from sample_processes import processes as sample_processes
from schemas import assert_valid
from wpsd import Settings, create_app

NS = {
    "wps": "http://www.opengis.net/wps/1.0.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "xlink": "http://www.w3.org/1999/xlink",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(workdir=tmp_path / "work", output_dir=tmp_path / "outputs")


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings, processes=demo.processes + sample_processes)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class WPS:
    """Drives the WPS endpoint through the WSGI app and checks every XML answer is valid."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, query: str, status: int = 200) -> Any:
        return self._check(self.client.get("/wps?" + query), status)

    def post(self, body: bytes | str, status: int = 200, query: str = "") -> Any:
        data = body.encode() if isinstance(body, str) else body
        response = self.client.post("/wps" + query, data=data, content_type="text/xml")
        return self._check(response, status)

    def _check(self, response: Any, status: int) -> Any:
        assert response.status_code == status, response.data[:2000]
        if response.mimetype in ("text/xml", "application/xml"):
            assert_valid(response.data)
            response.xml = etree.fromstring(response.data)
        return response

    def error(self, query: str | None = None, body: str | None = None, status: int = 400
              ) -> tuple[str, str | None, str]:
        """Send a request that must fail; returns (exceptionCode, locator, text)."""
        response = self.get(query, status) if query is not None else self.post(body or "", status)
        root = response.xml
        assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"
        exc = root.find("ows:Exception", NS)
        return exc.get("exceptionCode"), exc.get("locator"), exc.findtext("ows:ExceptionText", "",
                                                                           NS)


@pytest.fixture
def wps(client: FlaskClient) -> WPS:
    return WPS(client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; a POST answers with its own body and headers, for reference tests."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply = body + f"|X-Test={self.headers.get('X-Test')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


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
