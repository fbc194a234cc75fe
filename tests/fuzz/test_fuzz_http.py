"""Fuzzing the HTTP layer through the WSGI app: every answer is a standard one, never a crash.

For every generated request (WPS 1.0.0 and 2.0 KVP and XML, OGC API execute JSON, odd methods,
headers and paths) the answer must

* not be a 5xx where the client is at fault: 500 only for a process that fails by design
  (``fail``, ``bad_return``) or that leaves out an output the client asked for (the process
  is at fault, not the request), 501 only for OperationNotSupported and OptionNotSupported
  (OWS Common table 28), 503 only for ServerBusy;
* carry an error of the request's kind and version: an OWS 1.1 ``ows:ExceptionReport``
  (version 1.0.0) for WPS 1.0.0, an OWS 2.0 one for WPS 2.0 (the ``version`` parameter or the
  root namespace says which; either for GetCapabilities, whose version is negotiated, and for
  a body the server cannot read), an OGC API exception object (``type``, ``title``,
  ``status``) for every path an OGC API route serves; a plain 404 or 405 only for paths no
  route serves and for output files; XML error bodies, and every WPS document, valid against
  the OGC schemas, JSON ones against exception.yaml;
* hold no traceback, no file path and no exception class name (``KeyError``, ...) that the
  client did not send itself;

and after it the server must still answer a plain GetCapabilities.

The requests come from the strategies of ``test_fuzz_parsers.py``, limited to processes that
end at once and without their waiting times (``pause``, ``delay``): executions are real, in
the app's worker process. One app serves every example of the module, so that its worker
starts once; job submissions are kept few. References point at ``127.0.0.1:1``, which the
settings allow and which refuses the connection at once.

Budget and longer runs: ``tests/fuzz/conftest.py`` (``HYPOTHESIS_PROFILE=dev`` or ``long``,
``WPSD_FUZZ_EXAMPLES=N``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from lxml import etree
from test_fuzz_parsers import (
    NOT_IMPLEMENTED,
    NS_OWS1,
    NS_OWS2,
    NS_WPS1,
    NS_WPS2,
    POOL,
    budget,
    garbage_bytes,
    nasty,
    ogcapi_body,
    quick_processes,
    random_queries,
    wps1_kvp,
    wps1_xml,
    wps2_kvp,
    wps2_xml,
)
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from schemas import assert_ogcapi_valid, assert_valid
from wpsd import Settings, create_app
from wpsd.web.app import close_app

QUICK = quick_processes()
#: processes that fail by design: running them is the one way to a 500
FAILING = {"fail", "bad_return"}
CAPABILITIES = "/wps?service=WPS&request=GetCapabilities"
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for every example of the module: its worker process starts once."""
    tmp = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        data_dir=tmp, heartbeat_interval=0.2,
        # References to 127.0.0.1:1 get as far as a connection, which is refused at once.
        allowed_reference_hosts=("127.0.0.1",), reference_timeout=2.0,
        # One warm worker; a request that still ran long would be stopped and reported.
        max_sync_executions=1, job_time_limit=10.0, max_parallel_jobs=2,
    )
    app = create_app(settings, processes=QUICK)
    yield app
    close_app(app, kill_jobs=True)


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app: Flask) -> FlaskClient:
    return fuzz_app.test_client()


# ---------------------------------------------------------------- the oracle

_CLASS_NAME = re.compile(r"\b(?:[A-Z][A-Za-z0-9_]*)?(?:Error|Exception|Warning)\b")
_TRACEBACK = re.compile(r'Traceback \(most recent|File "[^"]*", line \d+|\.py", line \d+'
                        r"|/site-packages/|/src/wpsd/")
_TAG = re.compile(r"<[^>]*>")


def readable_text(body: bytes, mimetype: str) -> str:
    """What a reader of the body sees: texts and attribute values of XML, strings of JSON,
    HTML without its tags; element names such as ows:Exception are not messages."""
    text = body.decode("utf-8", "replace")
    try:
        if mimetype.endswith("xml"):
            root = etree.fromstring(body, _SAFE_PARSER)
            parts = [*root.itertext()]
            parts += [v for element in root.iter() for v in element.attrib.values()]
            return "\n".join(parts)
        if mimetype.endswith("json"):
            return "\n".join(_json_strings(json.loads(body)))
    except (etree.XMLSyntaxError, ValueError):
        return text
    if mimetype == "text/html":
        return _TAG.sub(" ", text)
    return text


