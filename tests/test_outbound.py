"""The outbound-request policy: address rules, allow-list, headers, pinning and redirects.

The address rules are tested without network; the rest talks to servers on loopback, which a
made-up public name is resolved to by a fake getaddrinfo, or which the policy is told to allow.
"""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wpsd import Settings
from wpsd.outbound import (
    AllowedHost,
    OutboundFailed,
    OutboundInvalid,
    OutboundPolicy,
    OutboundRefused,
    OutboundTooLarge,
    is_public,
)

LOOPBACK = (AllowedHost.parse("127.0.0.1"),)

# ---------------------------------------------------------------- address rules

REFUSED = [
    "127.0.0.1", "127.0.0.2", "127.255.255.254", "0.0.0.0", "10.1.2.3", "172.16.0.1",
    "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254",
    "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "198.51.100.1", "203.0.113.1", "198.18.0.1", "192.0.0.8",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1",
    "2001:db8::1", "3fff::1", "100::1", "192.88.99.1",
    # IPv6 forms that embed a refused IPv4 address
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "::7f00:1", "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808",
    "2002:7f00:1::1", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
          "2a00:1450:4001:82a::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
          "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address))


# Spellings of loopback that libc resolves without DNS (inet_aton accepts them all).
SPELLINGS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::1]",
             "[::ffff:127.0.0.1]", "127.0.0.2", "evil@127.0.0.1", "user:pw@127.0.0.1",
             "[::127.0.0.1]", "0", "0.0.0.0", "169.254.169.254", "[fe80::1]", "localhost",
             "LOCALHOST.", "100.64.0.1", "[64:ff9b::7f00:1]"]


@pytest.mark.parametrize("host", SPELLINGS)
def test_check_refuses_every_spelling_of_a_private_host(host):
    with pytest.raises(OutboundRefused) as raised:
        OutboundPolicy().check(f"http://{host}:8080/secret")
    assert raised.value.setting == "allowed_reference_hosts"
    assert "allowed_reference_hosts" in str(raised.value)


def test_check_gives_the_target_it_checked(fake_dns):
    fake_dns["public.example"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    target = OutboundPolicy().check("https://Public.Example./a/b?c=1#frag")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https", "public.example", 443, "/a/b?c=1")
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert target.host_header == "public.example"


def test_any_non_public_address_refuses_the_host(fake_dns):
    fake_dns["mixed.example"] = ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(OutboundRefused, match="allowed_reference_hosts"):
        OutboundPolicy().check("http://mixed.example/")
    fake_dns["metadata.example"] = ["169.254.169.254"]
    with pytest.raises(OutboundRefused) as raised:
        OutboundPolicy().check("http://metadata.example/")
    assert "169.254" not in str(raised.value)  # what internal names resolve to stays internal


def test_unresolvable_host_fails(fake_dns):
    fake_dns["nowhere.example"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with pytest.raises(OutboundFailed, match="cannot resolve"):
        OutboundPolicy().check("http://nowhere.example/")


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://93.184.216.34/x", "gopher://93.184.216.34:70/_x",
    "dict://93.184.216.34/", "93.184.216.34/x", "//93.184.216.34/x", "HTTPX://a/"])
def test_schemes_outside_the_setting_are_refused(url):
    with pytest.raises(OutboundRefused) as raised:
        OutboundPolicy().check(url)
    assert raised.value.setting == "reference_schemes"


def test_a_listed_scheme_that_cannot_be_fetched_is_refused():
    with pytest.raises(OutboundRefused, match="only http and https"):
        OutboundPolicy(schemes=("http", "ftp")).check("ftp://93.184.216.34/x")
    with pytest.raises(OutboundRefused):
        OutboundPolicy(schemes=("http",)).check("https://93.184.216.34/x")


@pytest.mark.parametrize("url", [
    "http://", "http:///path", "http://[::1/", "http://host:99999/", "http://host:x/",
    "http://exa mple.org/", "http://a\x00b/", "http://a/\x7f", "http://a/b\r\nHost: c",
    "http://bad_host!/", "http://a..b/",
    "http://[not-v6]/"])
