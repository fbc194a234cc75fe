import base64

import demo
import pytest

from sample_processes import processes
from wpsd import ProcessRegistry
from wpsd.exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    OperationNotSupported,
)
from wpsd.protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DescribeProcess,
    Execute,
    GetCapabilities,
    LiteralData,
    ReferenceData,
)
from wpsd.protocol.wps1.parse import parse_kvp, parse_xml_request, split_query

REGISTRY = ProcessRegistry(demo.processes + processes)
lookup = REGISTRY.get
EXEC = "service=WPS&version=1.0.0&request=Execute&"


def test_split_query_lowercases_names_and_keeps_values_encoded():
    params = split_query("SERVICE=WPS&aCcepTVersioNS=1.0.0&DataInputs=a%3Db&service=WMS")
    assert params == {"service": "WPS", "acceptversions": "1.0.0", "datainputs": "a%3Db"}


def test_get_capabilities_kvp():
    req = parse_kvp("Service=wps&Request=getcapabilities&AcceptVersions=2.0.0,1.0.0", lookup)
    assert req == GetCapabilities(accept_versions=("2.0.0", "1.0.0"))


@pytest.mark.parametrize(
    ("query", "error", "locator"),
    [
        ("request=GetCapabilities", MissingParameterValue, "service"),
        ("service=WMS&request=GetCapabilities", InvalidParameterValue, "service"),
        ("service=WPS", MissingParameterValue, "request"),
        ("service=WPS&request=GetMap", OperationNotSupported, "GetMap"),
        ("service=WPS&request=DescribeProcess&identifier=a", MissingParameterValue, "version"),
        ("service=WPS&request=DescribeProcess&version=9.9&identifier=a", InvalidParameterValue,
         "version"),
        ("service=WPS&request=DescribeProcess&version=1.0.0", MissingParameterValue, "identifier"),
        (EXEC + "identifier=say_hello&DataInputs=name", InvalidParameterValue, "datainputs"),
        (EXEC + "identifier=say_hello&lineage=maybe", InvalidParameterValue, "lineage"),
        (EXEC + "identifier=say_hello&RawDataOutput=a;b", InvalidParameterValue, "rawdataoutput"),
        (EXEC + "identifier=expand_bbox&DataInputs=bbox=1,x,3,4", InvalidParameterValue, "bbox"),
        (EXEC + "identifier=expand_bbox&DataInputs=bbox=1,2,3", InvalidParameterValue, "bbox"),
        (EXEC + "identifier=binary_echo&DataInputs=image=!!!@encoding=base64",
         InvalidParameterValue, "image"),
    ],
)
def test_kvp_errors(query, error, locator):
    with pytest.raises(error) as caught:
        parse_kvp(query, lookup)
    assert caught.value.locator == locator


def test_describe_process_kvp_lists_identifiers():
    req = parse_kvp("service=WPS&version=1.0.0&request=DescribeProcess&identifier=a,%20b", lookup)
    assert req == DescribeProcess(identifiers=("a", "b"), version="1.0.0")


def test_data_inputs_with_escaped_separators():
    # 05-007r7 10.2.2.1: ; @ = inside values are percent-encoded by the client.
    query = EXEC + "identifier=say_hello&DataInputs=name=a%3Bb%40c%3Dd%26e+f"
    req = parse_kvp(query, lookup)
    assert req.inputs[0].value == LiteralData("a;b@c=d&e f")


def test_data_inputs_encoded_as_a_whole():
    # What a generic HTTP library sends: every separator of the parameter encoded once,
    # separators inside values encoded twice.
    query = EXEC + "identifier=literal_types&DataInputs=s%3Da%253Bb%3Bi%3D3%40uom%3Dm"
    req = parse_kvp(query, lookup)
    assert [(i.identifier, i.value) for i in req.inputs] == [
        ("s", LiteralData("a;b")),
        ("i", LiteralData("3", uom="m")),
    ]