def _json_strings(node: Any) -> list[str]:
    found, pending = [], [node]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def assert_no_leak(body: bytes, mimetype: str, sent: str) -> None:
    """No traceback and no exception class name, unless the client sent that very text."""
    text = readable_text(body, mimetype)
    traces = [m.group() for m in _TRACEBACK.finditer(text) if m.group() not in sent]
    assert not traces, f"the body shows a traceback or a source path: {traces}\n{text[:2000]}"
    names = {m.group() for m in _CLASS_NAME.finditer(text)} - set(_CLASS_NAME.findall(sent))
    assert not names, f"the body names exception classes {sorted(names)}:\n{text[:2000]}"


def error_of(response: Any, kind: str) -> tuple[str, str]:
    """Check an error body of the kind (wps1, wps2 or ogcapi): its (exception code, text)."""
    body = response.get_data()
    if kind == "ogcapi":
        assert response.mimetype == "application/json", (response.mimetype, body[:500])
        document = json.loads(body)
        assert {"type", "title", "status"} <= set(document), document
        assert document["status"] == response.status_code, document
        assert_ogcapi_valid(document, "exception")
        return str(document["title"]), str(document.get("detail", ""))
    assert response.mimetype == "text/xml", (response.mimetype, body[:500])
    root = etree.fromstring(body, _SAFE_PARSER)
    namespace, version = (NS_OWS2, "2.0.0") if kind == "wps2" else (NS_OWS1, "1.0.0")
    assert root.tag == f"{{{namespace}}}ExceptionReport", (kind, body[:1000])
    assert root.get("version") == version, body[:1000]
    assert_valid(body)
    exception = root.find(f"{{{namespace}}}Exception")
    assert exception is not None, body[:1000]
    return str(exception.get("exceptionCode")), " ".join(exception.itertext())


def _error(response: Any, kinds: Sequence[str]) -> tuple[str, str]:
    """The (code, text) of an error answer of one of the kinds; ("", "") for "other"."""
    for n, kind in enumerate(kinds):
        if kind == "other":
            return "", ""
        try:
            return error_of(response, kind)
        except AssertionError:
            if n == len(kinds) - 1:
                raise
    raise AssertionError("no kind of error given")


#: a process that leaves out an output the client asked for fails on the server's side
_NO_OUTPUT = re.compile(r"Process '[^']*' produced no '[^']*'")


def check(response: Any, kinds: Sequence[str], sent: str, may_fail: bool = False,
          method: str = "GET") -> None:
    """The properties every answer has (see the module docstring).

    ``kinds``: the error kinds the request may be answered with ("wps1", "wps2", "ogcapi";
    "other" for paths no protocol owns, whose errors may be plain HTTP ones); ``may_fail``:
    the request runs a process that fails by design.
    """
    status, body = response.status_code, response.get_data()
    note(f"answer: {status} {response.mimetype} {body[:1500]!r}")
    assert_no_leak(body, response.mimetype or "", sent)
    code = text = ""
    if status >= 400 and method != "HEAD":
        code, text = _error(response, kinds)
    elif status < 300 and response.mimetype == "text/xml" and body:
        root = etree.fromstring(body, _SAFE_PARSER)
        if etree.QName(root).namespace in (NS_WPS1, NS_WPS2, NS_OWS1, NS_OWS2):
            assert_valid(body)  # a WPS document, not a raw output of XML
    if status >= 500:
        server_side = may_fail or (code == "NoApplicableCode" and _NO_OUTPUT.search(text))
        allowed = (status == 501 and code in NOT_IMPLEMENTED) or \
            (status == 503 and code == "ServerBusy") or (status == 500 and server_side)
        assert allowed, f"{status} {code} for a request the server should refuse with a 4xx"


def assert_alive(client: FlaskClient) -> None:
    response = client.get(CAPABILITIES)
    assert response.status_code == 200, response.data[:1000]
    assert b"Capabilities" in response.data


