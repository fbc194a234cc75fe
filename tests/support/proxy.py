"""A reverse proxy on loopback for tests: it authenticates clients with HTTP Basic, as an
Apache or nginx in front of wpsd would, and names the user to the server behind it in
``X-Forwarded-User``, overwriting whatever a client sent in that header."""

from __future__ import annotations

import base64
import http.client
import http.server
import threading
from typing import Any

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailers", "transfer-encoding", "upgrade", "host", "content-length"}


class _Handler(http.server.BaseHTTPRequestHandler):
    proxy: BasicAuthProxy
    protocol_version = "HTTP/1.1"

    def _user(self) -> str | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        return name if self.proxy.passwords.get(name) == password else None

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        user = self._user()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="proxy"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in _HOP_BY_HOP | {"authorization", "x-forwarded-user"}}
        headers["X-Forwarded-User"] = user
        upstream = http.client.HTTPConnection("127.0.0.1", self.proxy.upstream_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815 (http.server's naming)

    def log_message(self, *args: Any) -> None:
        pass


class BasicAuthProxy:
    """Forwards to ``127.0.0.1:upstream_port`` the requests of the users in ``passwords``."""

    def __init__(self, upstream_port: int, passwords: dict[str, str]) -> None:
        self.upstream_port = upstream_port
        self.passwords = passwords
        handler = type("Proxy", (_Handler,), {"proxy": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
