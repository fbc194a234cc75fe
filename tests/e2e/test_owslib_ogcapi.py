"""OGC API - Processes on the demo server as users meet it: with owslib.ogcapi.processes."""

from __future__ import annotations

import time

import pytest
import requests
from owslib.ogcapi.processes import Processes

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}


@pytest.fixture(scope="module")
def api(demo_server):
    return Processes(demo_server.url.rsplit("/wps", 1)[0])


def test_processes_and_descriptions(api):
    ids = [p["id"] for p in api.processes()]
    assert ids[:3] == ["say_hello", "ultimate_question", "sleep"]
    hello = api.process("say_hello")
    assert hello["title"] == "Process Say Hello"
    assert hello["inputs"]["name"]["title"] == "Input name"
    assert hello["outputs"]["response"]["title"] == "Output response"
    assert "dismiss" in api.process("sleep")["jobControlOptions"]


def test_execute_document(api):
    assert api.execute("say_hello", {"name": "OWSLib"}) == {"response": "Hello OWSLib"}
    area = api.execute("area", {"features": {"value": SQUARE, "mediaType": "application/geo+json"}})
    assert area == {"area": 4.0}
    bbox = api.execute("expand_bbox", {"bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:4326"},
                                       "margin": 1})
    # EPSG:4326 is latitude first: results give CRS84, longitude first (see the README)
    assert bbox == {"bbox": {"bbox": [1.0, 0.0, 5.0, 4.0],
                             "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}


def test_execute_asynchronously(api):
    status = api.execute("sleep", {"delay": 1}, async_=True)
    assert status["status"] in ("accepted", "running")
    location = api.response_headers["Location"]
    assert location.endswith("/jobs/" + status["jobID"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = requests.get(location, timeout=10).json()
        if status["status"] not in ("accepted", "running"):
            break
        time.sleep(0.2)
    assert status["status"] == "successful"
    assert requests.get(location + "/results", timeout=10).json() == {
        "sleep_output": "done sleeping"}


def test_errors_reach_owslib(api):
    with pytest.raises(RuntimeError, match="no-such-process"):
        api.process("nope")
    with pytest.raises(RuntimeError, match="NoSuchInput"):
        api.execute("say_hello", {"nom": "x"})
