"""Protected servers as users meet them: the demo started with each auth mode, driven over
HTTP by OWSLib (``headers=`` and ``auth=``) and by plain requests."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import owslib.ogcapi
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e_server import ROOT, Server, start_server
from lxml import etree
from owslib.ogcapi.processes import Processes
from owslib.util import Authentication, ServiceException
from owslib.wps import SYNC, WebProcessingService

from helpers import NS, free_port
from schemas import assert_valid
from support.idp import IdP
from support.proxy import BasicAuthProxy

WPSD = [sys.executable, "-m", "wpsd.cli"]


class Demo:
    """The demo on a port and folder of its own, which a test may stop and start again."""

    def __init__(self, tmp: Path, port: int | None = None, **env: str) -> None:
        self.tmp, self.port, self.env = tmp, port or free_port(), env
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}/wps"
        self.base = self.url.rsplit("/wps", 1)[0]

    def start(self) -> Server:
        self.proc, server = start_server(
            [sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(self.port)],
            self.tmp, self.port, **self.env)
        return server

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def users(self, *args: str) -> str:
        """``wpsd users ARGS`` on this server's store; what it prints."""
        done = subprocess.run([*WPSD, "users", *args], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "WPSD_DATA_DIR": str(self.tmp)})
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Any]:
    started: list[Demo] = []

    def start(name: str = "demo", **env: str) -> Demo:
        demo = Demo(tmp_path / name, **env)
        demo.tmp.mkdir()
        demo.start()
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.stop()


@pytest.fixture(autouse=True)
def _owslib_headers(monkeypatch):
    # owslib.ogcapi.API updates one module-level dict with each client's headers, so every
    # client would send the last one's token; each client of these tests gets a dict of its
    # own, and the module's is left as it was.
    monkeypatch.setattr(owslib.ogcapi, "REQUEST_HEADERS", dict(owslib.ogcapi.REQUEST_HEADERS))


def processes_client(base: str, **kwargs: Any) -> Processes:
    owslib.ogcapi.REQUEST_HEADERS = {"Accept": "application/json"}
    return Processes(base, **kwargs)


def run_async(wps: WebProcessingService, name: str, tmp: Path) -> tuple[str, str, str]:
    """An asynchronous say_hello through OWSLib, output by reference: (status location,
    output URL, the output as OWSLib downloaded it)."""
    execution = wps.execute("say_hello", [("name", name)], output=[("response", True)])
    assert execution.statusLocation.startswith(wps.url + "/jobs/")
    deadline = time.monotonic() + 60
    while not execution.isComplete():
        assert time.monotonic() < deadline, "the job did not end"
        execution.checkStatus(sleepSecs=0.2)
    assert execution.isSucceded(), execution.errors
    target = tmp / f"{name}.txt"
    execution.getOutput(str(target), identifier="response")
    href = execution.processOutputs[0].reference
    assert href.startswith(wps.url + "/outputs/")
    return execution.statusLocation, href, target.read_text()


def check_ogcapi(api: Processes, base: str, headers: dict[str, str], name: str) -> str:
    """An asynchronous job through owslib.ogcapi; returns its id, once it succeeded."""
    assert "say_hello" in [p["id"] for p in api.processes()]
    assert api.execute("say_hello", {"name": name}) == {"response": f"Hello {name}"}
    status = api.execute("say_hello", {"name": name}, async_=True)
    job = f"{base}/jobs/{status['jobID']}"
    deadline = time.monotonic() + 30
    while requests.get(job, headers=headers, timeout=10).json()["status"] != "successful":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return str(status["jobID"])


