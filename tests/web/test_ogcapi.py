"""OGC API - Processes through the WSGI app; JSON answers are validated against the OGC schemas."""

from __future__ import annotations

import base64
import json
import time

import pytest

from helpers import alive
from schemas import assert_ogcapi_valid

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"


def get(client, path, status=200, schema=None):
    response = client.get(path)
    assert response.status_code == status, response.data
    if schema:
        assert_ogcapi_valid(response.get_json(), schema)
    return response


def execute(client, process, body, prefer=None, status=200):
    headers = {"Prefer": prefer} if prefer else {}
    response = client.post(f"/processes/{process}/execution", json=body, headers=headers)
    assert response.status_code == status, response.data
    return response


def wait(client, location, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = get(client, location, schema="statusInfo").get_json()
        if info["status"] in ("successful", "failed", "dismissed"):
            return info
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def test_landing_page_and_conformance(client):
    page = get(client, "/", schema="landingPage").get_json()
    rels = {link["rel"] for link in page["links"]}
    assert {"service-desc", REL + "conformance", REL + "processes", REL + "job-list"} <= rels
    classes = get(client, "/conformance", schema="confClasses").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in classes


def test_process_list_and_paging(client):
    first = get(client, "/processes?limit=3", schema="processList").get_json()
    assert len(first["processes"]) == 3
    following = [link for link in first["links"] if link["rel"] == "next"]
    assert following
    second = get(client, following[0]["href"].replace("http://localhost", ""),
                 schema="processList").get_json()
    assert {p["id"] for p in first["processes"]}.isdisjoint(p["id"] for p in second["processes"])
    for bad in ("limit=0", "limit=x", "limit=-3"):
        assert_ogcapi_valid(get(client, f"/processes?{bad}", 400).get_json(), "exception")


def test_process_description(client):
    echo = get(client, "/processes/echo", schema="process").get_json()
    assert echo["jobControlOptions"] == ["sync-execute", "async-execute", "dismiss"]
    assert echo["inputs"]["message"]["schema"] == {"type": "string"}
    assert echo["inputs"]["pause"]["schema"]["type"] == "integer"
    assert echo["inputs"]["bbox"]["schema"]["allOf"][0] == {"format": "ogc-bbox"}
    assert set(echo["outputs"]) == {"message", "document", "bbox"}
    sleep = get(client, "/processes/sleep", schema="process").get_json()
    assert sleep["inputs"]["delay"]["schema"] == {"type": "number", "minimum": 0,
                                                  "maximum": 600, "default": 2.0}
    allowed = get(client, "/processes/allowed", schema="process").get_json()
    assert allowed["inputs"]["color"]["schema"] == {"type": "string", "enum": ["red", "green"]}
    assert get(client, "/processes/sync_only").get_json()["jobControlOptions"] == [
        "sync-execute"]
    missing = get(client, "/processes/nope", 404, schema="exception").get_json()
    assert missing["type"] == EXC + "no-such-process"


def test_sync_raw_one_output(client):
    response = execute(client, "echo", {"inputs": {"message": "teststring"},
                                        "outputs": {"message": {}}})
    assert response.data == b"teststring" and response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"] == 'inline; filename="message"'


def test_sync_document(client):
    body = {"inputs": {"message": "teststring",
                       "bbox": {"bbox": [51.9, 7, 52, 7.1],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
                       "document": {"value": {"a": 1}, "mediaType": "application/json"}},
            "response": "document"}
    results = execute(client, "echo", body).get_json()
    assert_ogcapi_valid(results, "results")
    assert results["message"] == "teststring"
    assert results["document"] == {"value": {"a": 1}, "mediaType": "application/json"}
    assert results["bbox"] == {"bbox": [51.9, 7.0, 52.0, 7.1],
                               "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}


def test_sync_raw_several_outputs_is_multipart(client):
    response = execute(client, "text_stats", {"inputs": {"text": "abc"}})
    assert response.mimetype == "multipart/related"
    assert b"Content-ID: <chars>" in response.data and b"Content-ID: <stats>" in response.data


def test_outputs_by_reference(client):
    body = {"inputs": {"name": "ref"}, "outputs": {"response": {"transmissionMode": "reference"}}}
    response = execute(client, "say_hello", body, status=204)
    link = response.headers["Link"]
    href = link.split(">")[0].lstrip("<")
    assert link.endswith('; rel="http://www.opengis.net/def/rel/ogc/1.0/results"; '
                         'title="response"; type="text/plain"')
    with client.get(href) as served:
        assert served.data == b"Hello ref"
    document = execute(client, "say_hello", {**body, "response": "document"}).get_json()
    assert document["response"]["href"].startswith("http://localhost/wps/outputs/")
    assert document["response"]["href"] != href  # a new execution, a new stored output
    assert document["response"]["type"] == "text/plain"
    with client.get(document["response"]["href"]) as served:
        assert served.data == b"Hello ref"


def test_typed_literals_and_base64_and_references(client, file_server):
    base, folder = file_server
    (folder / "squares.json").write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}))
    area = execute(client, "area", {"inputs": {"features": {
        "href": base + "squares.json", "type": "application/geo+json"}},
        "response": "document"}).get_json()
    assert area == {"area": 4.0}
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(50))
    echoed = execute(client, "binary_echo", {"inputs": {"image": {
        "value": base64.b64encode(png).decode(), "mediaType": "image/png",
        "encoding": "base64"}}})
    assert echoed.data == png and echoed.mimetype == "image/png"
    total = execute(client, "multi", {"inputs": {"n": [1, 2, 3]}, "response": "document"})
    assert total.get_json() == {"sum": 6}


