"""WPS 1.0.0 through the WSGI app: every operation, encoding and error; every XML answer is
validated against the OGC schemas by the ``wps`` fixture."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from urllib.parse import quote

import demo
import pytest
from lxml import etree

from helpers import NS, WPS

CAPS = "service=WPS&request=GetCapabilities"
DESCRIBE = "service=WPS&version=1.0.0&request=DescribeProcess&identifier="
EXEC = "service=WPS&version=1.0.0&request=Execute&identifier="
POINT = json.dumps({"type": "Point", "coordinates": [1.0, 2.0]})
SQUARES = json.dumps({
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]}},
    ],
})


def outputs(response) -> dict[str, etree._Element]:
    return {
        o.findtext("ows:Identifier", namespaces=NS): o
        for o in response.xml.iterfind("wps:ProcessOutputs/wps:Output", NS)
    }


def literal(response, ident: str) -> str:
    return outputs(response)[ident].findtext("wps:Data/wps:LiteralData", namespaces=NS)


def execute_xml(identifier: str, inputs: str = "", form: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <ows:Identifier>{identifier}</ows:Identifier>
  <wps:DataInputs>{inputs}</wps:DataInputs>{form}
</wps:Execute>"""


def literal_input(ident: str, value: str, attrs: str = "") -> str:
    return (f"<wps:Input><ows:Identifier>{ident}</ows:Identifier><wps:Data>"
            f"<wps:LiteralData{attrs}>{value}</wps:LiteralData></wps:Data></wps:Input>")


def complex_input(ident: str, content: str, attrs: str = "") -> str:
    return (f"<wps:Input><ows:Identifier>{ident}</ows:Identifier><wps:Data>"
            f"<wps:ComplexData{attrs}>{content}</wps:ComplexData></wps:Data></wps:Input>")


def reference_input(ident: str, href: str, attrs: str = "", inner: str = "") -> str:
    return (f"<wps:Input><ows:Identifier>{ident}</ows:Identifier>"
            f'<wps:Reference xlink:href="{href}"{attrs}>{inner}</wps:Reference></wps:Input>')


# ---------------------------------------------------------------- GetCapabilities


@pytest.mark.parametrize(
    "query",
    [CAPS, "SERVICE=WPS&REQUEST=GETCAPABILITIES", "service=wps&request=getcapabilities",
     CAPS + "&AcceptVersions=1.0.0", CAPS + "&aCcepTVersioNS=0.9.0,1.0.0",
     CAPS + "&language=en-US", CAPS + "&version=1.0.0", CAPS + "&AcceptFormats=text/xml"],
)
def test_get_capabilities(wps, query):
    root = wps.get(query).xml
    assert root.tag == "{http://www.opengis.net/wps/1.0.0}Capabilities"
    assert root.get("version") == "1.0.0"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    offered = root.xpath("wps:ProcessOfferings/wps:Process/ows:Identifier/text()", namespaces=NS)
    assert {"say_hello", "ultimate_question", "sleep", "expand_bbox", "buffer"} <= set(offered)
    assert root.xpath("wps:Languages/wps:Supported/ows:Language/text()", namespaces=NS) == ["en-US"]
    versions = root.xpath("//ows:ServiceTypeVersion/text()", namespaces=NS)
    assert root.get("version") == max(versions)
    hrefs = root.xpath("//ows:Operation[@name='Execute']//ows:Post/@xlink:href", namespaces=NS)
    assert hrefs == ["http://localhost/wps"]


def test_capabilities_use_the_configured_url(make_app):
    app = make_app(processes=[demo.say_hello], url="https://wps.example.org/ows")
    body = app.test_client().get("/wps?" + CAPS).data
    assert b'xlink:href="https://wps.example.org/ows?"' in body


def test_get_capabilities_post(wps):
    body = """<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0"
      xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" language="en-US">
      <wps:AcceptVersions><ows:Version>1.0.0</ows:Version></wps:AcceptVersions>
    </wps:GetCapabilities>"""
    assert wps.post(body).xml.tag == "{http://www.opengis.net/wps/1.0.0}Capabilities"


