"""Requirements of the three standards read literally (issue: conformance), one test each,
through the WSGI app: locators, version negotiation, declaration order, a valid OpenAPI
document, page limits, bounding boxes in results, and outputs a process does not produce."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from helpers import NS
from schemas import assert_ogcapi_valid

NS2 = {"wps": "http://www.opengis.net/wps/2.0", "ows": "http://www.opengis.net/ows/2.0"}
EXEC1 = "service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs=message=hi"


def report(response) -> tuple[str, str, str | None]:
    """(OWS version of the report, exceptionCode, locator)."""
    root = response.xml
    version = {"{http://www.opengis.net/ows/1.1}ExceptionReport": "1.1",
               "{http://www.opengis.net/ows/2.0}ExceptionReport": "2.0"}[root.tag]
    exc = root.find("{*}Exception")
    return version, exc.get("exceptionCode"), exc.get("locator")


# ---------------------------------------------------------------- WPS 1.0.0 / OWS Common


def test_unknown_operation_is_located_at_its_name_in_the_version_asked(wps):
    assert report(wps.get("service=WPS&version=1.0.0&request=FooBar", 501)) == (
        "1.1", "OperationNotSupported", "FooBar")
    assert report(wps.get("service=WPS&version=2.0.0&request=FooBar", 501)) == (
        "2.0", "OperationNotSupported", "FooBar")
    assert report(wps.post("<wps:FooBar xmlns:wps='http://www.opengis.net/wps/1.0.0' "
                           "service='WPS' version='1.0.0'/>", 501)) == (
        "1.1", "OperationNotSupported", "FooBar")


def test_early_errors_of_a_wps2_request_are_ows2_reports(wps):
    assert report(wps.get("version=2.0.0&request=DescribeProcess&identifier=echo", 400)) == (
        "2.0", "MissingParameterValue", "service")
    assert report(wps.get("service=WPS&version=2.0.0", 400))[:2] == (
        "2.0", "MissingParameterValue")


@pytest.mark.parametrize("form", ["message@asReference=true", "message=@asReference=true"])
def test_response_document_output_with_or_without_equals(wps, form):
    root = wps.get(f"{EXEC1}&ResponseDocument={form}").xml
    assert root.find("wps:ProcessOutputs/wps:Output/wps:Reference", NS) is not None


@pytest.mark.parametrize("form", ["message@mimeType=text/plain", "message=@mimeType=text/plain",
                                  "message="])
def test_raw_data_output_with_or_without_equals(wps, form):
    response = wps.get(f"{EXEC1}&RawDataOutput={form}")
    assert response.data == b"hi"


def test_accept_versions_in_the_clients_order(wps):
    def version(accept: str) -> str:
        return wps.get(f"service=WPS&request=GetCapabilities&AcceptVersions={accept}").xml.get(
            "version")

    assert version("1.0.0,2.0.0") == "1.0.0"
    assert version("2.0.0,1.0.0") == "2.0.0"
    assert version("9.9.9,2.0.0") == "2.0.0"


# ---------------------------------------------------------------- WPS 2.0 locators


def test_wps2_job_locators_are_the_job_id(wps):
    for operation in ("GetStatus", "GetResult", "Dismiss"):
        body = (f"<wps:{operation} xmlns:wps='http://www.opengis.net/wps/2.0' service='WPS' "
                f"version='2.0.0'><wps:JobID>no-such-job</wps:JobID></wps:{operation}>")
        assert report(wps.post(body, 400)) == ("2.0", "NoSuchJob", "no-such-job")


# ---------------------------------------------------------------- OGC API - Processes


def test_json_keeps_declaration_order(client):
    raw = client.get("/processes/echo").get_data(as_text=True)
    document = json.loads(raw)  # dicts keep the order of the text
    assert list(document["inputs"]) == ["message", "document", "bbox", "pause"]
    assert list(document["outputs"]) == ["message", "document", "bbox"]
    assert list(document)[:2] == ["id", "title"]
    page = client.get("/processes/echo?f=html").get_data(as_text=True)
    positions = [page.index(f'data-input="{name}"') for name in ("message", "document", "bbox")]
    assert positions == sorted(positions)


def test_openapi_document_is_valid_openapi_30(client):
    document = client.get("/api").get_json()
    validate(document)  # raises on any violation of the OpenAPI 3.0 schema
    text = json.dumps(document)
    assert "contentMediaType" not in text and "contentEncoding" not in text
    limits = {path: next(p for p in document["paths"][path]["get"]["parameters"]
                         if p["name"] == "limit")["schema"] for path in ("/processes", "/jobs")}
    assert limits["/processes"] == {"type": "integer", "minimum": 1, "maximum": 10000,
                                    "default": 10}
    assert limits["/jobs"]["maximum"] == 1000 and limits["/jobs"]["default"] == 10
    # The process descriptions keep their JSON Schema keywords.
    buffer = client.get("/processes/buffer").get_json()
    assert "contentMediaType" in json.dumps(buffer["inputs"]["features"]["schema"])


@pytest.mark.parametrize(("path", "maximum"), [("/jobs", 1000), ("/processes", 10000)])
def test_limit_beyond_the_maximum_is_served_with_the_maximum(client, path, maximum):
    response = client.get(f"{path}?limit=100000")
    assert response.status_code == 200, response.data
    self_link = next(link for link in response.get_json()["links"] if link["rel"] == "self")
    assert f"limit={maximum}&" in self_link["href"]


def test_bounding_box_results_are_crs84(client):
    body = {"inputs": {"bbox": {"bbox": [51.0, 7.0, 52.0, 8.0],
                                "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}},
            "outputs": {"bbox": {}}, "response": "document"}
    results = client.post("/processes/echo/execution", json=body).get_json()
    assert_ogcapi_valid(results, "results")
    # EPSG:4326 is latitude first; CRS84 longitude first.
    assert results["bbox"] == {"bbox": [7.0, 51.0, 8.0, 52.0],
                               "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}


# ---------------------------------------------------------------- outputs not produced


ALL_OUTPUTS_1 = """<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>echo</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>message</ows:Identifier><wps:Data>
  <wps:LiteralData>only this</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
  <wps:ResponseForm><wps:ResponseDocument>
  <wps:Output><ows:Identifier>message</ows:Identifier></wps:Output>
  <wps:Output><ows:Identifier>document</ows:Identifier></wps:Output>
  <wps:Output><ows:Identifier>bbox</ows:Identifier></wps:Output>
  </wps:ResponseDocument></wps:ResponseForm></wps:Execute>"""


def test_outputs_not_produced_are_left_out_wps1(wps):
    root = wps.post(ALL_OUTPUTS_1).xml
    assert root.find("wps:Status/wps:ProcessSucceeded", NS) is not None
    assert root.xpath("wps:ProcessOutputs/wps:Output/ows:Identifier/text()",
                      namespaces=NS) == ["message"]
    nothing = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=echo&lineage=true")
    assert nothing.xml.find("wps:Status/wps:ProcessSucceeded", NS) is not None
    assert nothing.xml.find("wps:ProcessOutputs", NS) is None  # none produced: none listed
    assert nothing.xml.find("wps:DataInputs", NS) is None  # no inputs given: none listed
    raw = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=echo"
                  "&DataInputs=message=x&RawDataOutput=document", status=204)
    assert raw.data == b""


def test_outputs_not_produced_are_left_out_wps2(wps):
    body = f"""<wps:Execute xmlns:wps="{NS2['wps']}" xmlns:ows="{NS2['ows']}" service="WPS"
      version="2.0.0" mode="sync" response="document"><ows:Identifier>echo</ows:Identifier>
      <wps:Input id="message"><wps:Data><wps:LiteralValue>only this</wps:LiteralValue>
      </wps:Data></wps:Input><wps:Output id="message"/><wps:Output id="document"/>
      <wps:Output id="bbox"/></wps:Execute>"""
    root = wps.post(body).xml
    assert [o.get("id") for o in root.findall("wps:Output", NS2)] == ["message"]


def test_outputs_not_produced_are_left_out_ogcapi(client):
    body = {"inputs": {"message": "only this"},
            "outputs": {"message": {}, "document": {}, "bbox": {}}, "response": "document"}
    response = client.post("/processes/echo/execution", json=body)
    assert response.status_code == 200
    assert response.get_json() == {"message": "only this"}
    assert_ogcapi_valid(response.get_json(), "results")
    raw = client.post("/processes/echo/execution",
                      json={"inputs": {"message": "x"}, "outputs": {"document": {}}})
    assert raw.status_code == 204
