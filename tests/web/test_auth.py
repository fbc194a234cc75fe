"""Callers and their jobs, through the WSGI app: each auth mode, jobs kept apart across the
three protocols and the HTML, admins, processes restricted to roles, cross-site refusals."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import uuid
from typing import Any

import demo
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from helpers import ASYNC, EXEC, NS, free_port
from sample_processes import processes as sample_processes
from schemas import assert_ogcapi_valid, assert_valid
from support.idp import AUDIENCE, IdP
from wpsd.backends.users import SQLUserStore

NS2 = {"wps": "http://www.opengis.net/wps/2.0", "ows": "http://www.opengis.net/ows/2.0"}
KVP2 = "/wps?service=WPS&version=2.0.0&request="
CAPS1 = "/wps?service=WPS&request=GetCapabilities"
OGC_NO_SUCH_JOB = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


class As:
    """One caller's requests: its headers (and address) on each; XML answers validated."""

    def __init__(self, client: Any, headers: dict[str, str] | None = None,
                 address: str = "127.0.0.1") -> None:
        self.client, self.headers, self.address = client, headers or {}, address

    def open(self, method: str, path: str, status: int | None = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, headers={**self.headers,
                                                                   **(headers or {})},
                                    environ_base={"REMOTE_ADDR": self.address}, **kwargs)
        response.get_data()  # read whole, so that a served file is closed
        response.close()
        if status is not None:
            assert response.status_code == status, (path, response.status_code,
                                                    response.data[:1000])
        if response.mimetype in ("text/xml", "application/xml"):
            assert_valid(response.data)
            response.xml = etree.fromstring(response.data)
        return response

    def get(self, path: str, status: int | None = 200, **kwargs: Any) -> Any:
        return self.open("GET", path, status, **kwargs)

    def post(self, path: str, status: int | None = 200, **kwargs: Any) -> Any:
        return self.open("POST", path, status, **kwargs)

    def delete(self, path: str, status: int | None = 200, **kwargs: Any) -> Any:
        return self.open("DELETE", path, status, **kwargs)


def execute2(process: str, inputs: str = "", mode: str = "async") -> str:
    return f"""<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0"
      xmlns:ows="http://www.opengis.net/ows/2.0" service="WPS" version="2.0.0" mode="{mode}"
      response="document"><ows:Identifier>{process}</ows:Identifier>{inputs}</wps:Execute>"""


def message(value: str) -> str:
    return (f'<wps:Input id="message"><wps:Data><wps:LiteralValue>{value}</wps:LiteralValue>'
            '</wps:Data></wps:Input>')


def code1(response: Any) -> str:
    return response.xml.find("ows:Exception", NS).get("exceptionCode")


def code2(response: Any) -> str:
    return response.xml.find("ows:Exception", NS2).get("exceptionCode")


def start_jobs(user: As) -> dict[str, str]:
    """One job with each protocol (the WPS 1.0.0 one keeps its output by reference), run to
    the end: protocol -> job id, and ``href`` -> the output's URL."""
    root = user.get("/wps?" + EXEC + "say_hello&DataInputs=name=mine"
                    "&ResponseDocument=response@asReference=true" + ASYNC).xml
    jobs = {"wps1": root.get("statusLocation").rsplit("/", 1)[1]}
    created = user.post("/processes/echo/execution", 201, json={"inputs": {"message": "m"}},
                        headers={"Prefer": "respond-async"})
    jobs["ogcapi"] = created.get_json()["jobID"]
    info = user.post("/wps", data=execute2("echo", message("m")), content_type="text/xml").xml
    jobs["wps2"] = info.findtext("wps:JobID", namespaces=NS2)
    for job_id in jobs.values():
        deadline = time.monotonic() + 60
        while user.get(f"/jobs/{job_id}").get_json()["status"] != "successful":
            assert time.monotonic() < deadline, f"job {job_id} did not end"
            time.sleep(0.1)
    final = user.get(f"/wps/jobs/{jobs['wps1']}").xml
    jobs["href"] = final.find(".//wps:Reference", NS).get("href")
    return jobs


