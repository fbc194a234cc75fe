"""The checks of the OGC CITE suite ets-ogcapi-processes10 (shared/conformance, section 3),
against the demo server over HTTP, with the suite's echo-process conventions."""

from __future__ import annotations

import http.client
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from schemas import assert_ets_valid, assert_ogcapi_valid

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
ECHO = "echo"
JSON = {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def iut(demo_server):
    return demo_server.url.rsplit("/wps", 1)[0]


@pytest.fixture(scope="module")
def echo(iut):
    return requests.get(f"{iut}/processes/{ECHO}", headers=JSON, timeout=10).json()


def test_ets_request(echo):
    """The suite builds its request from the echo description (3.1): a string input to send
    "teststring" to, a bounding box, and only optional inputs of other types."""
    inputs = ets_inputs(echo)
    assert inputs["message"] == "teststring"
    assert inputs["bbox"]["crs"] == "urn:ogc:def:crs:EPSG:6.6:4326"
    assert all(item["minOccurs"] == 0 for ident, item in echo["inputs"].items()
               if ident not in inputs)


def ets_inputs(description: dict) -> dict:
    inputs = {}
    for ident, item in description["inputs"].items():
        schema = item["schema"]
        if schema.get("type") == "string" and "format" not in schema \
                and "contentMediaType" not in schema:
            inputs[ident] = "teststring"
        elif "bbox" in schema.get("properties", {}) or (
                schema.get("allOf") and schema["allOf"][0].get("format") == "ogc-bbox"):
            inputs[ident] = {"bbox": [345345345, 345345345, 345345345, 345345345],
                             "crs": "urn:ogc:def:crs:EPSG:6.6:4326"}
        elif schema.get("type") == "object":
            inputs[ident] = {"value": "teststring"}
    return inputs


def post(iut, echo, body_extra=None, prefer=None):
    headers = dict(JSON)
    if prefer:
        headers["Prefer"] = prefer
    body = {"inputs": ets_inputs(echo), **(body_extra or {})}
    return requests.post(f"{iut}/processes/{ECHO}/execution", json=body, headers=headers,
                         timeout=30)


def test_a7_http_1_1(iut):
    parts = urlsplit(iut)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.version == 11
    conn.close()


def test_a1_a2_landing_page(iut):
    response = requests.get(iut + "/", headers=JSON, timeout=10)
    assert response.status_code == 200
    page = response.json()
    rels = {link["rel"] for link in page["links"]}
    assert rels & {"service-desc", "service-doc"}
    assert REL + "conformance" in rels and REL + "processes" in rels
    assert_ogcapi_valid(page, "landingPage")


def test_a5_a6_conformance(iut):
    document = requests.get(iut + "/conformance", headers=JSON, timeout=10).json()
    assert_ogcapi_valid(document, "confClasses")
    assert all(isinstance(c, str) for c in document["conformsTo"])
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in document["conformsTo"]


def test_a8_a12_process_list(iut):
    everything = requests.get(iut + "/processes", headers=JSON, timeout=10).json()
    assert everything["processes"]
    assert_ogcapi_valid(everything, "processList")
    assert_ets_valid(everything, "processList")
    for summary in everything["processes"]:
        assert summary["id"] and summary["version"]
    one = requests.get(iut + "/processes?limit=1", headers=JSON, timeout=10).json()
    assert len(one["processes"]) == 1 and isinstance(one["links"], list)


def test_a13_a15_process(iut, echo):
    assert_ogcapi_valid(echo, "process")
    for summary in requests.get(iut + "/processes?limit=100", timeout=10).json()["processes"]:
        description = requests.get(f"{iut}/processes/{summary['id']}", timeout=10).json()
        assert_ets_valid(description, "process")
    assert isinstance(echo["inputs"], dict) and isinstance(echo["outputs"], dict)
    assert all("schema" in item for item in [*echo["inputs"].values(),
                                             *echo["outputs"].values()])
    assert "async-execute" in echo["jobControlOptions"]
    missing = requests.get(f"{iut}/processes/invalid-process-{uuid.uuid4()}", timeout=10)
    assert missing.status_code == 404
    assert_ogcapi_valid(missing.json(), "exception")


def test_a17_a18_execution_modes(iut, echo):
    assert post(iut, echo, prefer="respond-async").status_code in (200, 201)
    assert post(iut, echo).status_code == 200


@pytest.mark.parametrize("extra", [{}, {"response": "document"}, {"response": "raw"}])
def test_a20_a33_sync_variants(iut, echo, extra):
    response = post(iut, echo, extra)
    assert response.status_code in (200, 201)
    assert response.headers["Content-Type"]


def test_a23_a27_inline_inputs(iut, echo):
    bbox = {"bbox": [51.9, 7, 52, 7.1], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    response = requests.post(f"{iut}/processes/{ECHO}/execution",
                             json={"inputs": {"message": "teststring", "bbox": bbox}},
                             headers=JSON, timeout=30)
    assert response.status_code in (200, 201)


def test_a28_input_validation(iut, echo):
    body = {"inputs": {"document": {"type": f"wrong/type_{uuid.uuid4()}"}}}
    response = requests.post(f"{iut}/processes/{ECHO}/execution", json=body, headers=JSON,
                             timeout=30)
    assert response.status_code in (400, 500)
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert_ogcapi_valid(response.json(), "exception")


def test_a29_raw_one_output(iut, echo):
    response = post(iut, echo, {"response": "raw", "outputs": {"message": {}}})
    assert response.status_code == 200 and "teststring" in response.text


def test_a16_a19_a34_a36_job_creation(iut, echo):
    response = post(iut, echo, prefer="respond-async ")
    assert response.status_code == 201
    location = response.headers["Location"]
    assert location.startswith("http")
    status = requests.get(location, timeout=10)
    assert_ogcapi_valid(status.json(), "statusInfo")
    assert_ets_valid(status.json(), "statusInfo")


def test_a38_a40_async_results(iut, echo):
    response = post(iut, echo, {"response": "raw", "outputs": {"message": {}}},
                    prefer="respond-async")
    assert response.status_code == 201
    location = response.headers["Location"]
    for _ in range(40):
        info = requests.get(location, timeout=10).json()
        assert_ogcapi_valid(info, "statusInfo")
        results = [link["href"] for link in info["links"] if link["rel"] == REL + "results"]
        if results:
            assert "teststring" in requests.get(results[0], timeout=10).text
            return
        time.sleep(0.25)
    raise AssertionError("no results link appeared")


def test_a39_sync_link_headers(iut, echo):
    response = post(iut, echo)
    for value in response.headers.get("Link", "").split(","):
        if value:
            assert "rel=monitor" in value.replace('"', "")


def test_a37_a46_job_exceptions(iut, echo):
    for path in (f"/jobs/invalid-job-{uuid.uuid4()}", f"/jobs/invalid-job-{uuid.uuid4()}/results"):
        response = requests.get(iut + path, timeout=10)
        assert response.status_code == 404
        assert_ogcapi_valid(response.json(), "exception")
    body = {"inputs": {**ets_inputs(echo), "pause": 5}, "response": "raw"}
    job = requests.post(f"{iut}/processes/{ECHO}/execution", json=body,
                        headers={**JSON, "Prefer": "respond-async"}, timeout=30)
    location = job.headers["Location"]
    not_ready = requests.get(location + "/results", timeout=10)
    assert not_ready.status_code == 404
    assert not_ready.json()["type"] == EXC + "result-not-ready"
    assert_ogcapi_valid(not_ready.json(), "exception")
    requests.delete(location, timeout=10)


def test_a47_invalid_execute_request(iut):
    response = requests.post(f"{iut}/processes/{ECHO}/execution",
                             json={"invalid-execute-request": "true)"}, headers=JSON, timeout=10)
    assert response.status_code > 200
    assert_ogcapi_valid(response.json(), "exception")


def test_a64_a71_job_list(iut, echo):
    post(iut, echo, prefer="respond-async")
    jobs = requests.get(iut + "/jobs", headers=JSON, timeout=10).json()
    assert jobs["jobs"]
    assert_ogcapi_valid(jobs, "jobList")
    assert_ets_valid(jobs, "jobList")


def test_dismiss(iut, echo):
    body = {"inputs": {"pause": 30}}
    location = requests.post(f"{iut}/processes/{ECHO}/execution", json=body,
                             headers={**JSON, "Prefer": "respond-async"},
                             timeout=30).headers["Location"]
    response = requests.delete(location, timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert_ogcapi_valid(response.json(), "statusInfo")