def test_malformed_urls_are_invalid(url):
    with pytest.raises(OutboundInvalid):
        OutboundPolicy().check(url)


# ---------------------------------------------------------------- allow-list


@pytest.mark.parametrize(("entry", "name", "network", "port"), [
    ("intranet.example", "intranet.example", None, None),
    ("Intranet.Example.", "intranet.example", None, None),
    ("intranet:8080", "intranet", None, 8080),
    ("localhost", "localhost", None, None),
    ("127.0.0.1", None, "127.0.0.1/32", None),
    ("127.0.0.1:8080", None, "127.0.0.1/32", 8080),
    ("10.1.0.0/16", None, "10.1.0.0/16", None),
    ("10.1.2.3/16", None, "10.1.0.0/16", None),
    ("::1", None, "::1/128", None),
    ("[::1]", None, "::1/128", None),
    ("[::1]:8080", None, "::1/128", 8080),
    ("fd00::/8", None, "fd00::/8", None),
    (" 192.168.0.0/24 ", None, "192.168.0.0/24", None),
])
def test_allow_list_entries(entry, name, network, port):
    parsed = AllowedHost.parse(entry)
    assert parsed.name == name
    assert parsed.network == (ipaddress.ip_network(network) if network else None)
    assert parsed.port == port


@pytest.mark.parametrize("entry", [
    "", "  ", "10.0.0.0/33", "10.0.0.0/8:80", "[::1", "[::1]8080", "[::1]:", "host:0",
    "host:65536", "host:http", "a:b:c", "bad host", "[intranet]:80", "http://intranet/"])
def test_bad_allow_list_entries_are_errors(entry):
    with pytest.raises(ValueError):
        AllowedHost.parse(entry)


def addresses(*texts):
    return [ipaddress.ip_address(t) for t in texts]


def test_allow_list_matching():
    name = AllowedHost.parse("intranet")
    assert name.matches("intranet", 80, addresses("10.0.0.1"))
    assert not name.matches("intranet.example", 80, addresses("10.0.0.1"))
    network = AllowedHost.parse("10.1.0.0/16")
    assert network.matches("anything", 443, addresses("10.1.2.3", "10.1.200.1"))
    assert not network.matches("anything", 443, addresses("10.1.2.3", "10.2.0.1"))
    assert not network.matches("anything", 443, [])
    assert AllowedHost.parse("127.0.0.0/8").matches("x", 80, addresses("::ffff:127.0.0.1"))
    assert not AllowedHost.parse("::1").matches("x", 80, addresses("127.0.0.1"))
    with_port = AllowedHost.parse("127.0.0.1:8080")
    assert with_port.matches("localhost", 8080, addresses("127.0.0.1"))
    assert not with_port.matches("localhost", 8081, addresses("127.0.0.1"))
    v6_port = AllowedHost.parse("[::1]:8080")
    assert v6_port.matches("::1", 8080, addresses("::1"))
    assert not v6_port.matches("::1", 80, addresses("::1"))


def test_allowed_hosts_skip_the_address_rules(fake_dns):
    fake_dns["intranet"] = ["10.0.0.7"]
    policy = OutboundPolicy(allowed_hosts=(AllowedHost.parse("intranet"),
                                           AllowedHost.parse("192.168.0.0/16"),
                                           AllowedHost.parse("127.0.0.1:8080")))
    assert policy.check("http://intranet/x").addresses == ("10.0.0.7",)
    assert policy.check("http://192.168.7.7/").addresses == ("192.168.7.7",)
    assert policy.check("http://127.0.0.1:8080/").port == 8080
    for url in ("http://10.0.0.7/", "http://127.0.0.1:8081/", "http://127.0.0.1/",
                "http://intranet.other/"):
        with pytest.raises((OutboundRefused, OutboundFailed)):
            policy.check(url)