def assert_unknown(user: As, job_id: str, href: str | None = None) -> None:
    """Every protocol answers as for a job that never existed."""
    assert user.get(f"/wps/jobs/{job_id}", 404).xml.find("ows:Exception", NS) is not None
    for operation in ("GetStatus", "GetResult", "Dismiss"):
        response = user.get(f"{KVP2}{operation}&jobID={job_id}", 400)
        assert code2(response) == "NoSuchJob"
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/results", f"/jobs/{job_id}/events"):
        document = user.get(path, 404).get_json()
        assert document["type"] == OGC_NO_SUCH_JOB, path
    assert user.delete(f"/jobs/{job_id}", 404).get_json()["type"] == OGC_NO_SUCH_JOB
    assert user.get(f"/jobs/{job_id}?f=html", 404)
    listed = user.get("/jobs?limit=1000").get_json()["jobs"]
    assert job_id not in [j["jobID"] for j in listed]
    assert job_id not in user.get("/jobs?f=html&limit=1000").get_data(as_text=True)
    if href is not None:
        assert user.get(href, 404)


# ---------------------------------------------------------------- API tokens


@pytest.fixture
def tokens(make_app) -> tuple[Any, dict[str, str]]:
    """A server with auth = tokens and the users alice, bob and root (an admin)."""
    app = make_app(auth="tokens")
    users = SQLUserStore(app.extensions["wpsd"].store)
    issued = {"alice": users.add("alice"), "bob": users.add("bob"),
              "root": users.add("root", admin=True)}
    return app, issued