@pytest.mark.parametrize(
    ("process", "body", "status", "title"),
    [
        ("echo", {"invalid-execute-request": "true)"}, 400, "InvalidParameterValue"),
        ("say_hello", {"inputs": {"nom": "x"}}, 400, "NoSuchInput"),
        ("say_hello", {}, 400, "MissingParameterValue"),
        ("multi", {"inputs": {"n": [1, "x"]}}, 400, "WrongInputData"),
        ("echo", {"inputs": {"document": {"type": "wrong/type_1234"}}}, 400, "WrongInputData"),
        ("echo", {"inputs": {"bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:9999"}}}, 400,
         "WrongInputData"),
        ("buffer", {"inputs": {"features": {"value": "x", "mediaType": "image/png"},
                               "distance": 1}}, 400, "NoSuchFormat"),
        ("fail", {}, 500, "NoApplicableCode"),
        ("nope", {}, 404, "NoSuchProcess"),
    ],
)
def test_execute_errors(client, process, body, status, title):
    response = execute(client, process, body, status=status)
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert_ogcapi_valid(document, "exception")
    assert document["title"] == title


def test_not_json(client):
    response = client.post("/processes/echo/execution", data=b"{nope",
                           content_type="application/json")
    assert response.status_code == 400
    assert_ogcapi_valid(response.get_json(), "exception")


def test_async_job_and_results(client):
    response = execute(client, "echo", {"inputs": {"message": "teststring"},
                                        "outputs": {"message": {}}},
                       prefer="respond-async ", status=201)
    assert response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"]
    assert location.startswith("http://localhost/jobs/")
    assert_ogcapi_valid(response.get_json(), "statusInfo")
    info = wait(client, location)
    assert info["status"] == "successful" and info["progress"] == 100
    results = [link for link in info["links"] if link["rel"] == REL + "results"]
    assert get(client, results[0]["href"]).data == b"teststring"
    listed = get(client, "/jobs?processID=echo", schema="jobList").get_json()
    assert info["jobID"] in [j["jobID"] for j in listed["jobs"]]
    both = get(client, "/jobs?processID=nope&processID=echo", schema="jobList").get_json()
    assert [j["jobID"] for j in both["jobs"]] == [info["jobID"]]
    assert get(client, "/jobs?status=running", schema="jobList").get_json()["jobs"] == []
    assert get(client, "/jobs?type=other", schema="jobList").get_json()["jobs"] == []


def test_results_not_ready_and_dismiss(client, app):
    response = execute(client, "echo", {"inputs": {"message": "x", "pause": 30}},
                       prefer="respond-async", status=201)
    location = response.headers["Location"]
    store = app.extensions["wpsd"].store
    deadline = time.monotonic() + 30
    while (worker := store.get(location.rsplit("/", 1)[1]).pid) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    not_ready = get(client, location + "/results", 404, schema="exception").get_json()
    assert not_ready["type"] == EXC + "result-not-ready"
    dismissed = client.delete(location)
    assert dismissed.status_code == 200
    assert_ogcapi_valid(dismissed.get_json(), "statusInfo")
    assert dismissed.get_json()["status"] == "dismissed"
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker), "DELETE must end the job's OS process"
    assert get(client, location, schema="statusInfo").get_json()["status"] == "dismissed"
    gone = get(client, location + "/results", 404, schema="exception").get_json()
    assert gone["type"] == EXC + "no-such-job"
    assert client.delete(location).status_code == 404