@pytest.mark.parametrize("versions", ["3.0.0", "0.0.1"])
def test_version_negotiation_failed(wps, versions):
    code, locator, _ = wps.error(CAPS + "&language=en-US&AcceptVersions=" + versions)
    assert (code, locator) == ("VersionNegotiationFailed", "AcceptVersions")


def test_update_sequence(wps):
    ours = wps.get(CAPS).xml.get("updateSequence")
    assert ours and wps.get(CAPS + "&updateSequence=" + ours).xml.get("updateSequence") == ours


def test_numeric_update_sequence_newer_than_ours(make_app):
    client = make_app(processes=[demo.say_hello], update_sequence="5").test_client()
    assert client.get("/wps?" + CAPS + "&updateSequence=4").status_code == 200
    response = client.get("/wps?" + CAPS + "&updateSequence=6")
    assert response.status_code == 400 and b"InvalidUpdateSequence" in response.data


def test_unknown_language(wps):
    assert wps.error(CAPS + "&language=tlh")[:2] == ("InvalidParameterValue", "language")


@pytest.mark.parametrize(
    ("query", "status", "code", "locator"),
    [
        ("request=GetCapabilities", 400, "MissingParameterValue", "service"),
        ("service=WMS&request=GetCapabilities", 400, "InvalidParameterValue", "service"),
        ("service=WPS", 400, "MissingParameterValue", "request"),
        # 06-121r3 table 25: the locator is the operation asked for
        ("service=WPS&request=Transaction", 501, "OperationNotSupported", "Transaction"),
        ("", 400, "MissingParameterValue", "service"),
    ],
)
def test_request_errors(wps, query, status, code, locator):
    assert wps.error(query, status=status)[:2] == (code, locator)


def test_exceptions_are_logged(wps, caplog):
    with caplog.at_level(logging.ERROR, logger="wpsd"):
        wps.error("service=WMS&request=GetCapabilities")
    assert "Exception: code: 400, locator: service" in caplog.text


@pytest.mark.parametrize(
    "query",
    ["?service=wps&version=1.0.0&request=GetCapabilities",
     "?service=wps&request=DescribeProcess&Version=1.0.0",
     "?service=wps&version=1.0.0&request=DescribeProcess&identifier=JTS:Invalid", ""],
)
def test_post_without_xml_body_is_an_exception(wps, query):
    # KVP is not allowed over POST (05-007r7 8.2.1); CITE A.4.1 checks this.
    root = wps.post(b"", status=400, query=query).xml
    assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"


def test_not_well_formed_xml(wps):
    body = ("<wps:getcapabilities xmlns:wps='http://www.opengis.net/wps/1.0.0' service='WPS'>"
            "</wps:GetCapabilities>")
    code, _, text = wps.error(body=body)
    assert code == "NoApplicableCode" and "well-formed" in text


def test_other_methods_get_an_exception_report(client):
    response = client.put("/wps", data=b"x")
    assert response.status_code == 405 and b"OperationNotSupported" in response.data


def test_oversized_body(make_app):
    client = make_app(processes=[], max_request_bytes=1000).test_client()
    response = client.post("/wps", data=b"<a>" + b" " * 2000 + b"</a>", content_type="text/xml")
    assert response.status_code == 413 and b"ExceptionReport" in response.data


def test_read_only_requests_write_nothing(wps, settings):
    wps.get(CAPS)
    wps.get(DESCRIBE + "ALL")
    wps.post("""<wps:DescribeProcess xmlns:wps="http://www.opengis.net/wps/1.0.0"
      xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0">
      <ows:Identifier>say_hello</ows:Identifier></wps:DescribeProcess>""")
    assert not settings.work_path.exists() and not settings.output_path.exists()


# ---------------------------------------------------------------- DescribeProcess


def describe(wps, identifier):
    root = wps.get(DESCRIBE + identifier).xml
    return root.find("ProcessDescription")