def test_unauthenticated_requests_get_401_with_a_challenge(tokens):
    app, _ = tokens
    anyone = As(app.test_client())
    for query in ("service=WPS&request=GetCapabilities",
                  "service=WPS&version=1.0.0&request=DescribeProcess&identifier=ALL"):
        response = anyone.get("/wps?" + query, 401)
        # One challenge a header: browsers read only the first of a header's challenges.
        assert response.headers.getlist("WWW-Authenticate") == [
            'Bearer realm="wpsd"', 'Basic realm="wpsd", charset="UTF-8"']
        assert code1(response) == "NoApplicableCode"
    report2 = anyone.get(KVP2 + "GetCapabilities", 401)
    assert report2.xml.tag == "{http://www.opengis.net/ows/2.0}ExceptionReport"
    for path in ("/", "/processes", "/jobs", "/api", "/jobs/x", "/no/such/path"):
        response = anyone.get(path, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert_ogcapi_valid(response.get_json(), "exception")
    assert anyone.get("/static/wpsd.css").status_code == 200  # the pages' style is no secret
    assert anyone.post("/processes/echo/execution", 401, json={"inputs": {}})


def test_wrong_tokens_are_invalid_tokens(tokens):
    app, issued = tokens
    client = app.test_client()
    for headers in (bearer("wpsd_nope"), bearer(issued["alice"] + "x"),
                    basic("bob", issued["alice"]), basic("alice", "")):
        response = As(client, headers).get(CAPS1, 401)
        bearer_challenge, basic_challenge = response.headers.getlist("WWW-Authenticate")
        assert 'error="invalid_token"' in bearer_challenge
        assert basic_challenge.startswith('Basic realm="wpsd"')
    for headers in (bearer(issued["alice"]), basic("alice", issued["alice"])):
        assert As(client, headers).get(CAPS1).xml.tag.endswith("Capabilities")


def test_two_users_jobs_are_kept_apart(tokens):
    app, issued = tokens
    client = app.test_client()
    alice, bob = As(client, bearer(issued["alice"])), As(client, basic("bob", issued["bob"]))
    hers, his = start_jobs(alice), start_jobs(bob)
    assert alice.get(hers["href"]).data == b"Hello mine"
    for protocol in ("wps1", "ogcapi", "wps2"):
        assert_unknown(bob, hers[protocol], hers["href"] if protocol == "wps1" else None)
        assert_unknown(alice, his[protocol], his["href"] if protocol == "wps1" else None)
    mine = {j["jobID"] for j in alice.get("/jobs?limit=1000").get_json()["jobs"]}
    assert mine == {hers["wps1"], hers["ogcapi"], hers["wps2"]}
    page = alice.get("/jobs?f=html").get_data(as_text=True)
    assert all(hers[p][:8] in page for p in ("wps1", "ogcapi", "wps2"))
    assert '<span class="user" id="user">alice</span>' in page
    # Another user's job is not even a hint: the answers are those for an id never used.
    never = str(uuid.uuid4())
    for path in ("/jobs/{}", "/wps/jobs/{}", KVP2 + "GetStatus&jobID={}"):
        theirs = bob.get(path.format(hers["wps2"]), None)
        unknown = bob.get(path.format(never), None)
        assert theirs.status_code == unknown.status_code
        assert theirs.data.replace(hers["wps2"].encode(), b"ID") == \
            unknown.data.replace(never.encode(), b"ID")
    # Nor did bob's attempts change anything: alice's jobs are still there, not dismissed.
    assert alice.get(f"/jobs/{hers['wps2']}").get_json()["status"] == "successful"
    assert alice.get(f"{KVP2}GetResult&jobID={hers['wps2']}").xml.tag.endswith("Result")


def test_an_admin_sees_and_dismisses_every_job(tokens):
    app, issued = tokens
    client = app.test_client()
    alice, root = As(client, bearer(issued["alice"])), As(client, bearer(issued["root"]))
    hers = start_jobs(alice)
    listed = {j["jobID"] for j in root.get("/jobs?limit=1000").get_json()["jobs"]}
    assert {hers["wps1"], hers["ogcapi"], hers["wps2"]} <= listed
    assert root.get(hers["href"]).data == b"Hello mine"
    assert root.get(f"/wps/jobs/{hers['wps1']}").xml.get("statusLocation")
    assert root.get(f"{KVP2}GetStatus&jobID={hers['wps2']}").xml.tag.endswith("StatusInfo")
    assert root.delete(f"/jobs/{hers['ogcapi']}").get_json()["status"] == "dismissed"
    assert root.get(f"{KVP2}Dismiss&jobID={hers['wps2']}").xml.tag.endswith("StatusInfo")
    assert alice.get(f"/jobs/{hers['ogcapi']}").get_json()["status"] == "dismissed"
    # The job store says whose each job is.
    store = app.extensions["wpsd"].store
    assert {store.get(j).owner for j in (hers["wps1"], hers["ogcapi"], hers["wps2"])} == {
        "alice"}
    assert store.list_jobs(owner="root") == []


def test_sync_outputs_by_reference_belong_to_their_caller(tokens):
    app, issued = tokens
    client = app.test_client()
    alice, bob, root = (As(client, bearer(issued[n])) for n in ("alice", "bob", "root"))
    root1 = alice.get("/wps?" + EXEC + "say_hello&DataInputs=name=sync"
                      "&ResponseDocument=response@asReference=true").xml
    href = root1.find(".//wps:Reference", NS).get("href")
    assert alice.get(href).data == b"Hello sync"
    assert bob.get(href, 404) and root.get(href).data == b"Hello sync"
    response = alice.post("/processes/echo/execution", json={
        "inputs": {"message": "by ref"},
        "outputs": {"message": {"transmissionMode": "reference"}}, "response": "document"})
    link = response.get_json()["message"]["href"]
    assert alice.get(link).data == b"by ref" and bob.get(link, 404)


def test_users_and_their_tokens_outlive_the_app(make_app, settings):
    first = make_app(auth="tokens")
    token = SQLUserStore(first.extensions["wpsd"].store).add("carol", roles=("staff",))
    again = make_app(auth="tokens")
    assert As(again.test_client(), bearer(token)).get(CAPS1).status_code == 200


# ---------------------------------------------------------------- processes and roles


def restricted_processes() -> list:
    """The demo's and the samples' processes, say_hello restricted to the role staff."""
    hello = dataclasses.replace(demo.say_hello, roles=("staff",))
    return [hello, *(p for p in demo.processes if p is not demo.say_hello), *sample_processes]


def offered(user: As) -> dict[str, set[str]]:
    """The process ids each protocol (and the HTML) shows this caller."""
    caps1 = user.get(CAPS1).xml.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS)
    caps2 = user.get(KVP2 + "GetCapabilities").xml.xpath(
        "//wps:ProcessSummary/ows:Identifier/text()", namespaces=NS2)
    all1 = user.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=ALL"
                    ).xml.xpath("//ProcessDescription/ows:Identifier/text()", namespaces=NS)
    ogc = [p["id"] for p in user.get("/processes?limit=1000").get_json()["processes"]]
    api = [path.split("/")[2] for path in user.get("/api").get_json()["paths"]
           if path.endswith("/execution")]
    page = user.get("/processes?f=html&limit=1000").get_data(as_text=True)
    html = [i for i in {*ogc, "say_hello"} if f"/processes/{i}?f=html" in page]
    return {"wps1": set(caps1), "wps2": set(caps2), "describe": set(all1), "ogcapi": set(ogc),
            "api": set(api), "html": set(html)}


