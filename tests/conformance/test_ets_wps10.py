"""The checks of the OGC CITE suite ets-wps10 (shared/conformance, section 1), against the demo.

Requests and assertions follow the suite, including its quirks; its sample Execute files (which the
tester supplies) are written here for the demo's ``echo`` (inputs message and document).
"""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from schemas import assert_valid

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}

ECHO_EXECUTE = """<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1">
  <ows:Identifier>echo</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>document</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="text/xml"><testElement>testValue</testElement></wps:ComplexData></wps:Data>
    </wps:Input>
    <wps:Input><ows:Identifier>message</ows:Identifier>
      <wps:Data><wps:LiteralData dataType="xs:string">Hello!</wps:LiteralData></wps:Data>
    </wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm>{form}</wps:ResponseForm>
</wps:Execute>"""
DOCUMENT = """<wps:ResponseDocument{attrs}>
  <wps:Output asReference="false" encoding="UTF-8"><ows:Identifier>message</ows:Identifier></wps:Output>
  <wps:Output asReference="false" encoding="UTF-8"><ows:Identifier>document</ows:Identifier></wps:Output>
</wps:ResponseDocument>"""
RAW = '<wps:RawDataOutput><ows:Identifier>document</ows:Identifier></wps:RawDataOutput>'


@pytest.fixture(scope="module")
def iut(demo_server):
    return demo_server.url


def get(iut, query):
    return requests.get(iut + "?" + query, timeout=10)


def post(iut, body, query="", content_type="text/xml"):
    return requests.post(iut + query, data=body, headers={"Content-Type": content_type},
                         timeout=10)


def first_identifier(iut):
    caps = etree.fromstring(get(iut, "service=wps&request=GetCapabilities&language=en-US").content)
    return caps.findtext(".//ows:Identifier", namespaces=NS)


# A.4.1 All operations
def test_a411_get_capabilities_http_get(iut):
    assert get(iut, "service=wps&version=1.0.0&request=GetCapabilities").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["?service=wps&version=1.0.0&request=GetCapabilities",
     "?service=wps&request=DescribeProcess&Version=1.0.0",
     "?service=wps&version=1.0.0&request=DescribeProcess&identifier=JTS:Invalid"],
)
def test_a411_empty_post_is_an_exception(iut, query):
    response = post(iut, b"", query)
    assert 400 <= response.status_code < 600
    assert etree.fromstring(response.content).tag == "{{{}}}ExceptionReport".format(NS["ows"])


def test_a411_describe_process_http_get(iut):
    ident = first_identifier(iut)
    response = get(iut, f"service=wps&request=DescribeProcess&Version=1.0.0&identifier={ident}")
    assert response.status_code == 200


# A.4.2 GetCapabilities
@pytest.mark.parametrize(
    "query", ["", "&AcceptVersions=1.0.0", "&aCcepTVersioNS=1.0.0"],
)
def test_a421_kvp_names_case_insensitive(iut, query):
    assert get(iut, "service=wps&request=GetCapabilities" + query).status_code < 300


def test_a422_post_get_capabilities(iut):
    body = ('<wps:GetCapabilities service="WPS" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
            'xmlns:ows="http://www.opengis.net/ows/1.1"><wps:AcceptVersions>'
            "<ows:Version>1.0.0</ows:Version></wps:AcceptVersions></wps:GetCapabilities>")
    root = etree.fromstring(post(iut, body).content)
    assert root.tag == "{{{}}}Capabilities".format(NS["wps"])
    broken = body.replace("<wps:GetCapabilities", "<wps:getcapabilities", 1)
    assert b"ExceptionReport" in post(iut, broken).content


def test_a423_capabilities_valid(iut):
    for query in ["", "&AcceptVersions=1.0.0"]:
        assert_valid(get(iut, "service=wps&request=GetCapabilities" + query).content)


def test_a424_version_negotiation(iut):
    base = "service=wps&request=GetCapabilities&language=en-US"
    root = etree.fromstring(get(iut, base).content)
    versions = root.xpath("//ows:ServiceTypeVersion/text()", namespaces=NS)
    highest = max(versions, key=lambda v: int(v.replace(".", "")))
    assert root.get("version") == highest
    for bad in ("3.0.0", "0.0.1"):
        doc = etree.fromstring(get(iut, base + "&AcceptVersions=" + bad).content)
        assert doc.xpath("//ows:Exception[@exceptionCode='VersionNegotiationFailed']",
                         namespaces=NS)
    ok = etree.fromstring(get(iut, base + "&AcceptVersions=1.0.0").content)
    assert ok.get("version") == "1.0.0"