def test_policy_from_settings():
    settings = Settings(reference_schemes=("HTTPS",), reference_timeout=3.5,
                        allowed_reference_hosts=("intranet", "10.0.0.0/8", "[::1]:8080"))
    policy = OutboundPolicy.from_settings(settings)
    assert policy.schemes == ("https",)
    assert policy.timeout == 3.5
    assert policy.allowed_hosts == (AllowedHost(name="intranet"),
                                    AllowedHost(network=ipaddress.ip_network("10.0.0.0/8")),
                                    AllowedHost(network=ipaddress.ip_network("::1"), port=8080))
    assert OutboundPolicy.from_settings(Settings()).allowed_hosts == ()
    with pytest.raises(ValueError):
        OutboundPolicy.from_settings(Settings(allowed_reference_hosts=("10.0.0.0/99",)))


# ---------------------------------------------------------------- headers and methods


@pytest.mark.parametrize("name", [
    "Host", "host", "Cookie", "Content-Length", "Transfer-Encoding", "Connection",
    "Proxy-Authorization", "Proxy-Connection", "X-Forwarded-For", "X-Forwarded-Host",
    "Forwarded", "X-Real-IP", "Upgrade", "TE", "Expect", "X-Test", "Accept Language", "",
    "Accept:", "Accept\r\nX-Evil"])
def test_headers_outside_the_allow_list_are_refused(name, no_dns):
    with pytest.raises(OutboundInvalid) as raised:
        OutboundPolicy().fetch("http://public.example/", headers=[(name, "x")], max_bytes=10)
    assert repr(name) in str(raised.value)


@pytest.mark.parametrize("value", ["a\r\nHost: evil", "a\nb", "a\rb", "a\0b"])
def test_header_values_with_line_breaks_are_refused(value, no_dns):
    with pytest.raises(OutboundInvalid, match="line breaks"):
        OutboundPolicy().fetch("http://public.example/", headers=[("Accept", value)],
                               max_bytes=10)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "CONNECT", "TRACE", "get", "GET "])
def test_only_get_and_post_are_sent(method, no_dns):
    with pytest.raises(OutboundInvalid, match="method"):
        OutboundPolicy().fetch("http://public.example/", method=method, max_bytes=10)