def test_restricted_processes_are_hidden_and_refused(make_app):
    app = make_app(restricted_processes(), auth="tokens",
                   process_roles=json.dumps({"ultimate_question": ["staff", "faculty"]}))
    users = SQLUserStore(app.extensions["wpsd"].store)
    client = app.test_client()
    staff = As(client, bearer(users.add("sam", roles=("staff",))))
    guest = As(client, bearer(users.add("gus")))
    admin = As(client, bearer(users.add("ada", admin=True)))
    for user in (guest, admin):  # an admin sees every job, not every process
        for where, ids in offered(user).items():
            assert "say_hello" not in ids and "ultimate_question" not in ids, where
            assert "echo" in ids, where
    for where, ids in offered(staff).items():
        assert {"say_hello", "ultimate_question", "echo"} <= ids, where
    # Refused as unknown, by every protocol.
    for process in ("say_hello", "ultimate_question"):
        for query in (f"DescribeProcess&identifier={process}",
                      f"Execute&identifier={process}&DataInputs=name=x"):
            response = guest.get("/wps?service=WPS&version=1.0.0&request=" + query, 400)
            assert code1(response) == "InvalidParameterValue"
            assert response.xml.find("ows:Exception", NS).get("locator") == "Identifier"
        assert code2(guest.get(f"{KVP2}DescribeProcess&identifier={process}", 400)) == \
            "NoSuchProcess"
        assert code2(guest.post("/wps", 400, data=execute2(process, mode="sync"),
                                content_type="text/xml")) == "NoSuchProcess"
        assert guest.get(f"/processes/{process}", 404).get_json()["type"].endswith(
            "no-such-process")
        assert guest.post(f"/processes/{process}/execution", 404, json={}).get_json()[
            "type"].endswith("no-such-process")
        assert guest.get(f"/processes/{process}?f=html", 404)
    # The same answers as for a process that does not exist.
    hidden = guest.get("/processes/say_hello", 404).get_json()
    missing = guest.get("/processes/no_such", 404).get_json()
    assert hidden["type"] == missing["type"]
    hello = staff.get("/wps?" + EXEC + "say_hello&DataInputs=name=staff").xml
    assert hello.xpath("//wps:LiteralData/text()", namespaces=NS) == ["Hello staff"]
    assert staff.post("/processes/ultimate_question/execution", json={}).data == b"42"