def test_data_inputs_types_follow_the_declaration():
    png = base64.b64encode(b"\x89PNG").decode()
    query = (EXEC + "identifier=expand_bbox&DataInputs=bbox=1,2,3,4,EPSG:3857;margin=0.5"
             "&ResponseDocument=bbox@asReference=false&lineage=true")
    req = parse_kvp(query, lookup)
    assert isinstance(req, Execute) and req.lineage and not req.store
    bbox = req.inputs[0].value
    assert isinstance(bbox, BoundingBoxData)
    assert bbox.bbox.lower == (1, 2) and bbox.bbox.upper == (3, 4) and bbox.bbox.crs == "EPSG:3857"
    req = parse_kvp(EXEC + f"identifier=binary_echo&DataInputs=image={png}@encoding=base64"
                    "@mimeType=image/png", lookup)
    assert req.inputs[0].value == ComplexData(b"\x89PNG", "image/png", "base64")


def test_reference_and_raw_output_kvp():
    query = (EXEC + "identifier=centroids&DataInputs=features=@xlink:href=http%3A%2F%2Fh%2Fa.json"
             "@mimeType=application/geo%2Bjson&RawDataOutput=centroids@mimeType=application/json")
    req = parse_kvp(query, lookup)
    assert req.inputs[0].value == ReferenceData("http://h/a.json", mime_type="application/geo+json")
    assert req.raw and req.outputs[0].mime_type == "application/json"


EXECUTE_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <ows:Identifier>xml_echo</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>doc</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="text/xml"><a:root xmlns:a="urn:a"><a:x>1</a:x></a:root></wps:ComplexData></wps:Data>
    </wps:Input>
    <wps:Input><ows:Identifier>ref</ows:Identifier>
      <wps:Reference xlink:href="http://h/x" method="POST" mimeType="text/plain">
        <wps:Header key="X-Test" value="1"/>
        <wps:Body><q>body</q></wps:Body>
      </wps:Reference>
    </wps:Input>
    <wps:Input><ows:Identifier>text</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="application/json"><![CDATA[{"a": "<b>"}]]></wps:ComplexData></wps:Data>
    </wps:Input>
    <wps:Input><ows:Identifier>box</ows:Identifier>
      <wps:Data><wps:BoundingBoxData crs="EPSG:4326" dimensions="2">
        <ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>
      </wps:BoundingBoxData></wps:Data>
    </wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm>
    <wps:ResponseDocument lineage="true" storeExecuteResponse="false">
      <wps:Output asReference="true" mimeType="text/xml"><ows:Identifier>doc</ows:Identifier></wps:Output>
    </wps:ResponseDocument>
  </wps:ResponseForm>
</wps:Execute>"""


def test_execute_xml():
    req = parse_xml_request(EXECUTE_XML)
    assert isinstance(req, Execute) and req.identifier == "xml_echo" and req.lineage
    doc, ref, text, box = (i.value for i in req.inputs)
    assert doc.is_xml and doc.data == b'<a:root xmlns:a="urn:a"><a:x>1</a:x></a:root>'
    assert ref == ReferenceData("http://h/x", "POST", (("X-Test", "1"),), b"<q>body</q>",
                                mime_type="text/plain")
    assert text.data == b'{"a": "<b>"}' and not text.is_xml
    assert box.bbox.lower == (1.0, 2.0) and box.bbox.crs == "EPSG:4326"
    assert req.outputs[0].as_reference and req.outputs[0].mime_type == "text/xml"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<wps:getcapabilities xmlns:wps='http://www.opengis.net/wps/1.0.0'></wps:GetCapabilities>",
         NoApplicableCode),
        (b"<GetCapabilities service='WPS'/>", OperationNotSupported),
        (b"<wps:Transaction xmlns:wps='http://www.opengis.net/wps/1.0.0' service='WPS'/>",
         OperationNotSupported),
        (b"<wps:DescribeProcess xmlns:wps='http://www.opengis.net/wps/1.0.0' service='WPS'"
         b" version='1.0.0'/>", MissingParameterValue),
        (b"<wps:Execute xmlns:wps='http://www.opengis.net/wps/1.0.0' version='1.0.0'/>",
         MissingParameterValue),
    ],
)
def test_xml_errors(body, error):
    with pytest.raises(error):
        parse_xml_request(body)


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{secret}">]>
<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS">&xxe;</wps:GetCapabilities>"""
    with pytest.raises(NoApplicableCode) as caught:
        parse_xml_request(body.encode())
    assert caught.value.status == 400
    assert "TOPSECRET" not in caught.value.text


def test_entity_expansion_bomb_is_refused():
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = f"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]>
<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS">&l9;</wps:GetCapabilities>"""
    with pytest.raises(NoApplicableCode):
        parse_xml_request(body.encode())