def test_allowed_headers_are_sent_case_insensitively(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    headers = [("accept", "text/plain"), ("ACCEPT-LANGUAGE", "de"), ("Authorization", "Bearer t"),
               ("content-type", "text/xml"), ("Range", "bytes=0-3"), ("user-agent", "client"),
               ("If-None-Match", '"e"'), ("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]
    policy.fetch(web.url("/echo"), method="POST", body=b"b", headers=headers, max_bytes=1000)
    sent = web.requests[-1].headers
    assert (sent["Accept"], sent["Accept-Language"], sent["Authorization"]) == (
        "text/plain", "de", "Bearer t")
    assert (sent["Content-Type"], sent["Range"], sent["User-Agent"]) == (
        "text/xml", "bytes=0-3", "client")
    assert sent["Host"] == f"127.0.0.1:{web.port}"


# ---------------------------------------------------------------- pinning


def test_connection_goes_to_the_checked_address(web, fake_dns):
    """The name is resolved once; a second answer (DNS rebinding) is never used."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    fake_dns["rebind.example"] = lambda: next(answers)
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    assert policy.fetch(f"http://rebind.example:{web.port}/file", max_bytes=100) == b"file body"
    assert fake_dns.calls.count("rebind.example") == 1
    assert web.requests[-1].headers["Host"] == f"rebind.example:{web.port}"


def test_a_public_name_resolving_to_loopback_gets_no_connection(web, fake_dns):
    fake_dns["public.example"] = ["127.0.0.1"]
    with pytest.raises(OutboundRefused, match="allowed_reference_hosts"):
        OutboundPolicy().fetch(f"http://public.example:{web.port}/file", max_bytes=100)
    assert web.requests == []


def test_next_checked_address_is_tried_when_one_refuses_connections(web, fake_dns):
    fake_dns["twice.example"] = ["127.0.0.3", "127.0.0.1"]  # nothing listens on 127.0.0.3
    policy = OutboundPolicy(allowed_hosts=(AllowedHost.parse("127.0.0.0/8"),))
    assert policy.fetch(f"http://twice.example:{web.port}/file", max_bytes=100) == b"file body"


def test_environment_proxies_are_not_used(web, monkeypatch):
    proxy = Recorder()
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url("/"))
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    try:
        policy = OutboundPolicy(allowed_hosts=LOOPBACK)
        assert policy.fetch(web.url("/file"), max_bytes=100) == b"file body"
        assert proxy.requests == []
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A self-signed certificate for the name pinned.test (its own CA)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=pinned.test", "-addext", "subjectAltName=DNS:pinned.test",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True)
    return folder


def test_https_is_pinned_but_verified_for_the_name(certificate, fake_dns):
    server = Recorder(tls=certificate)
    try:
        fake_dns["pinned.test"] = ["127.0.0.1"]
        fake_dns["other.test"] = ["127.0.0.1"]
        policy = OutboundPolicy(allowed_hosts=LOOPBACK,
                                ca_certs=str(certificate / "cert.pem"))
        url = f"https://pinned.test:{server.port}/file"
        assert policy.fetch(url, max_bytes=100) == b"file body"
        assert server.sni == ["pinned.test"]
        assert server.requests[-1].headers["Host"] == f"pinned.test:{server.port}"
        # Same address, another name: the certificate does not match, nothing is fetched.
        with pytest.raises(OutboundFailed, match="TLS failed"):
            policy.fetch(f"https://other.test:{server.port}/file", max_bytes=100)
        # The default CA bundle does not trust the test certificate.
        with pytest.raises(OutboundFailed, match="TLS failed"):
            OutboundPolicy(allowed_hosts=LOOPBACK).fetch(url, max_bytes=100)
        assert len(server.requests) == 1
    finally:
        server.close()


# ---------------------------------------------------------------- redirects


def test_redirects_are_followed_and_checked(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    assert policy.fetch(web.url("/redirect/302/file"), max_bytes=100) == b"file body"
    assert [r.path for r in web.requests[-2:]] == ["/redirect/302/file", "/file"]


@pytest.mark.parametrize(("status", "method", "body"), [
    (301, "GET", b""), (302, "GET", b""), (303, "GET", b""), (307, "POST", b"payload"),
    (308, "POST", b"payload")])
def test_redirected_post(web, status, method, body):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    policy.fetch(web.url(f"/redirect/{status}/echo"), method="POST", body=b"payload",
                 headers=[("Content-Type", "text/plain")], max_bytes=100)
    last = web.requests[-1]
    assert (last.path, last.method, last.body) == ("/echo", method, body)
    assert ("Content-Type" in last.headers) == (method == "POST")


def test_redirect_to_a_refused_host_gets_no_connection(web):
    target = Recorder()
    try:
        policy = OutboundPolicy(allowed_hosts=(AllowedHost.parse(f"127.0.0.1:{web.port}"),))
        with pytest.raises(OutboundRefused, match="allowed_reference_hosts"):
            policy.fetch(web.url("/redirect/302/" + target.url("/secret")), max_bytes=100)
        assert target.requests == []
        assert web.requests[-1].path.startswith("/redirect/302/")
    finally:
        target.close()


def test_redirect_to_another_scheme_is_checked(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    with pytest.raises(OutboundRefused, match="reference_schemes"):
        policy.fetch(web.url("/redirect/302/file:///etc/passwd"), max_bytes=100)


def test_redirects_are_bounded(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    assert policy.fetch(web.url("/loop/5"), max_bytes=100) == b"file body"
    with pytest.raises(OutboundFailed, match="more than 5"):
        policy.fetch(web.url("/loop/6"), max_bytes=100)
    assert len([r for r in web.requests if r.path.startswith("/loop/")]) == 5 + 6


def test_credentials_stay_with_their_origin(web):
    other = Recorder()
    try:
        policy = OutboundPolicy(allowed_hosts=LOOPBACK)
        policy.fetch(web.url("/redirect/307/" + other.url("/file")),
                     headers=[("Authorization", "Bearer secret")], max_bytes=100)
        assert web.requests[-1].headers["Authorization"] == "Bearer secret"
        assert "Authorization" not in other.requests[-1].headers
        policy.fetch(web.url("/redirect/307/file"), headers=[("Authorization", "Bearer s")],
                     max_bytes=100)
        assert web.requests[-1].headers["Authorization"] == "Bearer s"  # same origin
    finally:
        other.close()


def test_spaces_in_the_path_are_sent_encoded(web):
    with pytest.raises(OutboundFailed):  # the recorder has no such file, but it was asked
        OutboundPolicy(allowed_hosts=LOOPBACK).fetch(web.url("/a file?q=x y"), max_bytes=100)
    assert web.requests[-1].path == "/a%20file?q=x%20y"


def test_credentials_in_the_url_become_basic_auth(web):
    url = web.url("/file").replace("http://", "http://user:p%40ss@")
    OutboundPolicy(allowed_hosts=LOOPBACK).fetch(url, max_bytes=100)
    assert web.requests[-1].headers["Authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss


# ---------------------------------------------------------------- answers


def test_http_errors_carry_the_status(web):
    with pytest.raises(OutboundFailed) as raised:
        OutboundPolicy(allowed_hosts=LOOPBACK).fetch(web.url("/missing"), max_bytes=100)
    assert raised.value.status == 404


def test_size_limits(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK)
    assert policy.fetch(web.url("/file"), max_bytes=9) == b"file body"
    with pytest.raises(OutboundTooLarge) as raised:
        policy.fetch(web.url("/file"), max_bytes=8)  # Content-Length says so
    assert raised.value.limit == 8
    with pytest.raises(OutboundTooLarge):
        policy.fetch(web.url("/unsized"), max_bytes=1000)  # counted while streaming


def test_connection_failures_and_timeouts(web):
    policy = OutboundPolicy(allowed_hosts=LOOPBACK, timeout=0.3)
    with pytest.raises(OutboundFailed, match="could not"):
        policy.fetch("http://127.0.0.1:1/", max_bytes=100)
    with pytest.raises(OutboundFailed, match="timed out"):
        policy.fetch(web.url("/slow"), max_bytes=100)


# ---------------------------------------------------------------- fixtures


class _FakeDNS(dict[str, Any]):
    calls: list[str]


@pytest.fixture
def fake_dns(monkeypatch) -> Iterator[_FakeDNS]:
    """Names mapped to addresses (a list, a callable giving one, or an exception to raise);
    other names and IP literals go to the real resolver."""
    table = _FakeDNS()
    table.calls = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in table:
            return real(host, port, *args, **kwargs)
        table.calls.append(name)
        answer = table[name]
        if isinstance(answer, Exception):
            raise answer
        found = answer() if callable(answer) else answer
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in found]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield table


@pytest.fixture
def no_dns(monkeypatch) -> None:
    """Fails the test if anything is resolved: the check must come first."""
    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing should be resolved or connected to")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class _Request:
    def __init__(self, method: str, path: str, headers: Any, body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body


class _Handler(http.server.BaseHTTPRequestHandler):
    recorder: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.recorder.requests.append(_Request(self.command, self.path, self.headers, body))
        parts = self.path.split("/", 3)
        if self.path == "/file":
            self._send(200, b"file body")
        elif self.path == "/echo":
            self._send(200, body)
        elif parts[1] == "redirect":
            location = parts[3] if "://" in parts[3] else "/" + parts[3]
            self._send(int(parts[2]), b"", Location=location)
        elif parts[1] == "loop":
            left = int(parts[2])
            self._send(302, b"", Location=f"/loop/{left - 1}" if left > 1 else "/file")
        elif self.path == "/unsized":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.close_connection = True
        elif self.path == "/slow":
            threading.Event().wait(1.0)
            self._send(200, b"late")
        else:
            self._send(404, b"not here")

    do_GET = do_POST = _answer  # noqa: N815 (http.server's naming)

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Recorder:
    """An HTTP(S) server on 127.0.0.1 that records the requests it gets."""

    def __init__(self, tls: Path | None = None) -> None:
        self.requests: list[_Request] = []
        self.sni: list[str | None] = []
        handler = type("Handler", (_Handler,), {"recorder": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
            context.sni_callback = self._sni
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _sni(self, sock: Any, name: str | None, context: Any) -> None:
        self.sni.append(name)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()