def test_a_caller_offered_no_process_gets_a_valid_refusal(make_app):
    # Capabilities list at least one process (both versions' schemas): with none open to a
    # caller, a valid exception report says so, and the OGC API's list is empty.
    app = make_app([dataclasses.replace(demo.say_hello, roles=("staff",))], auth="tokens")
    guest = As(app.test_client(), bearer(SQLUserStore(app.extensions["wpsd"].store).add("gus")))
    for query in (CAPS1, KVP2 + "GetCapabilities",
                  "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=ALL",
                  KVP2 + "DescribeProcess&identifier=ALL"):
        refused = guest.get(query, 403)  # As validates every XML answer
        text = refused.xml.findtext(".//{*}ExceptionText")
        assert refused.xml.find("{*}Exception").get("exceptionCode") == "NoApplicableCode"
        assert "No process of this server is offered to gus" in text
    assert guest.get("/processes").get_json()["processes"] == []
    # A server of no process at all is its operator's mistake, not the caller's.
    empty = As(make_app([]).test_client())
    for query in (CAPS1, KVP2 + "DescribeProcess&identifier=ALL"):
        assert "serves no processes" in empty.get(query, 500).xml.findtext(".//{*}ExceptionText")


def test_with_auth_none_a_restricted_process_is_hidden(make_app, caplog):
    app = make_app(restricted_processes())
    anyone = As(app.test_client())
    assert "say_hello" not in offered(anyone)["wps1"]
    assert anyone.get("/processes/say_hello", 404)
    assert "nobody holds one, so it is hidden" in caplog.text


# ---------------------------------------------------------------- OpenID Connect


@pytest.fixture
def idp():
    issuer = IdP()
    yield issuer
    issuer.close()


@pytest.fixture
def oidc(make_app, idp) -> Any:
    return make_app(**idp.settings())


def test_oidc_tokens_are_checked(oidc, idp):
    client = oidc.test_client()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "expired": idp.token(expires_in=-3600),
        "wrongly signed": idp.token(key=other_key),
        "for another audience": idp.token(aud="another-service"),
        "of another issuer": idp.token(iss="https://evil.example/realms/wpsd"),
        "unsigned": _unsigned(idp.token()),
        "symmetric": idp.token(key="a secret shared by whoever has the public key",
                               algorithm="HS256"),
        "without a user": idp.token(sub=""),
        "without expiry": _without(idp, "exp"),
    }
    for why, token in refused.items():
        response = As(client, bearer(token)).get("/processes", 401)
        challenge = response.headers["WWW-Authenticate"]
        assert 'error="invalid_token"' in challenge, why
        assert_ogcapi_valid(response.get_json(), "exception")
    assert "expired" in As(client, bearer(refused["expired"])).get(
        "/jobs", 401).headers["WWW-Authenticate"]
    assert As(client, bearer(idp.token())).get("/processes").status_code == 200
    # A client that speaks HTTP Basic only gives the token as its password.
    assert As(client, basic("anyone", idp.token())).get(CAPS1).status_code == 200
    assert As(client).get("/processes", 401).headers["WWW-Authenticate"] == 'Bearer realm="wpsd"'


def _unsigned(token: str) -> str:
    header, payload, _ = token.split(".")
    none = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "key-1"}).encode())
    return none.decode().rstrip("=") + "." + payload + "."


def _without(idp: IdP, claim: str) -> str:
    import jwt

    payload = jwt.decode(idp.token(), options={"verify_signature": False})
    del payload[claim]
    return jwt.encode(payload, idp.key, algorithm="RS256", headers={"kid": idp.kid})


def test_oidc_users_roles_and_admins(oidc, idp):
    client = oidc.test_client()
    alice = As(client, bearer(idp.token("alice")))
    bob = As(client, bearer(idp.token("bob", realm_access={"roles": ["staff"]})))
    admin = As(client, bearer(idp.token("carol", realm_access={"roles": ["wpsd-admin"]})))
    hers, his = start_jobs(alice), start_jobs(bob)
    assert_unknown(bob, hers["wps1"], hers["href"])
    assert_unknown(alice, his["ogcapi"])
    everything = {j["jobID"] for j in admin.get("/jobs?limit=1000").get_json()["jobs"]}
    assert {hers["wps2"], his["wps2"]} <= everything
    assert admin.get(his["href"]).data == b"Hello mine"
    assert oidc.extensions["wpsd"].store.get(hers["wps1"]).owner == "alice"


