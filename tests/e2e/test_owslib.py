"""The demo server as users meet it: started with `python3 demo.py`, driven by OWSLib."""

from __future__ import annotations

import json
import re

import pytest
import requests
from owslib.util import ServiceException
from owslib.wps import (
    SYNC,
    BoundingBoxDataInput,
    ComplexDataInput,
    WebProcessingService,
)

from schemas import assert_valid

SQUARES = json.dumps({
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Point", "coordinates": [7, 7]}},
    ],
})


@pytest.fixture(scope="module")
def wps(demo_server):
    return WebProcessingService(demo_server.url, version="1.0.0", language="en-US")


def test_capabilities(wps):
    assert wps.identification.type == "WPS"
    assert "1.0.0" in wps.identification.version
    ids = [p.identifier for p in wps.processes]
    assert ids[:3] == ["say_hello", "ultimate_question", "sleep"]
    assert {"expand_bbox", "buffer", "centroids", "area", "feature_count"} <= set(ids)
    assert [op.name for op in wps.operations] == ["GetCapabilities", "DescribeProcess", "Execute"]
    assert wps.languages.default == "en-US"


def test_describe_process(wps):
    hello = wps.describeprocess("say_hello")
    assert hello.title == "Process Say Hello"
    (name,) = hello.dataInputs
    assert (name.identifier, name.title, name.dataType) == ("name", "Input name", "string")
    assert hello.processOutputs[0].title == "Output response"
    sleep = wps.describeprocess("sleep")
    assert sleep.dataInputs[0].defaultValue == 2.0 and sleep.dataInputs[0].minOccurs == 0
    buffer = wps.describeprocess("buffer")
    features = buffer.dataInputs[0]
    assert features.dataType == "ComplexData"
    assert [f.mimeType for f in features.supportedValues] == [
        "application/geo+json", "application/json"]
    bbox = wps.describeprocess("expand_bbox").dataInputs[0]
    assert bbox.dataType == "BoundingBoxData" and "EPSG:4326" in bbox.supportedValues


def test_execute_literal(wps):
    execution = wps.execute("say_hello", [("name", "OWSLib")], mode=SYNC)
    assert execution.isSucceded(), execution.errors
    assert execution.processOutputs[0].data == ["Hello OWSLib"]
    assert wps.execute("ultimate_question", [], mode=SYNC).processOutputs[0].data == ["42"]


def test_execute_progress_process(wps):
    execution = wps.execute("sleep", [("delay", "0.1")], mode=SYNC)
    assert execution.isSucceded() and execution.processOutputs[0].data == ["done sleeping"]


def test_execute_complex_inline(wps):
    geojson = ComplexDataInput(SQUARES, mimeType="application/geo+json")
    area = wps.execute("area", [("features", geojson)], mode=SYNC)
    assert float(area.processOutputs[0].data[0]) == 4.0
    count = wps.execute("feature_count", [("features", geojson)], mode=SYNC)
    assert count.processOutputs[0].data == ["2"]
    centroids = wps.execute("centroids", [("features", geojson)], output=[("centroids", False)],
                            mode=SYNC)
    collection = json.loads(centroids.processOutputs[0].data[0])
    assert [f["geometry"]["coordinates"] for f in collection["features"]] == [[1, 1], [7, 7]]


def test_execute_bbox(wps):
    execution = wps.execute(
        "expand_bbox", [("bbox", BoundingBoxDataInput([1, 2, 3, 4], crs="EPSG:4326")),
                        ("margin", "0.5")], mode=SYNC)
    assert execution.isSucceded(), execution.errors
    (box,) = execution.processOutputs[0].data
    assert box.crs.getcode() == "EPSG:4326"
    # OWSLib reads EPSG:4326 corners in its latitude-first axis order.
    assert box.crs.axisorder == "yx"
    assert [float(v) for v in (box.miny, box.minx, box.maxy, box.maxx)] == [0.5, 1.5, 3.5, 4.5]


def test_execute_reference_input_and_output(wps, file_server, tmp_path):
    base, folder = file_server
    (folder / "squares.json").write_text(SQUARES)
    features = ComplexDataInput(base + "squares.json", mimeType="application/geo+json")
    execution = wps.execute("buffer", [("features", features), ("distance", "1")],
                            output=[("buffered", True)], mode=SYNC)
    assert execution.isSucceded(), execution.errors
    output = execution.processOutputs[0]
    assert output.reference.startswith(wps.url + "/outputs/")
    assert output.mimeType == "application/geo+json"
    buffered = json.loads(output.retrieveData())
    assert [f["geometry"]["type"] for f in buffered["features"]] == ["Polygon", "Polygon"]
    target = tmp_path / "buffered.geojson"
    execution.getOutput(str(target), identifier="buffered")
    assert json.loads(target.read_text()) == buffered