def status_of(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> int:
    response = requests.get(url, headers=headers, timeout=10, **kwargs)
    if response.headers.get("Content-Type", "").startswith("text/xml"):
        assert_valid(response.content)
    return response.status_code


# ---------------------------------------------------------------- API tokens


def test_tokens_with_owslib(servers, tmp_path):
    demo = servers(WPSD_AUTH="tokens", WPSD_PROCESS_ROLES='{"sleep": ["staff"]}')
    alice, bob = demo.users("add", "alice"), demo.users("add", "bob")
    root = demo.users("add", "root", "--admin")
    carol = demo.users("add", "carol", "--role", "staff")
    assert "root" in demo.users("list") and "yes" in demo.users("list")
    as_alice = {"Authorization": f"Bearer {alice}"}

    # Nobody: 401 with a challenge, which OWSLib reports.
    anonymous = requests.get(demo.url, params={"service": "WPS", "request": "GetCapabilities"},
                             timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith('Bearer realm="wpsd"')
    assert_valid(anonymous.content)
    with pytest.raises(ServiceException, match="Authentication is required"):
        WebProcessingService(demo.url, version="1.0.0")

    # headers=: capabilities, describe, execute, status polling and outputs carry the token.
    wps = WebProcessingService(demo.url, version="1.0.0", headers=as_alice)
    assert "say_hello" in [p.identifier for p in wps.processes]
    # sleep needs the role staff: hidden from alice and refused, seen and run by carol.
    assert "sleep" not in [p.identifier for p in wps.processes]
    staff = WebProcessingService(demo.url, version="1.0.0",
                                 headers={"Authorization": f"Bearer {carol}"})
    assert "sleep" in [p.identifier for p in staff.processes]
    assert staff.execute("sleep", [("delay", "0")], mode=SYNC).isSucceded()
    refused = requests.get(demo.url + "?service=WPS&version=1.0.0&request=Execute"
                           "&identifier=sleep&DataInputs=delay=0", headers=as_alice, timeout=10)
    assert refused.status_code == 400 and b"No process named 'sleep'" in refused.content
    assert status_of(demo.base + "/processes/sleep", as_alice) == 404
    assert wps.execute("say_hello", [("name", "sync")], mode=SYNC).processOutputs[0].data == [
        "Hello sync"]
    location, href, output = run_async(wps, "alice", tmp_path)
    assert output == "Hello alice"

    # auth=: HTTP Basic with the user's name and token as password works the same.
    basic = WebProcessingService(demo.url, version="1.0.0",
                                 auth=Authentication(username="bob", password=bob))
    his_location, his_href, his_output = run_async(basic, "bob", tmp_path)
    assert his_output == "Hello bob"

    # Each sees only their own.
    as_bob = {"Authorization": f"Bearer {bob}"}
    assert status_of(location, as_bob) == 404 and status_of(href, as_bob) == 404
    assert status_of(his_location, as_alice) == 404
    assert status_of(his_href, auth=("alice", alice)) == 404
    assert status_of(location, as_alice) == 200
    get_status = demo.url + "?service=WPS&version=2.0.0&request=GetStatus&jobID="
    job_id = location.rsplit("/", 1)[1]
    assert status_of(get_status + job_id, as_alice) == 200
    theirs = requests.get(get_status + job_id, headers=as_bob, timeout=10)
    assert theirs.status_code == 400 and b'exceptionCode="NoSuchJob"' in theirs.content
    root_sees = requests.get(demo.base + "/jobs?limit=1000", timeout=10,
                             headers={"Authorization": f"Bearer {root}"}).json()["jobs"]
    alice_sees = requests.get(demo.base + "/jobs?limit=1000", timeout=10,
                              headers=as_alice).json()["jobs"]
    ids = {location.rsplit("/", 1)[1], his_location.rsplit("/", 1)[1]}
    assert ids <= {j["jobID"] for j in root_sees}
    assert {j["jobID"] for j in alice_sees} & ids == {location.rsplit("/", 1)[1]}

    # owslib.ogcapi, with headers= and with auth=.
    api = processes_client(demo.base, headers=as_alice)
    job = check_ogcapi(api, demo.base, as_alice, "ogc")
    assert status_of(f"{demo.base}/jobs/{job}", as_bob) == 404
    basic_api = processes_client(demo.base, auth=Authentication(username="bob", password=bob))
    check_ogcapi(basic_api, demo.base, as_bob, "ogc-basic")

    # `wpsd jobs list --owner`
    listed = subprocess.run([*WPSD, "jobs", "list", "--owner", "alice"], cwd=ROOT, text=True,
                            capture_output=True, env={**os.environ, "WPSD_DATA_DIR": str(demo.tmp)})
    assert location.rsplit("/", 1)[1] in listed.stdout
    assert his_location.rsplit("/", 1)[1] not in listed.stdout

    # Tokens survive a restart; a removed user's stops working at once.
    demo.stop()
    demo.start()
    assert status_of(location, as_alice) == 200
    demo.users("remove", "bob")
    assert status_of(demo.url + "?service=WPS&request=GetCapabilities", as_bob) == 401
    renewed = demo.users("token", "alice")
    assert status_of(location, as_alice) == 401
    assert status_of(location, {"Authorization": f"Bearer {renewed}"}) == 200


# ---------------------------------------------------------------- OpenID Connect


@pytest.fixture
def idp() -> Iterator[IdP]:
    issuer = IdP()
    yield issuer
    issuer.close()


def test_oidc_with_owslib(servers, idp, tmp_path):
    settings = idp.settings()
    demo = servers(**{f"WPSD_{k.upper()}": v for k, v in settings.items()})
    alice = {"Authorization": f"Bearer {idp.token('alice')}"}
    wps = WebProcessingService(demo.url, version="1.0.0", headers=alice)
    location, href, output = run_async(wps, "alice", tmp_path)
    assert output == "Hello alice"
    # Clients that speak only HTTP Basic give the token as the password.
    token = idp.token("bob")
    basic = WebProcessingService(demo.url, version="1.0.0",
                                 auth=Authentication(username="bob", password=token))
    his_location, _, _ = run_async(basic, "bob", tmp_path)
    bob = {"Authorization": f"Bearer {token}"}
    assert status_of(location, bob) == 404 and status_of(href, bob) == 404
    assert status_of(his_location, alice) == 404
    admin = {"Authorization": "Bearer " + idp.token(
        "carol", realm_access={"roles": ["wpsd-admin"]})}
    assert status_of(location, admin) == 200 and status_of(his_location, admin) == 200
    wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for refused in (idp.token("alice", expires_in=-3600), idp.token("alice", aud="other"),
                    idp.token("alice", key=wrong_key)):
        response = requests.get(location, headers={"Authorization": f"Bearer {refused}"},
                                timeout=10)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    api = processes_client(demo.base, headers=alice)
    check_ogcapi(api, demo.base, alice, "ogc")
    # owslib.ogcapi also takes a requests auth object (OWSLib's WPS client, 0.35, ignores one:
    # it sends auth= as HTTP Basic only, hence the password above).
    delegated = processes_client(demo.base, auth=Authentication(auth_delegate=Bearer(token)))
    check_ogcapi(delegated, demo.base, bob, "ogc-delegated")


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


# ---------------------------------------------------------------- a trusted proxy


def test_proxy_with_owslib(tmp_path):
    port = free_port()
    proxy = BasicAuthProxy(port, {"alice": "alice-pw", "bob": "bob-pw"})
    try:
        # The documents' links go to the proxy, and the proxy is the only trusted address.
        demo = Demo(tmp_path / "proxied", port, WPSD_AUTH="proxy",
                    WPSD_TRUSTED_PROXIES="127.0.0.1", WPSD_URL=proxy.url + "/wps")
        demo.tmp.mkdir()
        demo.start()
        try:
            url = proxy.url + "/wps"
            wps = WebProcessingService(url, version="1.0.0",
                                       auth=Authentication(username="alice",
                                                           password="alice-pw"))
            location, href, output = run_async(wps, "alice", tmp_path)
            assert output == "Hello alice"
            assert status_of(location, auth=("bob", "bob-pw")) == 404
            assert status_of(href, auth=("bob", "bob-pw")) == 404
            # The proxy overwrites the header a client sends it.
            assert status_of(location, {"X-Forwarded-User": "alice"},
                             auth=("bob", "bob-pw")) == 404
            # Straight to wpsd, from an address that is not the proxy's: the header is ignored.
            direct = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                source_address=("127.0.0.2", 0))
            path = location.split(proxy.url, 1)[1]
            direct.request("GET", path, headers={"X-Forwarded-User": "alice"})
            response = direct.getresponse()
            body = response.read()
            direct.close()
            assert response.status == 401 and b"Authentication is required" in body
            assert_valid(body)
            root = etree.fromstring(requests.get(location, auth=("alice", "alice-pw"),
                                                 timeout=10).content)
            assert root.find("wps:Status/wps:ProcessSucceeded", NS) is not None
        finally:
            demo.stop()
    finally:
        proxy.close()