def test_oidc_keys_come_from_the_configured_url_only(oidc, idp):
    client = oidc.test_client()
    assert As(client, bearer(idp.token())).get("/processes").status_code == 200
    fetched = len(idp.requests)
    assert fetched == 1
    attacker = IdP()  # a key set of the attacker's, which the token points to
    try:
        forged = attacker.token(kid="key-1", headers={"jku": attacker.jwks_url,
                                                     "x5u": attacker.jwks_url})
        assert As(client, bearer(forged)).get("/processes", 401)
        assert attacker.requests == []
        # Made-up key ids make the server fetch the key set again at most every 30 s.
        for n in range(5):
            assert As(client, bearer(attacker.token(kid=f"made-up-{n}"))).get("/processes", 401)
        assert len(idp.requests) <= fetched + 1
    finally:
        attacker.close()


def test_oidc_key_rotation(oidc, idp, monkeypatch):
    client = oidc.test_client()
    assert As(client, bearer(idp.token())).get("/processes").status_code == 200
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.published.append(("key-2", new_key.public_key()))
    monkeypatch.setattr("wpsd.web.oidc.MIN_REFETCH", 0.0)
    assert As(client, bearer(idp.token(key=new_key, kid="key-2"))).get("/processes").status_code \
        == 200


def test_oidc_without_its_key_set_is_unavailable_not_unauthorised(make_app, idp):
    app = make_app(**{**idp.settings(),
                      "oidc_jwks_url": f"http://127.0.0.1:{free_port()}/certs"})
    response = As(app.test_client(), bearer(idp.token())).get("/processes", 503)
    assert "WWW-Authenticate" not in response.headers
    assert_ogcapi_valid(response.get_json(), "exception")


def test_oidc_settings_are_checked(idp):
    from wpsd import Settings

    with pytest.raises(ValueError, match="oidc_audience"):
        Settings(auth="oidc", oidc_issuer="https://i", oidc_jwks_url="https://i/k")
    with pytest.raises(ValueError, match="https"):
        Settings(auth="oidc", oidc_issuer="https://i", oidc_audience=AUDIENCE,
                 oidc_jwks_url="http://idp.example/certs")
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(**{**idp.settings(), "oidc_algorithms": ("HS256",)})


# ---------------------------------------------------------------- a trusted proxy


@pytest.fixture
def proxied(make_app) -> Any:
    return make_app(auth="proxy", trusted_proxies=("10.0.0.0/24",),
                    proxy_roles_header="X-Forwarded-Groups", admin_users=("root",))