def test_describe_say_hello(wps):
    desc = describe(wps, "say_hello")
    assert desc.findtext("ows:Title", namespaces=NS) == "Process Say Hello"
    assert desc.get("{http://www.opengis.net/wps/1.0.0}processVersion") == "1.0.0"
    assert desc.get("storeSupported") == "true" and desc.get("statusSupported") == "true"
    sync_only = describe(wps, "sync_only")
    assert sync_only.get("storeSupported") == "false"
    assert sync_only.get("statusSupported") == "false"
    name = desc.find("DataInputs/Input")
    assert (name.get("minOccurs"), name.get("maxOccurs")) == ("1", "1")
    assert name.findtext("ows:Title", namespaces=NS) == "Input name"
    assert name.findtext("LiteralData/ows:DataType", namespaces=NS) == "string"
    assert name.find("LiteralData/ows:AnyValue", NS) is not None
    output = desc.find("ProcessOutputs/Output")
    assert output.findtext("ows:Title", namespaces=NS) == "Output response"


def test_describe_literal_domains(wps):
    desc = describe(wps, "allowed")
    color, level = desc.findall("DataInputs/Input")
    assert color.xpath("LiteralData/ows:AllowedValues/ows:Value/text()", namespaces=NS) == [
        "red", "green"]
    rng = level.find("LiteralData/ows:AllowedValues/ows:Range", NS)
    assert rng.get("{http://www.opengis.net/ows/1.1}rangeClosure") == "closed-open"
    assert [rng.findtext(f"ows:{t}", namespaces=NS) for t in
            ("MinimumValue", "MaximumValue", "Spacing")] == ["0", "10", "2"]
    assert level.findtext("LiteralData/DefaultValue") == "2"
    assert level.get("minOccurs") == "0"
    sleep = describe(wps, "sleep").find("DataInputs/Input/LiteralData")
    assert sleep.xpath("UOMs/Default/ows:UOM/text()", namespaces=NS) == ["second"]


def test_describe_complex_and_bbox(wps):
    buffer_desc = describe(wps, "buffer")
    features = buffer_desc.find("DataInputs/Input/ComplexData")
    assert features.get("maximumMegabytes") == "16"
    assert features.findtext("Default/Format/MimeType") == "application/geo+json"
    assert features.xpath("Supported/Format/MimeType/text()") == [
        "application/geo+json", "application/json"]
    bbox = describe(wps, "expand_bbox")
    assert bbox.findtext("DataInputs/Input/BoundingBoxData/Default/CRS") == "EPSG:4326"
    assert bbox.xpath("ProcessOutputs/Output/BoundingBoxOutput/Supported/CRS/text()") == [
        "EPSG:4326", "EPSG:3857"]


def test_describe_several_and_all(wps):
    two = wps.get(DESCRIBE + "say_hello,sleep").xml
    assert two.xpath("ProcessDescription/ows:Identifier/text()", namespaces=NS) == [
        "say_hello", "sleep"]
    everything = wps.get(DESCRIBE + "ALL").xml
    from sample_processes import processes as samples

    assert len(everything.findall("ProcessDescription")) == len(demo.processes + samples)


def test_describe_post(wps):
    root = wps.post("""<wps:DescribeProcess xmlns:wps="http://www.opengis.net/wps/1.0.0"
      xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0">
      <ows:Identifier>say_hello</ows:Identifier><ows:Identifier>area</ows:Identifier>
    </wps:DescribeProcess>""").xml
    assert len(root.findall("ProcessDescription")) == 2


@pytest.mark.parametrize(
    ("query", "code", "locator"),
    [
        # 05-007r7 table 38: the locator names the parameter
        (DESCRIBE + "nope", "InvalidParameterValue", "Identifier"),
        (DESCRIBE + "say_hello,nope", "InvalidParameterValue", "Identifier"),
        ("service=WPS&version=1.0.0&request=DescribeProcess", "MissingParameterValue",
         "identifier"),
        ("service=WPS&request=DescribeProcess&identifier=say_hello", "MissingParameterValue",
         "version"),
        ("service=WPS&version=0.4&request=DescribeProcess&identifier=say_hello",
         "InvalidParameterValue", "version"),
    ],
)
def test_describe_errors(wps, query, code, locator):
    assert wps.error(query)[:2] == (code, locator)