def test_a425_update_sequence_handling(iut):
    for fmt in ("text/xml", "application/x-bxml"):
        query = f"service=wps&request=GetCapabilities&AcceptVersions=1.0.0&AcceptFormats={fmt}"
        assert_valid(get(iut, query).content)


def test_a426_language_selection(iut):
    root = etree.fromstring(get(iut, "service=wps&request=GetCapabilities&AcceptVersions=1.0.0")
                            .content)
    languages = root.xpath("wps:Languages/wps:Supported/ows:Language/text()", namespaces=NS)
    assert languages
    for lang in languages:
        doc = etree.fromstring(get(iut, f"service=wps&request=GetCapabilities&language={lang}")
                               .content)
        assert lang in doc.get("{http://www.w3.org/XML/1998/namespace}lang")


# A.4.3 DescribeProcess
def test_a431_a434_describe_process(iut):
    ident = first_identifier(iut)
    kvp = get(iut, f"service=wps&version=1.0.0&request=DescribeProcess&Identifier={ident}")
    assert kvp.status_code == 200
    body = (f'<wps:DescribeProcess service="WPS" version="1.0.0" '
            f'xmlns:wps="http://www.opengis.net/wps/1.0.0" '
            f'xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>{ident}</ows:Identifier>'
            "</wps:DescribeProcess>")
    assert etree.fromstring(post(iut, body).content).tag == "{{{}}}ProcessDescriptions".format(NS["wps"])
    # The suite's own request lacks the '=' after Identifier; an exception report validates too.
    assert_valid(get(iut, f"service=wps&version=1.0.0&request=DescribeProcess&Identifier{ident}")
                 .content)
    doc = etree.fromstring(get(iut, "service=wps&request=DescribeProcess&Version=1.0.0"
                               f"&identifier={ident}&language=en-US").content)
    assert "en-US" in doc.get("{http://www.w3.org/XML/1998/namespace}lang")


# A.4.4 Execute
EXECUTE_GET = ("service=WPS&version=1.0.0&request=Execute&identifier=echo"
               "&DataInputs=message=Hello!&ResponseDocument=message")


def test_a441_execute_get(iut):
    response = get(iut, EXECUTE_GET)
    assert response.status_code == 200
    assert_valid(response.content)
    assert b"Hello!" in response.content


def test_a442_a443_request_files_are_valid():
    assert_valid(ECHO_EXECUTE.format(form=RAW).encode())
    assert_valid(ECHO_EXECUTE.format(form=DOCUMENT.format(attrs="")).encode())


def test_a443_raw_data_output(iut):
    response = post(iut, ECHO_EXECUTE.format(form=RAW), content_type="application/xml")
    assert response.status_code == 200
    assert etree.fromstring(response.content).tag == "testElement"


def test_a444_response_document(iut):
    response = post(iut, ECHO_EXECUTE.format(form=DOCUMENT.format(attrs="")),
                    content_type="application/xml")
    assert response.status_code == 200
    assert_valid(response.content)
    root = etree.fromstring(response.content)
    assert root.xpath("//wps:LiteralData/text()", namespaces=NS) == ["Hello!"]
    assert root.xpath("//wps:ComplexData/testElement/text()", namespaces=NS) == ["testValue"]


def test_a445_updating_response_document(iut):
    form = DOCUMENT.format(attrs=' storeExecuteResponse="true"')
    response = post(iut, ECHO_EXECUTE.format(form=form), content_type="application/xml")
    assert response.status_code == 200
    assert_valid(response.content)
    location = etree.fromstring(response.content).get("statusLocation")
    status = requests.get(location, timeout=10)
    assert status.status_code == 200
    assert_valid(status.content)


def test_a446_language_selection_execute(iut):
    assert get(iut, EXECUTE_GET + "&Language=en-US").status_code < 300
    assert_valid(get(iut, EXECUTE_GET).content)
