"""The checks of the OGC CITE suite ets-wps20 (shared/conformance, section 2), against the demo.

Requests follow the suite's templates with its substitutions (echo process, ids picked from
DescribeProcess). Its by-reference input points at GitHub; here the same kind of text file is
served on loopback. Like the suite, every request expects HTTP < 400.
"""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from schemas import assert_valid

NS = {"wps": "http://www.opengis.net/wps/2.0", "ows": "http://www.opengis.net/ows/2.0"}
ECHO = "echo"
HEAD = ('<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0" '
        'xmlns:ows="http://www.opengis.net/ows/2.0" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'service="WPS" version="2.0.0" mode="{mode}" response="{response}">')


def execute(inputs: str, output: str, mode: str = "sync", response: str = "document",
            process: str = ECHO, transmission: str = "value") -> str:
    return (HEAD.format(mode=mode, response=response)
            + f"<ows:Identifier>{process}</ows:Identifier>{inputs}"
            + f'<wps:Output id="{output}" transmission="{transmission}"/></wps:Execute>')


def literal(ident: str, value: str) -> str:
    return (f'<wps:Input id="{ident}"><wps:Data><wps:LiteralValue>{value}</wps:LiteralValue>'
            "</wps:Data></wps:Input>")


@pytest.fixture(scope="module")
def iut(demo_server):
    return demo_server.url


@pytest.fixture(scope="module")
def ids(iut):
    """The ids the suite picks from the echo process description."""
    root = etree.fromstring(get(iut, "Service=WPS&Version=2.0.0&Request=DescribeProcess"
                                     f"&Identifier={ECHO}").content)
    picked = {}
    for kind in ("Input", "Output"):
        for element in root.iterfind(f".//wps:Process/wps:{kind}", NS):
            ident = element.findtext("ows:Identifier", namespaces=NS)
            dtype = element.findtext(".//ows:DataType", namespaces=NS)
            if element.find("wps:LiteralData", NS) is not None and (dtype or "").lower() == "string":
                picked[f"literal_{kind.lower()}"] = ident
            if element.find("wps:ComplexData", NS) is not None:
                picked[f"complex_{kind.lower()}"] = ident
    return picked


def get(iut, query):
    response = requests.get(iut + "?" + query, timeout=30)
    assert response.status_code < 400, response.text
    return response


def post(iut, body):
    response = requests.post(iut, data=body, headers={"Content-Type": "application/xml"},
                             timeout=30)
    assert response.status_code < 400, response.text
    return response


def xml(response) -> etree._Element:
    return etree.fromstring(response.content)


# BasicTests
def test_a41_a43_process_description(iut):
    response = get(iut, f"Service=WPS&Version=2.0.0&Request=DescribeProcess&Identifier={ECHO}")
    assert_valid(response.content)
    root = xml(response)
    for kind in ("LiteralData", "ComplexData", "BoundingBoxData"):
        assert root.find(f".//wps:{kind}", NS) is not None


def test_valid_echo_process(iut, ids):
    raw = post(iut, execute(literal(ids["literal_input"], "hello_literal"),
                            ids["literal_output"], response="raw"))
    assert "hello_literal" in raw.text
    complex_input = (f'<wps:Input id="{ids["complex_input"]}"><wps:Data>'
                     "<testElement>hello_complex</testElement></wps:Data></wps:Input>")
    echoed = xml(post(iut, execute(complex_input, ids["complex_output"], response="raw")))
    element = echoed if echoed.tag == "testElement" else echoed.find(".//testElement")
    assert element.text == "hello_complex"


def test_a51_service_name(iut):
    assert requests.get(iut + "?Service=WPS&Version=2.0.0&Request=GetCapabilities",
                        timeout=10).status_code == 200
    assert requests.get(iut + "?Service=WMS&Version=2.0.0&Request=GetCapabilities",
                        timeout=10).status_code != 200


def test_a52_service_version(iut):
    assert requests.get(iut + "?Service=WPS&Version=3.0.0&Request=GetCapabilities",
                        timeout=10).status_code != 200


def test_a53_a55_input_and_output_by_value(iut, ids):
    body = execute(literal(ids["literal_input"], "PASSED"), ids["literal_output"])
    assert xml(post(iut, body)).find(".//wps:Data", NS) is not None


def test_a54_a56_input_and_output_by_reference(iut, ids, file_server):
    base, folder = file_server
    (folder / "vehicle.txt").write_text("vehicle")
    reference = (f'<wps:Input id="{ids["literal_input"]}"><wps:Reference mimeType="text/plain" '
                 f'xlink:href="{base}vehicle.txt"/></wps:Input>')
    assert xml(post(iut, execute(reference, ids["literal_output"]))).tag == (
        "{{{}}}Result".format(NS["wps"]))
    by_reference = xml(post(iut, execute(reference, ids["literal_output"],
                                         transmission="reference")))
    assert by_reference.find(".//wps:Reference", NS) is not None


def test_a57_unique_identifiers(iut):
    root = xml(get(iut, "Service=WPS&Version=2.0.0&Request=DescribeProcess&Identifier=ALL"))
    ids = [p.findtext("ows:Identifier", namespaces=NS) for p in root.iterfind(".//wps:Process", NS)]
    assert len(ids) == len(set(ids))


def test_a58_unique_job_ids(iut):
    body = execute(literal("literalInput", "PASSED"), "literalOutput", mode="async",
                   process="org.n52.javaps.test.EchoProcess")
    job_ids = [xml(post(iut, body)).findtext(".//wps:JobID", namespaces=NS) for _ in range(5)]
    assert all(job_ids) and len(set(job_ids)) == 5


def test_a59_a510_post_capabilities_and_description(iut):
    caps = post(iut, '<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/2.0" '
                     'service="WPS"/>')
    assert xml(caps).tag == "{{{}}}Capabilities".format(NS["wps"])
    describe = post(iut, '<wps:DescribeProcess xmlns:wps="http://www.opengis.net/wps/2.0" '
                         'xmlns:ows="http://www.opengis.net/ows/2.0" service="WPS" '
                         f'version="2.0.0"><ows:Identifier>{ECHO}</ows:Identifier>'
                         "</wps:DescribeProcess>")
    assert xml(describe).tag == "{{{}}}ProcessOfferings".format(NS["wps"])


def test_a512_async_execute(iut, ids):
    body = execute(literal(ids["literal_input"], "hello_literal"), ids["literal_output"],
                   mode="async")
    assert xml(post(iut, body)).find(".//wps:Status", NS) is not None


def test_a513_auto_execute(iut, ids):
    root = xml(get(iut, f"Service=WPS&Version=2.0.0&Request=DescribeProcess&Identifier={ECHO}"))
    offering = root.find("wps:ProcessOffering", NS)
    assert "value" in offering.get("outputTransmission")
    for mode in ("sync", "async"):
        if f"{mode}-execute" in offering.get("jobControlOptions"):
            response = post(iut, execute(literal(ids["literal_input"], "hello_literal"),
                                         ids["literal_output"], mode=mode, response="raw"))
            assert response.status_code == 200
            if mode == "sync":
                assert "hello_literal" in response.text


@pytest.mark.parametrize("prefix", ["SERVICE=WPS&VERSION=2.0.0&REQUEST=",
                                    "service=WPS&version=2.0.0&request="])
def test_a516_a517_kvp(iut, prefix):
    assert xml(get(iut, prefix + "GetCapabilities")).tag == "{{{}}}Capabilities".format(NS["wps"])
    caps = xml(get(iut, prefix + "GetCapabilities"))
    first = caps.findtext(".//ows:Identifier", namespaces=NS)
    key = "IDENTIFIER" if prefix.startswith("SERVICE") else "identifier"
    described = xml(get(iut, prefix + f"DescribeProcess&{key}={first}"))
    assert described.tag == "{{{}}}ProcessOfferings".format(NS["wps"])


# SyncTests
def test_a511_sync_execute(iut, ids):
    document = post(iut, execute(literal(ids["literal_input"], "hello_literal"),
                                 ids["literal_output"]))
    assert xml(document).tag == "{{{}}}Result".format(NS["wps"])
    assert "hello_literal" in post(iut, execute(literal(ids["literal_input"], "hello_literal"),
                                                ids["literal_output"], response="raw")).text


# AsyncTests
def submit(iut, ids, response):
    body = execute(literal(ids["literal_input"], "hello_literal"), ids["literal_output"],
                   mode="async", response=response)
    root = xml(post(iut, body))
    assert root.tag == "{{{}}}StatusInfo".format(NS["wps"])
    return root.findtext("wps:JobID", namespaces=NS)


def test_a514_get_status_post(iut, ids):
    job_id = submit(iut, ids, "document")
    status = post(iut, '<wps:GetStatus xmlns:wps="http://www.opengis.net/wps/2.0" service="WPS" '
                       f'version="2.0.0"><wps:JobID>{job_id}</wps:JobID></wps:GetStatus>')
    assert xml(status).find("wps:Status", NS) is not None


def test_a515_get_result_post_immediately(iut, ids):
    raw_job, document_job = submit(iut, ids, "raw"), submit(iut, ids, "document")
    template = ('<wps:GetResult xmlns:wps="http://www.opengis.net/wps/2.0" service="WPS" '
                'version="2.0.0"><wps:JobID>{}</wps:JobID></wps:GetResult>')
    raw = xml(post(iut, template.format(raw_job)))
    assert raw.find(".//wps:LiteralValue", NS) is not None
    assert "LiteralValue" in post(iut, template.format(document_job)).text


@pytest.mark.parametrize("prefix", ["SERVICE=WPS&VERSION=2.0.0&REQUEST=GetStatus&JOBID=",
                                    "service=WPS&version=2.0.0&request=GetStatus&jobid="])
def test_a518_get_status_kvp(iut, ids, prefix):
    job_id = submit(iut, ids, "document")
    assert xml(get(iut, prefix + job_id)).find("wps:Status", NS) is not None


def test_a519_get_result_kvp_immediately(iut, ids):
    document_job, raw_job = submit(iut, ids, "document"), submit(iut, ids, "raw")
    for job_id in (document_job, raw_job):
        status = xml(get(iut, f"Service=WPS&Version=2.0.0&Request=GetStatus&JobID={job_id}"))
        assert status.findtext("wps:Status", namespaces=NS).lower() == "succeeded"
    assert xml(get(iut, f"Service=WPS&Version=2.0.0&Request=GetResult&JobID={document_job}")
               ).tag == "{{{}}}Result".format(NS["wps"])
    raw = xml(get(iut, f"Service=WPS&Version=2.0.0&Request=GetResult&JobID={raw_job}"))
    assert raw.find(".//wps:LiteralValue", NS) is not None