# ---------------------------------------------------------------- Execute: literal


def test_say_hello_kvp(wps):
    response = wps.get(EXEC + "say_hello&DataInputs=name=Bob")
    root = response.xml
    assert root.find("wps:Status/wps:ProcessSucceeded", NS) is not None
    assert root.get("serviceInstance").startswith("http://localhost/wps?")
    assert literal(response, "response") == "Hello Bob"
    assert outputs(response)["response"].findtext("ows:Title", namespaces=NS) == "Output response"


def test_say_hello_post(wps):
    response = wps.post(execute_xml("say_hello", literal_input("name", "Alice &amp; Bob")))
    assert literal(response, "response") == "Hello Alice & Bob"


def test_ultimate_question(wps):
    assert literal(wps.get(EXEC + "ultimate_question"), "outvalue") == "42"


def test_literal_types_are_converted(wps):
    inputs = "i=-3;f=2.5;b=true;d=2026-11-26;dt=2026-11-26T10:00:00Z;t=10:30:00;dec=1.10;s=x;pos=4"
    text = literal(wps.get(EXEC + "literal_types&DataInputs=" + inputs), "types")
    assert text == (
        "b=bool:True;d=date:datetime.date(2026, 11, 26);dec=Decimal:Decimal('1.10');"
        "dt=datetime:datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.timezone.utc);"
        "f=float:2.5;i=int:-3;pos=int:4;s=str:'x';t=time:datetime.time(10, 30)"
    )


def test_repeated_inputs_arrive_as_a_list(wps):
    assert literal(wps.get(EXEC + "multi&DataInputs=n=1;n=2;n=3"), "sum") == "6"


def test_default_values(wps):
    assert literal(wps.get(EXEC + "allowed&DataInputs=color=red"), "out") == "red:2"


def test_units_of_measure(wps):
    response = wps.get(EXEC + "length&DataInputs=length=10@uom=foot"
                       "&ResponseDocument=metres@uom=kilometre")
    out = outputs(response)["metres"].find("wps:Data/wps:LiteralData", NS)
    assert float(out.text) == pytest.approx(3.048) and out.get("uom") == "kilometre"
    assert out.get("dataType") == "double"
    code, locator, _ = wps.error(EXEC + "length&DataInputs=length=1@uom=parsec")
    assert (code, locator) == ("InvalidParameterValue", "length")


@pytest.mark.parametrize(
    ("query", "code", "locator"),
    [
        ("say_hello", "MissingParameterValue", "name"),
        ("say_hello&DataInputs=name=a;name=b", "InvalidParameterValue", "name"),
        ("say_hello&DataInputs=nom=Bob", "InvalidParameterValue", "nom"),
        ("multi&DataInputs=n=1", "MissingParameterValue", "n"),
        ("multi&DataInputs=n=1;n=2;n=3;n=4;n=5", "InvalidParameterValue", "n"),
        ("multi&DataInputs=n=1;n=two", "InvalidParameterValue", "n"),
        ("allowed&DataInputs=color=blue", "InvalidParameterValue", "color"),
        ("allowed&DataInputs=color=red;level=3", "InvalidParameterValue", "level"),
        ("allowed&DataInputs=color=red;level=10", "InvalidParameterValue", "level"),
        ("sleep&DataInputs=delay=-1", "InvalidParameterValue", "delay"),
        ("say_hello&DataInputs=name=x&ResponseDocument=nothing", "InvalidParameterValue",
         "nothing"),
        ("say_hello&DataInputs=name=x&RawDataOutput=nothing", "InvalidParameterValue", "nothing"),
        ("nope", "InvalidParameterValue", "Identifier"),
        ("sync_only&storeExecuteResponse=true", "StorageNotSupported", "storeExecuteResponse"),
        ("say_hello&DataInputs=name=x&status=true", "InvalidParameterValue", "status"),
        ("say_hello&DataInputs=name=x&language=fr", "InvalidParameterValue", "language"),
        ("expand_bbox&DataInputs=bbox=1,2,3,4,EPSG:9999", "InvalidParameterValue", "bbox"),
        ("expand_bbox&DataInputs=bbox=1,2,3,4,5,6", "InvalidParameterValue", "bbox"),
        ("buffer&DataInputs=features=x@mimeType=image/png;distance=1", "InvalidParameterValue",
         "features"),
        ("buffer&DataInputs=features=x;distance=1&ResponseDocument=buffered@mimeType=text/csv",
         "InvalidParameterValue", "buffered"),
        ("expand_bbox&DataInputs=bbox=1,2,3,4&ResponseDocument=bbox@asReference=true",
         "InvalidParameterValue", "bbox"),
    ],
)
def test_execute_request_errors(wps, query, code, locator):
    assert wps.error(EXEC + query)[:2] == (code, locator)


