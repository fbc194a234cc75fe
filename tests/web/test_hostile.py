"""Hostile and malformed requests get a standard error with a code, never a 500 or a traceback."""

from __future__ import annotations

import json

import pytest

from schemas import assert_ogcapi_valid
from wpsd import LiteralOutput, process

EXEC1 = "/wps?service=WPS&version=1.0.0&request=Execute&identifier="
W2 = ("<wps:Execute xmlns:wps='http://www.opengis.net/wps/2.0' "
      "xmlns:ows='http://www.opengis.net/ows/2.0' service='WPS' version='2.0.0' mode='sync' "
      "response='document'><ows:Identifier>echo</ows:Identifier>{}</wps:Execute>")


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (b"[" * 100000, "InvalidParameterValue"),                         # nesting bomb
        (b"\xff\xfe\x00garbage", "InvalidParameterValue"),
        ({"inputs": {"message": {"value": [1, 2]}}}, "WrongInputData"),
        ({"inputs": {"message": None}}, "WrongInputData"),
        ({"inputs": {"message": "a\u0000b"}}, "WrongInputData"),
        ({"inputs": {"bbox": {"bbox": [1e400, 1, 2, 3]}}}, "WrongInputData"),
        ({"inputs": {"bbox": {"bbox": ["a", 1, 2, 3]}}}, "WrongInputData"),
        ({"inputs": {"pause": "NaN"}}, "WrongInputData"),
        ({"inputs": {"document": {"href": "http://[::1"}}}, "InvalidParameterValue"),
        ({"inputs": [], "outputs": []}, "InvalidParameterValue"),
        ({"outputs": {"message": {"format": ["x"]}}}, "InvalidParameterValue"),
        ({"response": None}, "InvalidParameterValue"),
    ],
)
def test_ogcapi_execute(client, body, title):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/processes/echo/execution", data=data,
                           content_type="application/json")
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/json"
    assert_ogcapi_valid(response.get_json(), "exception")
    assert response.get_json()["title"] == title


@pytest.mark.parametrize(
    "query",
    [
        "sleep&DataInputs=delay=nan",          # NaN would slip past the range check
        "expand_bbox&DataInputs=bbox=inf,2,3,4",
        "say_hello&DataInputs=name=a%00b",     # XML cannot carry NUL
        "say_hello&DataInputs=nom%01=x",
    ],
)
def test_wps1_kvp(wps, query):
    root = wps.get(EXEC1.removeprefix("/wps?") + query, status=400).xml
    assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"


@pytest.mark.parametrize(
    "inputs",
    [
        "<wps:Input id='bbox'><wps:Data><ows:BoundingBox><ows:LowerCorner>1 x</ows:LowerCorner>"
        "<ows:UpperCorner>3 4</ows:UpperCorner></ows:BoundingBox></wps:Data></wps:Input>",
        "<wps:Input id='bbox'><wps:Data><ows:BoundingBox><ows:LowerCorner>1 2</ows:LowerCorner>"
        "<ows:UpperCorner>3 4 5</ows:UpperCorner></ows:BoundingBox></wps:Data></wps:Input>",
        "<wps:Input id='document'><wps:Reference xlink:href='http://[::1' "
        "xmlns:xlink='http://www.w3.org/1999/xlink'/></wps:Input>",
    ],
)
def test_wps2_execute(wps, inputs):
    root = wps.post(W2.format(inputs), status=400).xml
    assert root.tag == "{http://www.opengis.net/ows/2.0}ExceptionReport"


def test_deeply_nested_xml(wps):
    body = "<a>" * 10000 + "</a>" * 10000
    assert wps.post(body, status=400).xml.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"


@process("nul", "Returns NUL", outputs=[LiteralOutput("out", "Out")])
def nul() -> dict:
    return {"out": "a\u0000b"}


def test_output_that_xml_cannot_carry_fails_the_execution(make_app):
    response = make_app(processes=[nul]).test_client().get(EXEC1 + "nul")
    assert response.status_code == 200
    assert b"ProcessFailed" in response.data and b"XML cannot carry" in response.data


# Found by tests/fuzz: an exception escaping a parser (a 500), or a value that no XML document
# can carry getting past the parser and failing an encoder later (a 500 there).

@pytest.mark.parametrize(
    ("body", "title"),
    [
        # float() of a JSON integer this large raises OverflowError, not ValueError
        ({"inputs": {"bbox": {"bbox": [0, 0, 1, 10**400]}}}, "WrongInputData"),
        # urlsplit() raises ValueError on an unclosed IPv6 literal
        ({"subscriber": {"successUri": "http://[::1"}}, "InvalidParameterValue"),
        # JSON can spell a lone surrogate, UTF-8 (and so no response or job record) cannot
        ('{"inputs": {"message": "a\\ud800"}}', "InvalidParameterValue"),
        # "EPSG:4326\x1f" matched EPSG:4326 once stripped: accepted here, it then broke the WPS
        # documents of the job's output (GetResult, /wps/jobs/<id>)
        ({"inputs": {"bbox": {"bbox": [0, 0, 1, 1], "crs": "EPSG:4326\u001f"}}},
         "WrongInputData"),
    ],
)
def test_ogcapi_execute_found_by_fuzzing(client, body, title):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = client.post("/processes/echo/execution", data=data,
                           content_type="application/json")
    assert response.status_code == 400, response.data
    assert_ogcapi_valid(response.get_json(), "exception")
    assert response.get_json()["title"] == title


@pytest.mark.parametrize(
    "query",
    [
        # echoed into the lineage as an attribute
        "say_hello&DataInputs=name=x@datatype=%01&lineage=true",
        # number and boolean parsers take U+001F and U+000B for white space
        "literal_types&DataInputs=i=1%1F&lineage=true",
        "literal_types&DataInputs=b=true%0B&lineage=true",
        # the CRS matched once stripped and was written into the output
        "expand_bbox&DataInputs=bbox=1,2,3,4@crs=EPSG:4326%1F",
    ],
)
def test_wps1_kvp_values_xml_cannot_carry(wps, query):
    code, _, _ = wps.error(EXEC1.removeprefix("/wps?") + query)
    assert code == "InvalidParameterValue"