def test_asynchronous_execution_with_status_polling(wps, demo_server):
    execution = wps.execute("sleep", [("delay", "1.5")], output=[("sleep_output", False)])
    assert execution.statusLocation.startswith(wps.url + "/jobs/")
    seen = set()
    for _ in range(300):
        execution.checkStatus(sleepSecs=0.1)
        seen.add((execution.status, execution.percentCompleted, execution.statusMessage))
        if execution.isComplete():
            break
    assert execution.isSucceded(), execution.errors
    assert execution.processOutputs[0].data == ["done sleeping"]
    assert any(status == "ProcessStarted" and percent > 0 for status, percent, _ in seen)
    # The status message carries the end of the job's log (and where all of it is).
    job_id = execution.statusLocation.rsplit("/", 1)[1]
    log_url = f"{wps.url.removesuffix('/wps')}/jobs/{job_id}/log"
    assert any(status == "ProcessStarted" and "progress" in message
               for status, _, message in seen)
    head, lines = execution.statusMessage.split("\n", 1)
    assert head == "Process sleep finished"
    assert lines.startswith(f"Last lines of the job's log (all of it: {log_url}):\n")
    assert "progress 90% slept 1.4 s" in lines
    assert re.search(rf"job {job_id}: sleep succeeded in \d+\.\d\d s$", lines)
    # The server log tells the job's life, each line with the job id.
    log = demo_server.log_text()
    for event in ("sleep submitted", "sleep started in process", "progress 50%",
                  "sleep succeeded in"):
        assert log.count(f"job {job_id}: {event}") == 1, event
    assert log.count(f"job {job_id}: ") == 13, "submitted, started, ten steps, succeeded"


def test_lineage(wps):
    execution = wps.execute("say_hello", [("name", "L")], output=[("response", False)],
                            mode=SYNC, lineage=True)
    assert [i.identifier for i in execution.dataInputs] == ["name"]
    assert execution.dataInputs[0].data == ["L"]


def test_errors_reach_owslib(wps):
    # OWSLib turns an ExceptionReport sent with HTTP 400 into a ServiceException.
    with pytest.raises(ServiceException) as unknown:
        wps.execute("say_hello", [("nom", "x")], mode=SYNC)
    assert 'exceptionCode="InvalidParameterValue" locator="nom"' in str(unknown.value)
    failed = wps.execute("area", [("features", ComplexDataInput("{", mimeType="application/json"))],
                         mode=SYNC)
    # A ProcessFailed document: OWSLib reports its ExceptionReport as errors.
    assert failed.errors[0].code == "InvalidParameterValue"
    assert "is not valid GeoJSON" in failed.errors[0].text
    assert "Error" not in failed.errors[0].text  # no exception class names for clients


def test_raw_output_and_kvp_with_plain_http(demo_server):
    params = {"service": "WPS", "version": "1.0.0", "request": "Execute",
              "identifier": "say_hello", "DataInputs": "name=curl", "RawDataOutput": "response"}
    response = requests.get(demo_server.url, params=params, timeout=10)
    assert response.status_code == 200 and response.text == "Hello curl"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_every_document_validates(demo_server):
    for params in [
        "service=WPS&request=GetCapabilities",
        "service=WPS&version=1.0.0&request=DescribeProcess&identifier=ALL",
        "service=WPS&version=1.0.0&request=Execute&identifier=say_hello&DataInputs=name=v"
        "&lineage=true",
        "service=WPS&version=1.0.0&request=Execute&identifier=nope",
    ]:
        assert_valid(requests.get(demo_server.url + "?" + params, timeout=10).content)


def test_server_logs_requests_and_exceptions(demo_server):
    requests.get(demo_server.url, params={"service": "WMS", "request": "GetCapabilities"},
                 timeout=10)
    log = demo_server.log_text()
    assert "GET /wps?service=WMS&request=GetCapabilities HTTP/1.1" in log
    assert "ERROR:wpsd:Exception: code: 400, locator: service" in log