# ---------------------------------------------------------------- Execute: complex


def test_geojson_inline_kvp(wps):
    response = wps.get(EXEC + "centroids&DataInputs=features=" + quote(SQUARES))
    data = outputs(response)["centroids"].find("wps:Data/wps:ComplexData", NS)
    assert data.get("mimeType") == "application/geo+json"
    centroids = json.loads(data.text)
    assert [f["geometry"]["coordinates"] for f in centroids["features"]] == [[1, 1], [5.5, 5.5]]


def test_geojson_inline_post_cdata(wps):
    body = execute_xml("area", complex_input("features", f"<![CDATA[{SQUARES}]]>",
                                              ' mimeType="application/geo+json"'))
    assert float(literal(wps.post(body), "area")) == 5.0
    body = execute_xml("feature_count", complex_input("features", SQUARES))
    assert literal(wps.post(body), "count") == "2"


def test_inline_xml_round_trip(wps):
    doc = '<a:root xmlns:a="urn:a"><a:x>1 &amp; 2</a:x></a:root>'
    response = wps.post(execute_xml("xml_echo", complex_input("doc", doc, ' mimeType="text/xml"')))
    data = outputs(response)["doc"].find("wps:Data/wps:ComplexData", NS)
    assert data.get("mimeType") == "text/xml"
    (embedded,) = data
    assert embedded.tag == "{urn:a}root" and embedded.findtext("{urn:a}x") == "1 & 2"


def test_raw_xml_output(wps):
    doc = "<root><x>1</x></root>"
    form = ("<wps:ResponseForm><wps:RawDataOutput><ows:Identifier>doc</ows:Identifier>"
            "</wps:RawDataOutput></wps:ResponseForm>")
    response = wps.client.post("/wps", data=execute_xml("xml_echo", complex_input("doc", doc), form))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert etree.fromstring(response.data).findtext("x") == "1"


def test_complex_input_size_limit(wps):
    big = "<root>" + "x" * 2000 + "</root>"
    code, locator, _ = wps.error(body=execute_xml("xml_echo", complex_input("doc", big)))
    assert (code, locator) == ("FileSizeExceeded", "doc")


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def test_binary_base64_document_and_raw(wps):
    encoded = base64.b64encode(PNG_BYTES).decode()
    inputs = complex_input("image", encoded, ' mimeType="image/png" encoding="base64"')
    data = outputs(wps.post(execute_xml("binary_echo", inputs)))["image"].find(
        "wps:Data/wps:ComplexData", NS)
    assert data.get("encoding") == "base64" and base64.b64decode(data.text) == PNG_BYTES
    raw = wps.get(EXEC + f"binary_echo&DataInputs=image={quote(encoded, safe='')}"
                  "@mimeType=image/png@encoding=base64&RawDataOutput=image")
    assert raw.mimetype == "image/png" and raw.data == PNG_BYTES