def test_failed_job_results(client):
    location = execute(client, "fail", {}, prefer="respond-async",
                       status=201).headers["Location"]
    assert wait(client, location)["status"] == "failed"
    failure = get(client, location + "/results", 500, schema="exception").get_json()
    assert "'fail' failed" in failure["detail"] and "broke on purpose" not in failure["detail"]


def test_unknown_jobs(client):
    for path in ("/jobs/nope", "/jobs/nope/results"):
        document = get(client, path, 404, schema="exception").get_json()
        assert document["type"] == EXC + "no-such-job"


def test_sync_only_process_runs_synchronously_even_if_async_preferred(client):
    response = execute(client, "sync_only", {}, prefer="respond-async")
    assert response.data == b"done"


def test_one_model_underneath(client, wps):
    """A WPS 1.0.0 job is listed here; a job started here is dismissed with WPS 2.0."""
    old = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=say_hello"
                  "&DataInputs=name=one&storeExecuteResponse=true&status=true").xml
    old_id = old.get("statusLocation").rsplit("/", 1)[1]
    assert wait(client, f"/jobs/{old_id}")["processID"] == "say_hello"
    assert get(client, f"/jobs/{old_id}/results").get_json() == {"response": "Hello one"}
    location = execute(client, "echo", {"inputs": {"pause": 30}}, prefer="respond-async",
                       status=201).headers["Location"]
    job_id = location.rsplit("/", 1)[1]
    dismissed = wps.get(f"service=WPS&version=2.0.0&request=Dismiss&jobId={job_id}").xml
    assert dismissed.findtext("{*}Status") == "Dismissed"
    assert get(client, location).get_json()["status"] == "dismissed"


def test_openapi_document(client):
    document = client.get("/api")
    assert document.status_code == 200
    api = json.loads(document.data)
    assert api["openapi"].startswith("3.0")
    assert "/processes/echo/execution" in api["paths"]
    assert api["paths"]["/processes/{processID}"]["get"]["parameters"][0]["schema"]["enum"]


def wait_for_callbacks(received, count, timeout=30):
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return dict(received)


def test_callbacks_of_a_successful_job(client, callback_server):
    base, received = callback_server
    subscriber = {"successUri": base + "/done", "inProgressUri": base + "/running",
                  "failedUri": base + "/failed"}
    response = execute(client, "say_hello", {"inputs": {"name": "callback"},
                                             "subscriber": subscriber},
                       prefer="respond-async", status=201)
    job_id = response.get_json()["jobID"]
    calls = wait_for_callbacks(received, 2)
    assert set(calls) == {"/running", "/done"}
    assert_ogcapi_valid(calls["/running"], "statusInfo")
    assert calls["/running"]["jobID"] == job_id and calls["/running"]["status"] == "running"
    assert calls["/done"] == {"response": "Hello callback"}
    assert get(client, "/conformance").get_json()["conformsTo"].count(
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/callback") == 1


def test_callback_of_a_failed_job(client, callback_server):
    base, received = callback_server
    execute(client, "fail", {"subscriber": {"successUri": base + "/done",
                                            "failedUri": base + "/failed"}},
            prefer="respond-async", status=201)
    calls = wait_for_callbacks(received, 1)
    assert list(calls) == ["/failed"]
    assert_ogcapi_valid(calls["/failed"], "statusInfo")
    assert calls["/failed"]["status"] == "failed"
    assert "'fail' failed" in calls["/failed"]["message"]


@pytest.mark.parametrize("subscriber", [
    {"successUri": "file:///etc/passwd"}, {"successUri": 5}, {"nextUri": "http://x/"},
    "http://x/"])
def test_bad_subscribers(client, subscriber):
    response = execute(client, "say_hello", {"inputs": {"name": "x"}, "subscriber": subscriber},
                       prefer="respond-async", status=400)
    assert response.get_json()["title"] == "InvalidParameterValue"


def test_a_formats_xml_schema_is_its_content_schema(client):
    described = get(client, "/processes/gml_buffer", schema="process").get_json()
    formats = described["inputs"]["geometry"]["schema"]["oneOf"]
    gml = [f for f in formats if f["contentMediaType"].startswith("application/gml+xml")]
    assert gml and all(f["contentSchema"] == "http://schemas.opengis.net/gml/3.2.1/gml.xsd"
                       for f in gml)
    assert all("contentSchema" not in f for f in formats if f not in gml)
    # OpenAPI 3.0 knows no contentSchema: the API document leaves it out
    assert "contentSchema" not in client.get("/api").get_data(as_text=True)
