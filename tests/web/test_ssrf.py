"""Server-side request forgery: references and callbacks cannot reach non-public hosts.

A plain TCP listener on loopback counts the connections it accepts: for each refused case it
must see none, through every protocol and every way of writing the address. The same requests
with loopback allowed (``allowed_reference_hosts``) do reach it, which shows the listener
would have noticed.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest

from helpers import WPS
from schemas import assert_ogcapi_valid

EXEC = "service=WPS&version=1.0.0&request=Execute&identifier="
SETTING = "allowed_reference_hosts"
# Ways of writing a loopback address; the listener answers on all of them.
SPELLINGS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::1]",
             "[::ffff:127.0.0.1]", "127.0.0.2", "evil@127.0.0.1"]
LOOPBACK_OPEN = ("127.0.0.0/8", "::1")


class Listener:
    """Counts TCP connections to one port on 127.0.0.1, 127.0.0.2 and ::1; answers 'secret'."""

    def __init__(self) -> None:
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sockets = self._bind()
        self.port = self.sockets[0].getsockname()[1]
        self.ipv6 = any(s.family == socket.AF_INET6 for s in self.sockets)
        self._threads = [threading.Thread(target=self._serve, args=(s,), daemon=True)
                         for s in self.sockets]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _bind() -> list[socket.socket]:
        for _ in range(20):
            first = socket.create_server(("127.0.0.1", 0))
            port = first.getsockname()[1]
            bound = [first]
            try:
                bound.append(socket.create_server(("127.0.0.2", port)))
            except OSError:
                first.close()
                continue  # the port is taken on 127.0.0.2: another one
            try:
                bound.append(socket.create_server(("::1", port), family=socket.AF_INET6))
            except OSError:
                pass  # no IPv6 loopback here: the [::1] case is skipped
            return bound
        raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")

    def _serve(self, server: socket.socket) -> None:
        server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: 6\r\nConnection: close\r\n\r\nsecret")
            except OSError:
                pass

    def url(self, host: str = "127.0.0.1", path: str = "/secret") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for server in self.sockets:
            server.close()


class _Redirector(http.server.BaseHTTPRequestHandler):
    """GET or POST /to/<URL> answers 302 (or /to307/<URL> 307) with Location <URL>."""

    hits: list[str]

    def _redirect(self) -> None:
        self.hits.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        kind, _, target = self.path[1:].partition("/")
        self.send_response(307 if kind == "to307" else 302)
        self.send_header("Location", unquote(target))  # the client encoded [ and ] of IPv6
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect  # noqa: N815 (http.server's naming)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def redirector() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that redirects: (base URL, paths it was asked for)."""
    hits: list[str] = []
    handler = type("Redirector", (_Redirector,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed(make_app) -> WPS:
    """The production default: nothing but public hosts."""
    return WPS(make_app(allowed_reference_hosts=()).test_client())


def kvp_echo(url: str) -> str:
    return (EXEC + "echo&DataInputs=document=@xlink:href=" + quote(url, safe="")
            + "@mimeType=text/plain&RawDataOutput=document@mimeType=text/plain")


def execute1(identifier: str, inputs: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <ows:Identifier>{identifier}</ows:Identifier>
  <wps:DataInputs>{inputs}</wps:DataInputs>
</wps:Execute>"""


def reference1(ident: str, href: str, attrs: str = "", inner: str = "") -> str:
    return (f"<wps:Input><ows:Identifier>{ident}</ows:Identifier>"
            f'<wps:Reference xlink:href="{href}"{attrs}>{inner}</wps:Reference></wps:Input>')


def execute2(inputs: str) -> str:
    return f"""<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0"
      xmlns:ows="http://www.opengis.net/ows/2.0" xmlns:xlink="http://www.w3.org/1999/xlink"
      service="WPS" version="2.0.0" mode="sync" response="document">
      <ows:Identifier>echo</ows:Identifier>{inputs}</wps:Execute>"""


def refused_in_wps1(wps: WPS, *, query: str | None = None, body: str | None = None,
                    locator: str = "document") -> str:
    code, where, text = wps.error(query=query, body=body)
    assert (code, where) == ("InvalidParameterValue", locator), text
    return text


def spellings(listener: Listener) -> list[str]:
    return [s for s in SPELLINGS if listener.ipv6 or s != "[::1]"]


# ---------------------------------------------------------------- WPS 1.0.0


def test_kvp_refuses_every_spelling_of_loopback(closed, listener):
    for host in spellings(listener):
        text = refused_in_wps1(closed, query=kvp_echo(listener.url(host)))
        assert SETTING in text, (host, text)
    assert listener.connections == 0


def test_with_loopback_allowed_every_spelling_reaches_the_listener(make_app, listener):
    wps = WPS(make_app(allowed_reference_hosts=LOOPBACK_OPEN).test_client())
    for n, host in enumerate(spellings(listener), start=1):
        response = wps.get(kvp_echo(listener.url(host)))
        assert response.data == b"secret", host
        assert listener.connections == n, host


def test_xml_reference_get_is_refused(closed, listener):
    body = execute1("echo", reference1("document", listener.url(), ' mimeType="text/plain"'))
    assert SETTING in refused_in_wps1(closed, body=body)
    assert listener.connections == 0


def test_xml_reference_post_with_header_and_body_is_refused(closed, listener):
    inner = ('<wps:Header key="Content-Type" value="application/json"/>'
             '<wps:Body>{"action": "delete"}</wps:Body>')
    body = execute1("echo", reference1("document", listener.url(), ' method="POST"'
                                       ' mimeType="text/plain"', inner))
    assert SETTING in refused_in_wps1(closed, body=body)
    assert listener.connections == 0


def test_body_reference_is_refused(make_app, listener, file_server):
    base, folder = file_server
    (folder / "payload.txt").write_text("payload")
    # Only the file server is open: the listener is on another port of the same address.
    port = base.rsplit(":", 1)[1].strip("/")
    wps = WPS(make_app(allowed_reference_hosts=(f"127.0.0.1:{port}",)).test_client())
    # The body is to come from the listener, and be posted to the file server.
    inner = f'<wps:BodyReference xlink:href="{listener.url()}"/>'
    body = execute1("echo", reference1("document", base + "echo", ' method="POST"'
                                       ' mimeType="text/plain"', inner))
    assert SETTING in refused_in_wps1(wps, body=body)
    # The body comes from the file server, and is to be posted to the listener.
    inner = f'<wps:BodyReference xlink:href="{base}payload.txt"/>'
    body = execute1("echo", reference1("document", listener.url(), ' method="POST"'
                                       ' mimeType="text/plain"', inner))
    assert SETTING in refused_in_wps1(wps, body=body)
    assert listener.connections == 0
    # With the file server alone the same kind of request works.
    inner = f'<wps:BodyReference xlink:href="{base}payload.txt"/>'
    body = execute1("text_stats", reference1("text", base + "echo", ' method="POST"', inner))
    assert wps.post(body).status_code == 200


def test_literal_input_by_reference_is_refused(closed, listener):
    body = execute1("say_hello", reference1("name", listener.url()))
    assert SETTING in refused_in_wps1(closed, body=body, locator="name")
    assert listener.connections == 0


def test_async_job_reference_is_refused_before_a_job_exists(closed, listener):
    query = kvp_echo(listener.url()).replace("&RawDataOutput=document@mimeType=text/plain",
                                             "&storeExecuteResponse=true&status=true")
    code, locator, text = closed.error(query)
    assert (code, locator) == ("InvalidParameterValue", "document")
    assert SETTING in text
    assert closed.client.get("/jobs").get_json()["jobs"] == []
    assert listener.connections == 0


@pytest.mark.parametrize("header", ["Cookie", "Host", "X-Forwarded-For", "Content-Length",
                                    "Transfer-Encoding", "Proxy-Authorization"])
def test_disallowed_header_is_refused(wps, listener, header):
    # Loopback is open in the `wps` fixture: the header alone is the reason.
    inner = f'<wps:Header key="{header}" value="1"/><wps:Body>x</wps:Body>'
    body = execute1("echo", reference1("document", listener.url(), ' method="POST"'
                                       ' mimeType="text/plain"', inner))
    text = refused_in_wps1(wps, body=body)
    assert repr(header) in text
    assert listener.connections == 0


def test_redirect_from_an_allowed_host_to_a_refused_one(make_app, listener, redirector):
    base, hits = redirector
    port = base.rsplit(":", 1)[1]
    wps = WPS(make_app(allowed_reference_hosts=(f"127.0.0.1:{port}",)).test_client())
    for host in spellings(listener):
        text = refused_in_wps1(wps, query=kvp_echo(f"{base}/to/{listener.url(host)}"))
        assert SETTING in text, (host, text)
    # A POST that a 307 would repeat elsewhere is refused the same way.
    body = execute1("echo", reference1("document", f"{base}/to307/{listener.url()}",
                                       ' method="POST" mimeType="text/plain"',
                                       "<wps:Body>x</wps:Body>"))
    assert SETTING in refused_in_wps1(wps, body=body)
    assert len(hits) == len(spellings(listener)) + 1  # the allowed server was asked
    assert listener.connections == 0


# ---------------------------------------------------------------- WPS 2.0 and OGC API


def test_wps2_reference_is_refused(closed, listener):
    for inner in ("", "<wps:Body>x</wps:Body>"):
        body = execute2(f'<wps:Input id="document"><wps:Reference xlink:href="{listener.url()}"'
                        f' mimeType="text/plain">{inner}</wps:Reference></wps:Input>')
        response = closed.post(body, status=400)
        exc = response.xml.find("{http://www.opengis.net/ows/2.0}Exception")
        assert (exc.get("exceptionCode"), exc.get("locator")) == ("DataNotAccessible",
                                                                  "document")
    assert listener.connections == 0


def ogcapi_execute(client: Any, body: dict[str, Any], prefer: str | None = None) -> Any:
    headers = {"Prefer": prefer} if prefer else {}
    return client.post("/processes/echo/execution", data=json.dumps(body),
                       content_type="application/json", headers=headers)


def test_ogcapi_href_is_refused(make_app, listener):
    client = make_app(allowed_reference_hosts=()).test_client()
    for host in spellings(listener):
        response = ogcapi_execute(client, {"inputs": {"document": {
            "href": listener.url(host), "type": "text/plain"}}})
        assert response.status_code == 400, response.data
        problem = response.get_json()
        assert_ogcapi_valid(problem, "exception")
        assert problem["title"] == "DataNotAccessible" and SETTING in problem["detail"]
    assert listener.connections == 0


def test_ogcapi_href_redirected_to_a_refused_host(make_app, listener, redirector):
    base, hits = redirector
    port = base.rsplit(":", 1)[1]
    client = make_app(allowed_reference_hosts=(f"127.0.0.1:{port}",)).test_client()
    response = ogcapi_execute(client, {"inputs": {"document": {
        "href": f"{base}/to/{listener.url()}", "type": "text/plain"}}})
    assert response.status_code == 400
    assert response.get_json()["title"] == "DataNotAccessible"
    assert hits and listener.connections == 0


# ---------------------------------------------------------------- callbacks


def wait_for_job(client: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/jobs/{job_id}").get_json()
        if info["status"] in ("successful", "failed", "dismissed"):
            return info
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def callbacks_to(base: str) -> dict[str, str]:
    return {"successUri": base + "/done", "inProgressUri": base + "/running",
            "failedUri": base + "/failed"}


def test_callbacks_to_refused_hosts_are_refused_before_a_job_exists(make_app, callback_server,
                                                                     listener):
    base, _ = callback_server
    port = base.rsplit(":", 1)[1]
    client = make_app(allowed_reference_hosts=(f"127.0.0.1:{port}",)).test_client()
    subscriber = {"inProgressUri": listener.url(), "successUri": base + "/done"}
    response = ogcapi_execute(client, {"inputs": {"message": "m"}, "subscriber": subscriber},
                              prefer="respond-async")
    assert response.status_code == 400, response.data
    assert response.get_json()["title"] == "InvalidParameterValue"
    assert "allowed_reference_hosts" in response.get_json()["detail"]
    assert client.get("/jobs").get_json()["jobs"] == []
    assert listener.connections == 0


def test_callbacks_need_loopback_allowed(make_app, callback_server, tmp_path):
    base, received = callback_server
    closed = make_app(allowed_reference_hosts=()).test_client()
    response = ogcapi_execute(closed, {"inputs": {"message": "m"},
                                       "subscriber": callbacks_to(base)}, prefer="respond-async")
    assert response.status_code == 400 and received == []
    # A server of its own: one store and processes share a worker, whose settings count.
    opened = make_app(allowed_reference_hosts=("127.0.0.1",),
                      data_dir=tmp_path / "opened").test_client()
    response = ogcapi_execute(opened, {"inputs": {"message": "m"},
                                       "subscriber": callbacks_to(base)}, prefer="respond-async")
    wait_for_job(opened, response.get_json()["jobID"])
    deadline = time.monotonic() + 30
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(path for path, _ in received) == ["/done", "/running"]