def test_output_by_reference_is_served_with_its_type(wps, client):
    response = wps.get(EXEC + "buffer&DataInputs=features=" + quote(POINT) + ";distance=1"
                       "&ResponseDocument=buffered@asReference=true")
    ref = outputs(response)["buffered"].find("wps:Reference", NS)
    assert ref.get("mimeType") == "application/geo+json"
    href = ref.get("href")
    assert href.startswith("http://localhost/wps/outputs/")
    with client.get(href) as served:
        assert served.status_code == 200 and served.mimetype == "application/geo+json"
        buffered = json.loads(served.data)
    assert buffered["features"][0]["geometry"]["type"] == "Polygon"


def test_literal_output_by_reference(wps, client):
    response = wps.get(EXEC + "say_hello&DataInputs=name=Ref"
                       "&ResponseDocument=response@asReference=true")
    href = outputs(response)["response"].find("wps:Reference", NS).get("href")
    with client.get(href) as served:
        assert served.data == b"Hello Ref" and served.mimetype == "text/plain"


@pytest.mark.parametrize(
    "path", ["x/y", "../../etc/passwd", "..%2F..%2Fetc/passwd", "a/b.type", ".x/y"]
)
def test_output_store_refuses_other_paths(client, path):
    assert client.get("/wps/outputs/" + path).status_code == 404


def test_several_outputs_and_formats(wps, file_server):
    base, folder = file_server
    (folder / "a.txt").write_text("hello world")
    body = execute_xml(
        "text_stats",
        complex_input("text", "abc", ' mimeType="text/plain"')
        + reference_input("text", base + "a.txt", ' mimeType="text/plain"'),
    )
    response = wps.post(body)
    found = outputs(response)
    assert literal(response, "chars") == str(len("abc") + len("hello world"))
    stats = json.loads(found["stats"].findtext("wps:Data/wps:ComplexData", namespaces=NS))
    assert stats == {"documents": 2, "hrefs": [None, base + "a.txt"]}


# ---------------------------------------------------------------- Execute: references


def test_reference_get(wps, file_server):
    base, folder = file_server
    (folder / "squares.geojson").write_text(SQUARES)
    body = execute_xml("area", reference_input("features", base + "squares.geojson",
                                               ' mimeType="application/geo+json"'))
    assert float(literal(wps.post(body), "area")) == 5.0
    kvp = wps.get(EXEC + "feature_count&DataInputs=features=@xlink:href="
                  + quote(base + "squares.geojson", safe=""))
    assert literal(kvp, "count") == "2"


def test_reference_post_with_body_and_headers(wps, file_server):
    base, _ = file_server
    inner = '<wps:Header key="Accept-Language" value="42"/><wps:Body>payload</wps:Body>'
    body = execute_xml("text_stats", reference_input("text", base + "echo", ' method="POST"',
                                                     inner))
    assert literal(wps.post(body), "chars") == str(len("payload|Accept-Language=42"))


def test_reference_post_with_body_reference(wps, file_server):
    base, folder = file_server
    (folder / "body.txt").write_text("from a file")
    inner = f'<wps:BodyReference xlink:href="{base}body.txt"/>'
    body = execute_xml("text_stats", reference_input("text", base + "echo", ' method="POST"',
                                                     inner))
    assert literal(wps.post(body), "chars") == str(len("from a file|Accept-Language=None"))


def test_literal_by_reference(wps, file_server):
    base, folder = file_server
    (folder / "name.txt").write_text("Referenced")
    body = execute_xml("say_hello", reference_input("name", base + "name.txt"))
    assert literal(wps.post(body), "response") == "Hello Referenced"


def test_reference_errors(wps, file_server):
    base, folder = file_server
    (folder / "big.xml").write_text("<r>" + "x" * 5000 + "</r>")
    cases = [
        (reference_input("doc", base + "big.xml"), "FileSizeExceeded"),
        (reference_input("doc", base + "missing.xml"), "InvalidParameterValue"),
        (reference_input("doc", "file:///etc/passwd"), "InvalidParameterValue"),
        (reference_input("doc", "ftp://127.0.0.1/x"), "InvalidParameterValue"),
        (reference_input("doc", "http://127.0.0.1:1/x"), "InvalidParameterValue"),
    ]
    for inputs, expected in cases:
        code, locator, text = wps.error(body=execute_xml("xml_echo", inputs))
        assert (code, locator) == (expected, "doc"), text