def kvp_kinds(query: str) -> list[str]:
    """The error kinds a WPS GET request may get: OWS 2.0 when it says version=2.0.0; for
    GetCapabilities, whose version is negotiated, either."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        params.setdefault(name.strip().lower(), value)
    if params.get("request", "").lower() == "getcapabilities":
        return ["wps1", "wps2"]
    return ["wps2"] if params.get("version") == "2.0.0" else ["wps1"]


def xml_kinds(body: bytes) -> tuple[list[str], bool]:
    """The error kinds a WPS POST request may get (its root namespace says which; a document
    the server cannot read, either), and whether it runs a process that fails by design."""
    try:
        root = etree.fromstring(body, _SAFE_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return ["wps1", "wps2"], False
    if not isinstance(root.tag, str) or root.getroottree().docinfo.doctype:
        return ["wps1", "wps2"], False  # refused before its namespace is looked at
    identifiers = {(e.text or "").strip() for e in root.iter() if isinstance(e.tag, str)
                   and etree.QName(e).localname == "Identifier"}
    kind = "wps2" if etree.QName(root).namespace == NS_WPS2 else "wps1"
    return [kind], bool(identifiers & FAILING)


def sent_text(*parts: str | bytes) -> str:
    """Everything the client sent, raw and decoded, for telling echoes from leaks."""
    texts = [p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p in parts]
    return "\n".join(texts + [unquote_plus(t) for t in texts])


# ---------------------------------------------------------------- headers

_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_LATIN1_POOL = [s for s in POOL if s.isprintable() and all(ord(c) < 256 for c in s)]
header_values = st.sampled_from(_LATIN1_POOL) | _HEADER_TEXT
ACCEPT = ["*/*", "application/json", "text/html", "text/xml", "application/xml",
          "text/html, application/json;q=0.9", "application/json;q=0", "text/*;q=0.5",
          "image/png", "application/json;q=abc", ";;;", "*/*;q=1000"]
CONTENT_TYPES = ["application/json", "text/xml", "application/xml", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "multipart/form-data", "application/json; charset=latin-1", "", "*/*"]


@st.composite
def request_headers(draw: DrawFn, prefer_async: bool = False) -> dict[str, str]:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(ACCEPT) | header_values)
    if draw(st.integers(0, 3)) == 0:
        headers["Accept-Language"] = draw(st.sampled_from(["en-US", "de", "*"]) | header_values)
    if draw(st.integers(0, 3)) == 0:
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES) | header_values)
    if draw(st.integers(0, 3)) == 0:
        # respond-async makes a job: keep those few unless asked for
        asynchronous = prefer_async and draw(st.integers(0, 4)) == 0
        headers["Prefer"] = "respond-async" if asynchronous else draw(st.sampled_from(
            ["respond-sync", "wait=1", "respond-async;q=0", "return=minimal"]) | header_values)
    return headers


# ---------------------------------------------------------------- WPS

@budget(3)
@given(query=wps1_kvp(QUICK, quick=True) | wps2_kvp(QUICK) | random_queries,
       headers=request_headers())
def test_wps_get(fuzz_client: FlaskClient, query: str, headers: dict[str, str]) -> None:
    note(f"GET /wps?{query} {headers}")
    response = fuzz_client.get("/wps", query_string=query, headers=headers)
    params = {k.strip().lower(): v for k, v in reversed(parse_qsl(query, errors="replace"))}
    may_fail = params.get("identifier") in FAILING
    check(response, kvp_kinds(query), sent_text(query), may_fail)
    assert_alive(fuzz_client)


@budget(3)
@given(body=wps1_xml(QUICK, quick=True) | wps2_xml(QUICK, quick=True) | garbage_bytes,
       headers=request_headers(), query=st.sampled_from(["", "?service=WPS", "?version=2.0.0"]))
def test_wps_post(fuzz_client: FlaskClient, body: bytes, headers: dict[str, str],
                  query: str) -> None:
    headers.setdefault("Content-Type", "text/xml")
    note(f"POST /wps{query} {headers} {body!r}")
    response = fuzz_client.post("/wps" + query, data=body, headers=headers)
    kinds, may_fail = xml_kinds(body)
    check(response, kinds, sent_text(body, query), may_fail)
    assert_alive(fuzz_client)


# ---------------------------------------------------------------- OGC API

@budget(3)
@given(data=st.data())
def test_ogcapi_execute(fuzz_client: FlaskClient, data: st.DataObject) -> None:
    process = data.draw(st.sampled_from(QUICK), "process")
    body = data.draw(ogcapi_body(process, quick=True) | garbage_bytes, "body")
    headers = data.draw(request_headers(prefer_async=True), "headers")
    headers.setdefault("Content-Type", "application/json")
    note(f"POST /processes/{process.identifier}/execution {headers} {body[:3000]!r}")
    response = fuzz_client.post(f"/processes/{process.identifier}/execution", data=body,
                                headers=headers)
    check(response, ["ogcapi"], sent_text(body, json.dumps(headers)),
          process.identifier in FAILING)
    assert_alive(fuzz_client)


# ---------------------------------------------------------------- methods and paths

def _wait_for(client: FlaskClient, job_ids: Sequence[str], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    for job_id in job_ids:
        while time.monotonic() < deadline:
            status = client.get(f"/jobs/{job_id}").get_json()["status"]
            if status not in ("accepted", "running"):
                break
            time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def jobs(fuzz_client: FlaskClient) -> dict[str, str]:
    """Real jobs for the paths to name: {job id: process id}. Submitted before any other
    test of the module queues its own, so that they have ended when the paths need them."""
    made: dict[str, str] = {}
    for process, inputs in (("say_hello", {"name": "fuzz"}), ("fail", {}),
                            ("echo", {"message": "x", "bbox": {"bbox": [0, 0, 1, 1]}})):
        response = fuzz_client.post(f"/processes/{process}/execution",
                                    json={"inputs": inputs, "response": "document"},
                                    headers={"Prefer": "respond-async"})
        assert response.status_code == 201, response.data
        made[response.get_json()["jobID"]] = process
    return made


def _segment(draw: DrawFn) -> str:
    text = draw(nasty)
    return quote(text, safe="") if draw(st.integers(0, 4)) else quote(text, safe="/;@=:%")


PATHS = ["/", "/conformance", "/api", "/processes", "/processes/{p}", "/processes/{p}/execution",
         "/processes/{p}/{x}", "/jobs", "/jobs/{j}", "/jobs/{j}/results", "/jobs/{j}/events",
         "/jobs/{j}/{x}", "/wps", "/wps/jobs/{j}", "/wps/outputs/{j}/{x}", "/wps/{x}",
         "/static/{x}", "/{x}", "/processes/", "/jobs/"]
_OGCAPI = re.compile(r"^/($|conformance$|api$|processes(/|$)|jobs(/|$))")


@st.composite
def paths(draw: DrawFn, job_ids: Sequence[str]) -> str:
    template = draw(st.sampled_from(PATHS))
    process = draw(st.sampled_from([p.identifier for p in QUICK]))
    if draw(st.integers(0, 2)) == 0:
        process = _segment(draw)
    job = draw(st.sampled_from(list(job_ids)) | st.uuids().map(str))
    if draw(st.integers(0, 2)) == 0:
        job = _segment(draw)
    return template.format(p=process, j=job, x=_segment(draw))


ogcapi_queries = st.lists(st.tuples(
    st.sampled_from(["limit", "offset", "f", "status", "type", "processID", "LIMIT"]),
    st.sampled_from(["1", "0", "-1", "10001", "html", "json", "xml", "successful", "running",
                     "process", "say_hello"]) | nasty), max_size=3).map(
    lambda pairs: "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs))
METHODS = ["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
           "PROPFIND", "FOO"]


def _endpoint(app: Flask, path: str, method: str | None) -> str | None:
    """The endpoint of the route that serves a path whatever the method, or None."""
    adapter = app.url_map.bind("localhost")
    try:
        return str(adapter.match(unquote(path), method=method)[0])
    except MethodNotAllowed as exc:
        return _endpoint(app, path, sorted(exc.valid_methods or ["GET"])[0])
    except RequestRedirect:  # // merged, a slash added: the route of the path it leads to
        return "ogcapi.redirect" if _OGCAPI.match(path) else "redirect"
    except NotFound:
        return None


def path_kinds(app: Flask, path: str, method: str) -> list[str]:
    """The error kinds of a request to a path: those of the protocol whose route serves it;
    "other" (a plain HTTP error) for no route at all and for the output files."""
    endpoint = _endpoint(app, path, method) or ""
    if endpoint.startswith("ogcapi."):
        return ["ogcapi"]
    if endpoint == "job_status":
        return ["wps1"]
    if endpoint == "wps":
        return ["wps1", "wps2"]
    return ["other"]


@budget(3)
@given(data=st.data())
def test_methods_and_paths(fuzz_app: Flask, fuzz_client: FlaskClient, jobs: dict[str, str],
                           data: st.DataObject) -> None:
    _wait_for(fuzz_client, list(jobs))
    method = data.draw(st.sampled_from(METHODS), "method")
    path = data.draw(paths(list(jobs)), "path")  # in the order made: the same every run
    query = data.draw(ogcapi_queries | random_queries, "query")
    headers = data.draw(request_headers(), "headers")
    body = data.draw(st.just(b"") | garbage_bytes | st.just(b'{"inputs": {}}'), "body")
    note(f"{method} {path}?{query} {headers} {body!r}")
    response = fuzz_client.open(path, method=method, query_string=query, headers=headers,
                                data=body)
    may_fail = any(job in path for job, process in jobs.items() if process in FAILING) \
        or any(f"/{p}/" in path for p in FAILING)
    kinds = path_kinds(fuzz_app, path, method)
    if kinds == ["other"] and response.status_code >= 400:
        assert response.status_code in (404, 405), response.status_code  # no such resource
    check(response, kinds, sent_text(path, query, body), may_fail, method)
    assert_alive(fuzz_client)


def test_server_answers_after_fuzzing(fuzz_client: FlaskClient) -> None:
    """The last word: after every fuzz test of the module, both protocols still answer."""
    assert_alive(fuzz_client)
    assert fuzz_client.get("/processes").status_code == 200
