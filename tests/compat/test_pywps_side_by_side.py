"""One module of PyWPS processes, served by real PyWPS 4.8 and by ``wpsd serve``, compared
through OWSLib as their users meet them.

Where the answers differ, the test says how, and the README's "Coming from PyWPS" lists the
difference: wpsd follows the standard where PyWPS 4.8 does not. Every wpsd document is
checked against its schema. The same processes then run through WPS 2.0, OGC API -
Processes and the HTML pages of wpsd.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests
from lxml import etree
from owslib.ogcapi.processes import Processes
from owslib.wps import SYNC, BoundingBoxDataInput, ComplexDataInput, WebProcessingService
from servers import Running, start_pywps, start_wpsd

from helpers import free_port
from schemas import assert_ogcapi_valid, assert_valid

FEATURES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [3, 4]}},
]}
GEOJSON = ComplexDataInput(json.dumps(FEATURES), mimeType="application/geo+json")
WPS2 = "http://www.opengis.net/wps/2.0"
OWS2 = "http://www.opengis.net/ows/2.0"
#: the URL of the wpsd server, whose every document OWSLib gets is checked against its schema
OURS: set[str] = set()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Running]]:
    pywps = start_pywps(tmp_path_factory.mktemp("pywps"), free_port())
    try:
        wpsd = start_wpsd(tmp_path_factory.mktemp("wpsd"), free_port())
    except BaseException:
        pywps.stop()
        raise
    OURS.add(wpsd.url)
    yield pywps, wpsd
    OURS.discard(wpsd.url)
    pywps.stop()
    wpsd.stop()


@pytest.fixture(scope="module")
def both(servers: tuple[Running, Running]) -> tuple[WebProcessingService, WebProcessingService]:
    pywps, wpsd = servers
    return (WebProcessingService(pywps.url, version="1.0.0"),
            WebProcessingService(wpsd.url, version="1.0.0"))


@pytest.fixture(scope="module")
def wpsd_url(servers: tuple[Running, Running]) -> str:
    return servers[1].url


def valid(response: requests.Response) -> requests.Response:
    """A wpsd answer, checked: XML against its schema."""
    assert response.ok, response.text[:2000]
    if response.headers["Content-Type"].startswith(("text/xml", "application/xml")):
        assert_valid(response.content)
    return response


# ---------------------------------------------------------------- GetCapabilities, DescribeProcess


def test_capabilities_offer_the_same_processes(both):
    theirs, ours = both
    assert [(p.identifier, p.title) for p in ours.processes] == [
        (p.identifier, p.title) for p in theirs.processes]


def _domain(put):  # type: ignore[no-untyped-def]
    default = put.defaultValue
    if hasattr(default, "mimeType"):  # the default format of complex data
        default = (default.mimeType, default.encoding, default.schema)
    return {"type": put.dataType, "allowed": put.allowedValues, "default": default}


def _description(process):  # type: ignore[no-untyped-def]
    def formats(put):  # type: ignore[no-untyped-def]
        return [(f.mimeType, f.encoding, f.schema) for f in put.supportedValues
                if hasattr(f, "mimeType")]

    return {
        "title": process.title, "abstract": process.abstract,
        "metadata": [(m.title, m.url) for m in process.metadata],
        "store": process.storeSupported, "status": process.statusSupported,
        "inputs": [{"id": i.identifier, "title": i.title, "abstract": i.abstract,
                    "occurs": (i.minOccurs, i.maxOccurs), "formats": formats(i),
                    "crss": i.supportedValues if i.dataType == "BoundingBoxData" else None,
                    **_domain(i)} for i in process.dataInputs],
        "outputs": [{"id": o.identifier, "title": o.title, "type": o.dataType,
                     "formats": formats(o)} for o in process.processOutputs],
    }


def test_process_descriptions_match(both, wpsd_url):
    theirs, ours = both
    for summary in theirs.processes:
        ident = summary.identifier
        expected = _description(theirs.describeprocess(ident))
        found = _description(ours.describeprocess(ident))
        # PyWPS names its own types, which are no XML Schema type; wpsd serves them as
        # doubles (their values are).
        for put in expected["inputs"]:
            if put["type"] in ("scale", "angle"):
                put["type"] = "double"
        assert found == expected, ident
        valid(requests.get(wpsd_url, params={"service": "WPS", "version": "1.0.0",
                                             "request": "DescribeProcess",
                                             "identifier": ident}, timeout=10))


def test_where_descriptions_differ(both):
    theirs, ours = both
    pywps, wpsd = theirs.describeprocess("literals"), ours.describeprocess("literals")
    # PyWPS 4.8 leaves ows:AnyValue out (the schema needs it) and describes an unset
    # version as "None".
    unconstrained = {"boolean", "positive", "uri", "date", "scale", "length", "required"}
    assert not any(i.anyValue for i in pywps.dataInputs if i.identifier in unconstrained)
    assert all(i.anyValue for i in wpsd.dataInputs if i.identifier in unconstrained)
    assert (pywps.processVersion, wpsd.processVersion) == ("None", "1.0.0")
    assert theirs.describeprocess("say_hello").processVersion == "1.3.3" == \
        ours.describeprocess("say_hello").processVersion


# ---------------------------------------------------------------- Execute


def _checked(execution):  # type: ignore[no-untyped-def]
    if execution.url in OURS:
        assert_valid(execution.response)
    return execution


def _outputs(execution):  # type: ignore[no-untyped-def]
    _checked(execution)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    return {o.identifier: o.data for o in execution.processOutputs}


def test_execute_literals(both):
    inputs = [("required", "x"), ("uri", "http://a.b/c?d=1"), ("date", "2020-01-02"),
              ("time", "12:30:00"), ("datetime", "2020-01-02T03:04:05Z"), ("many", "1"),
              ("many", "2"), ("angle", "370"), ("scale", "0.5"), ("boolean", "true"),
              ("integer", "7"), ("float", "0.75"), ("open", "0.5"), ("positive", "4"),
              ("nonnegative", "0"), ("anything", "whatever"), ("string", "gamma")]
    results = [_outputs(wps.execute("literals", inputs, mode=SYNC)) for wps in both]
    assert results[0] == results[1]
    summary = json.loads(results[1]["summary"][0])
    assert summary["uri"] == [["uri", "http://a.b/c?d=1"]] and summary["angle"] == [
        ["float", 10.0]]
    # Left out, with defaults
    results = [_outputs(wps.execute("literals", [("required", "y")], mode=SYNC))
               for wps in both]
    assert results[0] == results[1]
    assert json.loads(results[1]["summary"][0])["string"] == [["str", "beta"]]


def test_execute_function_and_class_processes(both):
    for wps in both:
        assert _outputs(wps.execute("say_hello", [("name", "PyWPS")], mode=SYNC)) == {
            "response": ["Hello PyWPS"]}
        assert _outputs(wps.execute("ultimate_question", [], mode=SYNC)) == {"answer": ["42"]}


def test_execute_complex_data_inline(both):
    table = ComplexDataInput("a,b\n1,2\n", mimeType="text/csv")
    results = [_outputs(wps.execute("complex_data", [("features", GEOJSON), ("table", table)],
                                    mode=SYNC)) for wps in both]
    assert results[0] == results[1]
    assert json.loads(results[1]["count"][0])["count"] == 2
    assert json.loads(results[1]["features"][0]) == FEATURES


def test_execute_with_references(both, file_server):
    base, folder = file_server
    (folder / "points.json").write_text(json.dumps(FEATURES))
    reference = ComplexDataInput(base + "points.json", mimeType="application/json")
    seen = []
    for wps in both:
        execution = _checked(wps.execute("complex_data", [("features", reference)],
                                         output=[("count", False), ("features", True),
                                                 ("report", True)], mode=SYNC))
        assert execution.isSucceded(), [e.text for e in execution.errors]
        outputs = {o.identifier: o for o in execution.processOutputs}
        seen.append(json.loads(outputs["count"].data[0]))
        assert json.loads(requests.get(outputs["features"].reference, timeout=10).text) == \
            FEATURES
        assert requests.get(outputs["report"].reference, timeout=10).text == "2 features\n"
        assert outputs["report"].mimeType == "text/plain"
    assert seen[0] == seen[1]
    assert seen[1]["url"] == base + "points.json" and seen[1]["mime_type"] == "application/json"


def test_execute_bounding_box(both):
    box = BoundingBoxDataInput([1, 2, 3, 4], crs="EPSG:3857")
    results = []
    for wps in both:
        (bbox,), crs = _outputs(wps.execute("expand_bbox", [("bbox", box), ("margin", "0.5")],
                                            mode=SYNC)).values()
        results.append([float(v) for v in (bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)])
    assert results[0] == results[1] == [0.5, 1.5, 3.5, 4.5]


def test_bounding_box_axis_order_differs(both):
    # EPSG:4326 is latitude first. PyWPS 4.8 reads the corners through OWSLib, which puts
    # longitude first, and writes them back so: the handler sees, and the client gets, the
    # axes swapped. wpsd hands over the corners as the client sent them.
    body = ('<wps:Execute service="WPS" version="1.0.0" '
            'xmlns:wps="http://www.opengis.net/wps/1.0.0" '
            'xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>expand_bbox'
            '</ows:Identifier><wps:DataInputs><wps:Input><ows:Identifier>bbox</ows:Identifier>'
            '<wps:Data><wps:BoundingBoxData crs="EPSG:4326" dimensions="2">'
            '<ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>'
            '</wps:BoundingBoxData></wps:Data></wps:Input></wps:DataInputs></wps:Execute>')
    corners = []
    for wps in both:
        root = etree.fromstring(requests.post(wps.url, data=body, timeout=10).content)
        corners.append([root.findtext(f".//{{http://www.opengis.net/ows/1.1}}{c}").split()
                        for c in ("LowerCorner", "UpperCorner")])
    assert corners == [[["1.0", "0.0"], ["5.0", "4.0"]], [["0.0", "1.0"], ["4.0", "5.0"]]]


def test_asynchronous_execution_with_status_polling(both):
    for wps in both:
        execution = wps.execute("sleep", [("delay", "1")], output=[("sleep_output", False)])
        assert execution.statusLocation
        statuses = set()
        deadline = time.monotonic() + 30
        while not execution.isComplete() and time.monotonic() < deadline:
            execution.checkStatus(sleepSecs=0.1)
            _checked(execution)
            statuses.add(execution.status)
            if execution.status == "ProcessStarted":
                assert 0 <= execution.percentCompleted < 100
        assert _outputs(execution) == {"sleep_output": ["done sleeping"]}
        assert "ProcessSucceeded" in statuses


def test_raw_outputs(both, wpsd_url):
    params = {"service": "WPS", "version": "1.0.0", "request": "Execute",
              "identifier": "complex_data",
              "DataInputs": "features=" + json.dumps(FEATURES) + "@mimeType=application/geo+json"}
    answers = [requests.get(wps.url, params=dict(params, RawDataOutput="count"), timeout=10)
               for wps in both]
    assert [a.headers["Content-Type"] for a in answers] == ["application/json"] * 2
    assert answers[0].json() == answers[1].json()
    # PyWPS 4.8 fails on a RawDataOutput that names a mimeType (a 500); wpsd answers in it.
    chosen = dict(params, RawDataOutput="features@mimeType=application/json")
    theirs, ours = (requests.get(wps.url, params=chosen, timeout=10) for wps in both)
    assert theirs.status_code == 500
    assert ours.headers["Content-Type"] == "application/json" and ours.json() == FEATURES


def test_kvp_output_attributes(both, wpsd_url):
    # PyWPS 4.8 ignores the attributes of a KVP ResponseDocument's outputs; wpsd does not.
    params = {"service": "WPS", "version": "1.0.0", "request": "Execute",
              "identifier": "complex_data",
              "DataInputs": "features=" + json.dumps(FEATURES) + "@mimeType=application/geo+json",
              "ResponseDocument": "features@mimeType=application/json@asReference=true"}
    theirs, ours = (etree.fromstring(requests.get(wps.url, params=params, timeout=10).content)
                    for wps in both)
    ns = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
    # PyWPS answers with every output, this one by value in its default format.
    assert [o.findtext("ows:Identifier", None, ns) for o in theirs.iterfind(".//wps:Output", ns)
            ] == ["count", "features", "report"]
    features = theirs.find(".//wps:Output[ows:Identifier='features']/wps:Data/wps:ComplexData",
                           ns)
    assert features.get("mimeType") == "application/geo+json"
    (output,) = ours.iterfind(".//wps:Output", ns)
    assert output.find("wps:Reference", ns).get("mimeType") == "application/json"
    valid(requests.get(wpsd_url, params=params, timeout=10))


def test_metalinks(both):
    files = []
    for wps in both:
        execution = _checked(wps.execute("files", [("count", "2")], output=[("output", True)],
                                         mode=SYNC))
        assert execution.isSucceded(), [e.text for e in execution.errors]
        location = execution.processOutputs[0].reference
        document = etree.fromstring(requests.get(location, timeout=10).content)
        urls = [u.text for u in document.iter("{urn:ietf:params:xml:ns:metalink}metaurl")]
        # (Should wpsd's links be relative, they are relative to its outputs' URL.)
        files.append(sorted(requests.get(urljoin(wps.url + "/outputs/", u), timeout=10).text
                            for u in urls))
    assert files[0] == files[1] == ["Text file 0\n", "Text file 1\n"]


def test_state_on_self_never_leaks(both):
    for wps in both:
        runs = [_outputs(wps.execute("stateful", [], mode=SYNC))["runs"] for _ in range(2)]
        assert runs == [["1"], ["1"]]


def test_errors(both):
    texts = []
    for wps in both:
        execution = _checked(wps.execute("fail", [("how", "process_error")], mode=SYNC))
        assert not execution.isSucceded()
        texts.append([(e.code, e.text) for e in execution.errors])
        hidden = wps.execute("fail", [("how", "exception")], mode=SYNC)
        assert hidden.errors and all("secret" not in e.text for e in hidden.errors)
    assert texts[0] == texts[1] == [
        ("NoApplicableCode", "Process error: The input value is out of range: try between 1 "
                             "and 10.")]


def test_processes_read_their_own_settings_from_pywps_cfg(both):
    for wps in both:
        assert _outputs(wps.execute("configured", [], mode=SYNC)) == {
            "greeting": ["hello from pywps.cfg"]}


def test_storage_not_supported(both):
    params = {"service": "WPS", "version": "1.0.0", "request": "Execute",
              "identifier": "sync_only", "storeExecuteResponse": "true"}
    for wps in both:
        answer = requests.get(wps.url, params=params, timeout=10)
        assert answer.status_code == 400 and b"StorageNotSupported" in answer.content


# ---------------------------------------------------------------- WPS 2.0, OGC API, HTML on wpsd


def test_wps2_runs_pywps_processes(wpsd_url):
    body = (f'<wps:Execute xmlns:wps="{WPS2}" xmlns:ows="{OWS2}" service="WPS" '
            'version="2.0.0" response="document" mode="sync"><ows:Identifier>literals'
            '</ows:Identifier><wps:Input id="required"><wps:Data>x</wps:Data></wps:Input>'
            '<wps:Input id="length"><wps:Data><wps:LiteralValue uom="feet">10'
            '</wps:LiteralValue></wps:Data></wps:Input><wps:Output id="length" '
            'transmission="value"/></wps:Execute>')
    result = etree.fromstring(valid(requests.post(wpsd_url, data=body, timeout=10)).content)
    assert float(result.findtext(f".//{{{WPS2}}}LiteralValue")) == pytest.approx(3.048)
    # Asynchronously, polled with GetStatus
    body = (f'<wps:Execute xmlns:wps="{WPS2}" xmlns:ows="{OWS2}" service="WPS" '
            'version="2.0.0" response="document" mode="async"><ows:Identifier>sleep'
            '</ows:Identifier><wps:Input id="delay"><wps:Data>0.2</wps:Data></wps:Input>'
            '</wps:Execute>')
    status = etree.fromstring(valid(requests.post(wpsd_url, data=body, timeout=10)).content)
    job_id = status.findtext(f"{{{WPS2}}}JobID")
    deadline = time.monotonic() + 30
    while status.findtext(f"{{{WPS2}}}Status") != "Succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
        status = etree.fromstring(valid(requests.get(wpsd_url, params={
            "service": "WPS", "version": "2.0.0", "request": "GetStatus", "jobID": job_id},
            timeout=10)).content)
    result = etree.fromstring(valid(requests.get(wpsd_url, params={
        "service": "WPS", "version": "2.0.0", "request": "GetResult", "jobID": job_id},
        timeout=10)).content)
    assert "".join(result.find(f".//{{{WPS2}}}Data").itertext()) == "done sleeping"


def test_ogcapi_runs_pywps_processes(wpsd_url):
    root = wpsd_url.rsplit("/wps", 1)[0]
    api = Processes(root)
    description = api.process("literals")
    assert_ogcapi_valid(description, "process")
    inputs = description["inputs"]
    # JSON Schemas derived from the PyWPS declarations
    assert inputs["string"]["schema"]["enum"] == ["alpha", "beta", "gamma"]
    assert inputs["string"]["schema"]["default"] == "beta"
    assert inputs["integer"]["schema"]["minimum"] == 0
    assert inputs["integer"]["schema"]["maximum"] == 10
    assert inputs["many"]["maxOccurs"] == 3
    assert (inputs["required"]["minOccurs"], inputs["uri"]["schema"]["format"]) == (1, "uri")
    assert api.execute("say_hello", {"name": "OGC"}) == {"response": "Hello OGC"}
    results = api.execute("complex_data", {"features": {"value": FEATURES,
                                                        "mediaType": "application/geo+json"}})
    assert results["count"]["mediaType"] == "application/json"
    assert results["count"]["value"]["count"] == 2
    assert results["features"]["value"] == FEATURES
    assert api.execute("expand_bbox", {"bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:3857"},
                                       "margin": 1})["bbox"]["bbox"] == [0.0, 1.0, 4.0, 5.0]
    status = api.execute("sleep", {"delay": 0.2}, async_=True)
    location = api.response_headers["Location"]
    deadline = time.monotonic() + 30
    while status["status"] in ("accepted", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        status = requests.get(location, timeout=10).json()
    assert_ogcapi_valid(status, "statusInfo")
    assert requests.get(location + "/results", timeout=10).json() == {
        "sleep_output": "done sleeping"}
    failed = requests.post(f"{root}/processes/fail/execution", json={
        "inputs": {"how": "process_error"}}, timeout=10)
    assert "The input value is out of range" in failed.text


def test_html_form_of_a_pywps_process(wpsd_url):
    root = wpsd_url.rsplit("/wps", 1)[0]
    page = requests.get(f"{root}/processes/literals", headers={"Accept": "text/html"},
                        timeout=10)
    assert page.ok and page.headers["Content-Type"].startswith("text/html")
    for ident in ("required", "many", "length", "datetime"):
        assert ident in page.text