# ---------------------------------------------------------------- Execute: bbox


def test_bbox_kvp_and_post(wps):
    response = wps.get(EXEC + "expand_bbox&DataInputs=bbox=1,2,3,4;margin=1")
    box = outputs(response)["bbox"].find("wps:Data/wps:BoundingBoxData", NS)
    assert box.get("crs") == "EPSG:4326" and box.get("dimensions") == "2"
    assert box.findtext("ows:LowerCorner", namespaces=NS) == "0.0 1.0"
    assert box.findtext("ows:UpperCorner", namespaces=NS) == "4.0 5.0"
    bbox_input = ('<wps:Input><ows:Identifier>bbox</ows:Identifier><wps:Data>'
                  '<wps:BoundingBoxData crs="EPSG:3857" dimensions="2">'
                  '<ows:LowerCorner>10 20</ows:LowerCorner><ows:UpperCorner>30 40</ows:UpperCorner>'
                  '</wps:BoundingBoxData></wps:Data></wps:Input>')
    posted = outputs(wps.post(execute_xml("expand_bbox", bbox_input)))["bbox"]
    assert posted.find("wps:Data/wps:BoundingBoxData", NS).get("crs") == "EPSG:3857"


def test_bbox_raw_output(wps):
    response = wps.get(EXEC + "expand_bbox&DataInputs=bbox=1,2,3,4&RawDataOutput=bbox")
    assert response.xml.tag == "{http://www.opengis.net/ows/1.1}BoundingBox"


# ---------------------------------------------------------------- Execute: response forms


def test_raw_literal_output(wps):
    response = wps.get(EXEC + "say_hello&DataInputs=name=Raw&RawDataOutput=response")
    assert response.mimetype == "text/plain" and response.data == b"Hello Raw"


def test_raw_complex_output_with_format(wps):
    response = wps.get(EXEC + "centroids&DataInputs=features=" + quote(POINT)
                       + "&RawDataOutput=centroids@mimeType=application/json")
    assert response.mimetype == "application/json"
    assert json.loads(response.data)["features"][0]["geometry"]["coordinates"] == [1.0, 2.0]


def test_lineage(wps, file_server):
    base, folder = file_server
    (folder / "p.json").write_text(POINT)
    inputs = (reference_input("features", base + "p.json", ' mimeType="application/geo+json"')
              + literal_input("distance", "0.5"))
    form = ('<wps:ResponseForm><wps:ResponseDocument lineage="true">'
            '<wps:Output mimeType="application/json"><ows:Identifier>buffered</ows:Identifier>'
            "</wps:Output></wps:ResponseDocument></wps:ResponseForm>")
    root = wps.post(execute_xml("buffer", inputs, form)).xml
    lineage = root.findall("wps:DataInputs/wps:Input", NS)
    assert [i.findtext("ows:Identifier", namespaces=NS) for i in lineage] == ["features",
                                                                              "distance"]
    assert lineage[0].find("wps:Reference", NS).get("{http://www.w3.org/1999/xlink}href") == (
        base + "p.json")
    assert lineage[1].findtext("wps:Data/wps:LiteralData", namespaces=NS) == "0.5"
    (definition,) = root.findall("wps:OutputDefinitions/wps:Output", NS)
    assert definition.get("mimeType") == "application/json"
    assert outputs_mime(root) == "application/json"


def outputs_mime(root):
    return root.find("wps:ProcessOutputs/wps:Output/wps:Data/wps:ComplexData", NS).get("mimeType")


def test_requested_outputs_only(wps):
    response = wps.get(EXEC + "text_stats&DataInputs=text=abc&ResponseDocument=chars")
    assert list(outputs(response)) == ["chars"]


# ---------------------------------------------------------------- failures