def test_proxy_user_header_only_from_trusted_proxies(proxied):
    client = proxied.test_client()
    alice = As(client, {"X-Forwarded-User": "alice"}, address="10.0.0.7")
    bob = As(client, {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff, x"},
             address="10.0.0.8")
    hers = start_jobs(alice)
    assert_unknown(bob, hers["wps2"], hers["href"])
    # The same header from anywhere else is ignored: no user, so 401.
    for address in ("127.0.0.1", "10.0.1.7", "::1"):
        spoofed = As(client, {"X-Forwarded-User": "alice"}, address=address)
        assert spoofed.get(f"/jobs/{hers['ogcapi']}", 401)
        assert spoofed.get(hers["href"], 401)
    assert As(client, address="10.0.0.7").get("/jobs", 401)  # the proxy named nobody
    root = As(client, {"X-Forwarded-User": "root"}, address="10.0.0.9")
    assert root.get(f"/jobs/{hers['ogcapi']}").get_json()["status"] == "successful"
    assert proxied.extensions["wpsd"].store.get(hers["wps1"]).owner == "alice"


def test_remote_user_of_the_server_in_front(make_app):
    app = make_app(auth="proxy", proxy_user_header="REMOTE_USER")
    client = app.test_client()
    assert client.get("/jobs", environ_base={"REMOTE_USER": "dora"}).status_code == 200
    # A header of that name is not the variable.
    assert client.get("/jobs", headers={"Remote-User": "dora"}).status_code == 401


def test_proxy_settings_are_checked():
    from wpsd import Settings

    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(auth="proxy")
    with pytest.raises(ValueError, match="no address"):
        Settings(auth="proxy", trusted_proxies=("proxy.example.org",))
    with pytest.raises(ValueError, match="auth"):
        Settings(auth="kerberos")


# ---------------------------------------------------------------- browsers


@pytest.mark.parametrize("mode", ["none", "tokens-basic", "proxy"])
def test_cross_site_requests_with_ambient_credentials_are_refused(make_app, mode):
    changes: dict[str, Any] = {"none": {}, "tokens-basic": {"auth": "tokens"},
                               "proxy": {"auth": "proxy", "trusted_proxies": ("127.0.0.1",)}
                               }[mode]
    app = make_app(**changes)
    headers: dict[str, str] = {}
    if mode == "tokens-basic":
        headers = basic("alice", SQLUserStore(app.extensions["wpsd"].store).add("alice"))
    elif mode == "proxy":
        headers = {"X-Forwarded-User": "alice"}
    user = As(app.test_client(), headers)
    job = user.post("/processes/echo/execution", 201, json={"inputs": {"message": "m"}},
                    headers={"Prefer": "respond-async"}).get_json()["jobID"]
    forged = [
        ("POST", "/processes/echo/execution", {"Sec-Fetch-Site": "cross-site"}),
        ("POST", "/processes/echo/execution", {"Sec-Fetch-Site": "same-site"}),
        ("POST", "/processes/echo/execution", {"Origin": "https://evil.example"}),
        ("POST", "/processes/echo/execution", {"Origin": "null"}),
        ("DELETE", f"/jobs/{job}", {"Sec-Fetch-Site": "cross-site"}),
        ("POST", "/wps", {"Sec-Fetch-Site": "cross-site"}),
        ("GET", f"{KVP2}Dismiss&jobID={job}", {"Sec-Fetch-Site": "cross-site"}),
        ("GET", f"/wps?service=WPS&version=2.0.0&REQUEST=dismiss&jobID={job}",
         {"Origin": "https://evil.example"}),
        ("GET", "/wps?" + EXEC + "say_hello&DataInputs=name=x", {"Sec-Fetch-Site": "cross-site"}),
    ]
    for method, path, extra in forged:
        response = user.open(method, path, 403, headers=extra, json={"inputs": {}}
                             if method == "POST" and path != "/wps" else None,
                             data=execute2("echo") if path == "/wps" else None,
                             content_type="text/xml" if path == "/wps" else None)
        assert b"another site" in response.data
    assert user.get(f"/jobs/{job}").get_json()["status"] != "dismissed"
    # Reading is no forgery, and neither are this server's own pages or the user's own typing.
    reading = {"Sec-Fetch-Site": "cross-site"}
    assert user.get(f"/jobs/{job}", headers=reading)
    assert user.get(f"{KVP2}GetStatus&jobID={job}", headers=reading)
    assert user.get(CAPS1, headers=reading)
    for own in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                {"Origin": "http://localhost"}, {}):
        assert user.post("/processes/echo/execution", json={"inputs": {"message": "m"}},
                         headers=own).data == b"m"


def test_cross_site_requests_with_a_bearer_token_are_served(tokens):
    app, issued = tokens
    # A page of another site cannot send this header (no CORS preflight is granted), so a
    # request that carries it was not forged by one.
    user = As(app.test_client(), {**bearer(issued["alice"]), "Sec-Fetch-Site": "cross-site",
                                  "Origin": "https://portal.example"})
    assert user.post("/processes/echo/execution", json={"inputs": {"message": "m"}}
                     ).data == b"m"


def test_the_job_page_of_a_user(tokens):
    app, issued = tokens
    alice = As(app.test_client(), bearer(issued["alice"]))
    hers = start_jobs(alice)
    page = alice.get(f"/jobs/{hers['ogcapi']}?f=html").get_data(as_text=True)
    assert 'id="dismiss"' in page and "alice" in page
    assert alice.get(f"/jobs/{hers['ogcapi']}/results?f=html").status_code == 200