def test_failing_process_gives_process_failed(capfd, make_app):
    # The handler runs in the worker, which logs to the stderr the server had when it started
    # its worker: the app is made while capfd captures.
    wps = WPS(make_app().test_client())
    response = wps.get(EXEC + "fail")
    failed = response.xml.find("wps:Status/wps:ProcessFailed", NS)
    exc = failed.find("ows:ExceptionReport/ows:Exception", NS)
    assert exc.get("exceptionCode") == "NoApplicableCode"
    text = exc.findtext("ows:ExceptionText", namespaces=NS)
    # What the handler raised is for the operator: the client learns where to look, not what.
    assert "'fail' failed" in text and "server log" in text
    assert b"broke on purpose" not in response.data and b"ValueError" not in response.data
    assert b"Traceback" not in response.data and b"sample_processes.py" not in response.data
    assert response.xml.find("wps:ProcessOutputs", NS) is None
    logged = capfd.readouterr().err
    assert "Traceback" in logged and "the process broke on purpose" in logged


def test_bad_return_value_fails_the_process(wps):
    response = wps.get(EXEC + "bad_return")
    text = response.xml.findtext(".//ows:ExceptionText", namespaces=NS)
    assert "no dict of outputs" in text


def test_failing_process_raw_output_is_an_exception_report(wps):
    code, _, text = wps.error(EXEC + "fail&RawDataOutput=never", status=500)
    assert code == "NoApplicableCode" and "'fail' failed" in text


def test_working_directories_are_removed(wps, settings):
    wps.get(EXEC + "binary_echo&DataInputs=image="
            + quote(base64.b64encode(PNG_BYTES).decode(), safe="") + "@encoding=base64")
    wps.get(EXEC + "fail")
    assert not settings.work_path.exists() or list(settings.work_path.iterdir()) == []


def test_a_crashing_handler_fails_only_its_execution(wps, settings):
    text = wps.get(EXEC + "crash").xml.findtext(".//ows:ExceptionText", namespaces=NS)
    assert "worker process running the execution died" in text
    # the dead process's directory is gone too (if the handler made one)
    assert not settings.work_path.exists() or list(settings.work_path.iterdir()) == []
    response = wps.get(EXEC + "say_hello&DataInputs=name=after")
    assert response.xml.find("wps:Status/wps:ProcessSucceeded", NS) is not None


def test_synchronous_time_limit_stops_the_execution(wps):
    text = wps.get(EXEC + "limited").xml.findtext(".//ows:ExceptionText", namespaces=NS)
    assert "longer than its time limit of 1 s" in text
    assert wps.get(EXEC + "ultimate_question").xml.find("wps:Status/wps:ProcessSucceeded",
                                                          NS) is not None


def occupy_the_only_sync_process(app, tmp_path) -> threading.Thread:
    """A synchronous execution that holds the one sync process until its time limit."""
    pidfile = tmp_path / "busy"
    thread = threading.Thread(target=lambda: app.test_client().get(
        "/wps?" + EXEC + f"forever&DataInputs=pidfile={pidfile}"))
    thread.start()
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the execution never started"
        time.sleep(0.01)
    return thread


def test_a_burst_waits_for_a_free_sync_process(make_app, tmp_path):
    app = make_app(max_sync_executions=1, job_time_limit=2)
    first = occupy_the_only_sync_process(app, tmp_path)
    try:
        queued = app.test_client().get("/wps?" + EXEC + "say_hello&DataInputs=name=x")
        assert queued.status_code == 200 and b"Hello x" in queued.data
    finally:
        first.join()


def test_server_busy_when_no_process_frees_up_in_time(make_app, tmp_path, monkeypatch):
    from wpsd.worker import sync

    app = make_app(max_sync_executions=1, job_time_limit=3)
    monkeypatch.setattr(sync, "QUEUE_WAIT", 0.3)
    first = occupy_the_only_sync_process(app, tmp_path)
    try:
        busy = app.test_client().get("/wps?" + EXEC + "say_hello&DataInputs=name=x")
        assert busy.status_code == 503 and b'exceptionCode="ServerBusy"' in busy.data
    finally:
        first.join()
    again = app.test_client().get("/wps?" + EXEC + "say_hello&DataInputs=name=x")
    assert again.status_code == 200
