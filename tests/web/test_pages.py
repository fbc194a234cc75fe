"""What the HTML pages need besides templates: the map library, the icon, the maps' CSP."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from lxml import etree

from helpers import EXEC, NS
from wpsd.web.headers import PAGE_CSP
from wpsd.web.pages import (
    FormatOption,
    format_options,
    map_format,
    map_tiles,
    output_origins,
    page_csp,
)

GML = "http://www.opengis.net/gml/3.2"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"


def test_leaflet_is_served_from_its_package(client):
    with client.get("/vendor/leaflet/leaflet.js") as script:
        assert script.status_code == 200 and b"Leaflet" in script.data[:300]
    for path, mimetype in (("leaflet.css", "text/css"), ("images/layers.png", "image/png")):
        with client.get("/vendor/leaflet/" + path) as response:
            assert response.status_code == 200 and response.mimetype == mimetype
    for path in ("../__init__.py", "nothing.js"):
        with client.get("/vendor/leaflet/" + path) as response:
            assert response.status_code == 404


def test_favicon(client):
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert b"<svg" in icon.data
    assert 'rel="icon"' in client.get("/?f=html").get_data(as_text=True)


def test_bbox_form_offers_the_process_crss(client):
    page = client.get("/processes/expand_bbox?f=html").get_data(as_text=True)
    assert ('<option value="http://www.opengis.net/def/crs/EPSG/0/4326">EPSG:4326</option>'
            in page)
    assert "EPSG:3857" in page and "CRS84" not in page.split('id="crs-bbox"', 1)[1]
    assert 'data-map="bbox"' in page and "/vendor/leaflet/leaflet.js" in page


def test_geojson_form_has_a_map_and_an_upload(client):
    page = client.get("/processes/buffer?f=html").get_data(as_text=True)
    assert 'data-map="geometry"' in page and 'id="file-features"' in page
    assert '<option selected data-format="geojson">application/geo+json</option>' in page
    assert "<option>application/json</option>" in page  # a format the map does not write
    assert "upload a GeoJSON file" in page and ".gml" not in page
    # not for documents that are neither GeoJSON nor GML
    echo = client.get("/processes/echo?f=html").get_data(as_text=True)
    assert 'data-map="geometry"' not in echo and "data-format" not in echo


def test_gml_form_has_a_map_that_writes_gml_first(client):
    page = client.get("/processes/gml_buffer?f=html").get_data(as_text=True)
    assert 'data-map="geometry"' in page and 'id="file-geometry"' in page
    # its default format is GML, so that is what a drawing is written in
    assert ('<option selected data-format="gml">application/gml+xml; version=3.2</option>'
            '<option data-format="geojson">application/geo+json</option>') in page
    assert "upload a GML or GeoJSON file" in page and "application/gml+xml,text/xml" in page


@pytest.mark.parametrize(("schema", "kind"), [
    ({"contentMediaType": "application/geo+json"}, "geojson"),
    ({"contentMediaType": "application/vnd.geo+json"}, "geojson"),
    ({"contentMediaType": "application/gml+xml"}, "gml"),
    ({"contentMediaType": "application/gml+xml; version=3.2"}, "gml"),
    ({"contentMediaType": "Application/GML+XML;version=3.1.1"}, "gml"),
    ({"contentMediaType": "application/vnd.ogc.gml"}, "gml"),
    ({"contentMediaType": "text/xml; subtype=gml/3.1.1"}, "gml"),
    ({"contentMediaType": "text/xml",
      "contentSchema": "http://schemas.opengis.net/gml/3.2.1/gml.xsd"}, "gml"),
    ({"contentMediaType": "text/xml"}, ""),
    ({"contentMediaType": "application/xml", "contentSchema": {"type": "object"}}, ""),
    ({"contentMediaType": "application/json"}, ""),
    ({"type": "string"}, ""),
])
def test_map_format(schema, kind):
    assert map_format(schema) == kind


def test_format_options_select_the_first_the_map_writes():
    schema = {"oneOf": [{"contentMediaType": "text/plain"},
                        {"contentMediaType": "application/gml+xml"},
                        {"contentMediaType": "application/geo+json"}]}
    assert format_options(schema) == [FormatOption("text/plain", "", False),
                                      FormatOption("application/gml+xml", "gml", True),
                                      FormatOption("application/geo+json", "geojson", False)]
    # one format, not in a oneOf; and none a map can write: none selected
    assert format_options({"contentMediaType": "text/xml"}) == [
        FormatOption("text/xml", "", False)]


# ---------------------------------------------------------------- the GML demo process

POLYGON = (f'<gml:Polygon xmlns:gml="{GML}" gml:id="p1" srsName="{EPSG4326}"><gml:exterior>'
           '<gml:LinearRing><gml:posList>40 0 40 10 50 10 50 0 40 0</gml:posList>'
           '</gml:LinearRing></gml:exterior></gml:Polygon>')
# A GML 3.1 feature collection: a polygon with a hole in CRS84 (longitude first) and a point
# in the short EPSG:4326 spelling, which is longitude first too; its bounding box is no geometry.
COLLECTION = """<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"
    xmlns:gml="http://www.opengis.net/gml" xmlns:app="urn:example">
  <gml:boundedBy><gml:Envelope srsName="EPSG:4326"><gml:lowerCorner>0 0</gml:lowerCorner>
    <gml:upperCorner>20 20</gml:upperCorner></gml:Envelope></gml:boundedBy>
  <gml:featureMember><app:lake><app:shape>
    <gml:Polygon srsName="urn:ogc:def:crs:OGC:1.3:CRS84">
      <gml:exterior><gml:LinearRing><gml:coordinates>0,0 10,0 10,10 0,10 0,0</gml:coordinates>
      </gml:LinearRing></gml:exterior>
      <gml:interior><gml:LinearRing><gml:pos>2 2</gml:pos><gml:pos>4 2</gml:pos>
        <gml:pos>4 4</gml:pos><gml:pos>2 2</gml:pos></gml:LinearRing></gml:interior>
    </gml:Polygon></app:shape></app:lake></gml:featureMember>
  <gml:featureMember><app:well><app:at><gml:Point srsName="EPSG:4326">
    <gml:pos>15 15</gml:pos></gml:Point></app:at></app:well></gml:featureMember>
</wfs:FeatureCollection>"""


def buffered(client, geometry, media="application/gml+xml; version=3.2", output=None,
             distance=1):
    body = {"inputs": {"geometry": {"value": geometry, "mediaType": media},
                       "distance": distance},
            "response": "document"}
    if output:
        body["outputs"] = {"buffered": {"format": {"mediaType": output}}}
    return client.post("/processes/gml_buffer/execution", json=body)


def test_gml_buffer_answers_gml_in_the_crs_and_axis_order_it_was_given(client):
    answer = buffered(client, POLYGON).get_json()["buffered"]
    assert answer["mediaType"] == "application/gml+xml; version=3.2"
    root = etree.fromstring(answer["value"].encode())
    assert root.tag == f"{{{GML}}}Polygon" and root.get("srsName") == EPSG4326
    assert root.get(f"{{{GML}}}id")
    numbers = [float(v) for v in root.findtext(f".//{{{GML}}}posList").split()]
    latitudes, longitudes = numbers[0::2], numbers[1::2]
    # grown by 1 on every side, latitude still first
    assert min(latitudes) == pytest.approx(39) and max(latitudes) == pytest.approx(51)
    assert min(longitudes) == pytest.approx(-1) and max(longitudes) == pytest.approx(11)


def test_gml_buffer_answers_geojson_longitude_first(client):
    answer = buffered(client, POLYGON, output="application/geo+json").get_json()["buffered"]
    (feature,) = answer["value"]["features"]
    ring = feature["geometry"]["coordinates"][0]
    assert min(x for x, _ in ring) == pytest.approx(-1) and max(y for _, y in ring) == \
        pytest.approx(51)


def test_gml_buffer_reads_a_feature_collection(client):
    answer = buffered(client, COLLECTION, distance=0.5).get_json()["buffered"]
    root = etree.fromstring(answer["value"].encode())
    # two geometries in two CRSs: a MultiGeometry naming each member's
    assert root.tag == f"{{{GML}}}MultiGeometry" and root.get("srsName") is None
    polygon, point = (m[0] for m in root.iterchildren(f"{{{GML}}}geometryMember"))
    assert polygon.get("srsName") == "urn:ogc:def:crs:OGC:1.3:CRS84"
    assert point.get("srsName") == "EPSG:4326"
    assert len(polygon.findall(f"{{{GML}}}interior")) == 1  # the hole stays, smaller
    ids = [e.get(f"{{{GML}}}id") for e in root.iter() if e.get(f"{{{GML}}}id")]
    assert len(ids) == len(set(ids)) == 3
    # as GeoJSON: both are longitude first already, nothing is swapped
    answer = buffered(client, COLLECTION, output="application/geo+json", distance=0.5)
    features = answer.get_json()["buffered"]["value"]["features"]
    point_ring = features[1]["geometry"]["coordinates"][0]
    assert min(x for x, _ in point_ring) == pytest.approx(14.5)


def test_gml_buffer_takes_geojson_too(client):
    point = {"type": "Point", "coordinates": [10, 50]}
    answer = buffered(client, point, media="application/geo+json").get_json()["buffered"]
    root = etree.fromstring(answer["value"].encode())
    # GeoJSON is longitude first in CRS84 (RFC 7946): the GML says so
    assert root.tag == f"{{{GML}}}Polygon"
    assert root.get("srsName") == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.mark.parametrize(("srs_name", "lat_first"), [
    ("urn:ogc:def:crs:EPSG::4326", True), ("urn:ogc:def:crs:EPSG:6.6:4326", True),
    ("urn:x-ogc:def:crs:EPSG:4326", True), (EPSG4326, True),
    ("https://www.opengis.net/def/crs/EPSG/0/4258", True),
    ("EPSG:4326", False), ("http://www.opengis.net/gml/srs/epsg.xml#4326", False),
    ("urn:ogc:def:crs:OGC:1.3:CRS84", False), ("urn:ogc:def:crs:EPSG::3857", False),
    ("urn:ogc:def:crs:EPSG::43260", False), (None, False), ("", False),
])
def test_gml_axis_order(srs_name, lat_first):
    import demo

    assert demo._lat_first(srs_name) is lat_first


@pytest.mark.parametrize(("geometry", "message"), [
    ("<gml:Polygon", "is not GML"),
    ("<doc/>", "holds no GML geometry"),
    (f'<gml:Point xmlns:gml="{GML}"><gml:pos>1</gml:pos></gml:Point>', "gml:Point on line 1"),
    (f'<gml:Point xmlns:gml="{GML}"><gml:pos>1 nan</gml:pos></gml:Point>', "gml:Point"),
    (f'<gml:LineString xmlns:gml="{GML}"><gml:posList srsDimension="3">1 2 3 4</gml:posList>'
     '</gml:LineString>', "gml:LineString"),
    (f'<gml:Polygon xmlns:gml="{GML}"/>', "gml:Polygon"),
])
def test_gml_buffer_refuses_what_is_not_gml(client, geometry, message):
    response = buffered(client, geometry)
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["detail"]


def test_gml_buffer_over_wps_is_schema_valid(wps):
    # the WPS 1.0.0 response embeds the GML in wps:ComplexData; the helper validates it
    response = wps.get(EXEC + "gml_buffer&DataInputs=geometry=" + quote(POLYGON)
                       + quote(";distance=2", safe=";="))
    (embedded,) = response.xml.find(".//wps:Output/wps:Data/wps:ComplexData", NS)
    assert embedded.tag == f"{{{GML}}}Polygon"
    wps.get("service=WPS&version=1.0.0&request=DescribeProcess&identifier=gml_buffer")
    wps.get("service=WPS&version=2.0.0&request=DescribeProcess&identifier=gml_buffer")


def test_pages_keep_their_strict_csp(client):
    response = client.get("/processes/buffer?f=html")
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert "data-tiles" not in response.get_data(as_text=True)


def test_tiles_widen_only_the_image_sources():
    tiles = map_tiles(SimpleNamespace(map_tiles="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
    csp = page_csp(tiles)
    assert "img-src 'self' data: https://*.tile.openstreetmap.org;" in csp
    assert csp.replace(" https://*.tile.openstreetmap.org", "") == PAGE_CSP
    assert map_tiles(SimpleNamespace()) == ""
    assert map_tiles(SimpleNamespace(map_tiles="javascript:alert(1)")) == ""
    assert page_csp("") == PAGE_CSP
    assert "img-src 'self' data: https://*;" in page_csp("https://{a}.example/{z}/{x}/{y}.png")
    # a host that would end the directive and add others is no source at all
    for hostile in ("https://t.example;script-src * 'unsafe-inline'/{z}/{x}/{y}.png",
                    "https://t.example frame-src */{z}.png", "https://[::1/{z}.png",
                    "https://user@t.example,x/{z}.png"):
        assert page_csp(hostile) == PAGE_CSP, hostile


def test_a_malformed_output_url_adds_no_source():
    settings = SimpleNamespace(output_url="https://[::1/outputs/", output_storage=None,
                               output_presigned_urls=False)
    assert output_origins(settings) == ()  # type: ignore[arg-type]


def test_tiles_setting_reaches_the_page(make_app, monkeypatch):
    from wpsd.web import pages

    monkeypatch.setattr(pages, "map_tiles", lambda settings: "https://tiles.example/{z}/{x}/{y}.png")
    from wpsd.web import ogcapi

    monkeypatch.setattr(ogcapi, "map_tiles", pages.map_tiles)
    response = make_app().test_client().get("/processes/buffer?f=html")
    assert 'data-tiles="https://tiles.example/{z}/{x}/{y}.png"' in response.get_data(as_text=True)
    assert "img-src 'self' data: https://tiles.example;" in \
        response.headers["Content-Security-Policy"]


# ---------------------------------------------------------------- where outputs are served


def img_sources(csp: str) -> list[str]:
    (directive,) = (d.strip() for d in csp.split(";") if d.strip().startswith("img-src "))
    return directive.split()[1:]


@pytest.mark.parametrize(("output_url", "origins"), [
    (None, ()),
    ("/outputs/", ()),  # the server's own origin: 'self' already
    ("http://127.0.0.1:8001/outputs/", ("http://127.0.0.1:8001",)),
    ("HTTPS://Files.Example.org/wps/", ("https://files.example.org",)),
    ("https://user:secret@cdn.example/o/", ("https://cdn.example",)),  # never the password
    ("http://[::1]:8080/o/", ("http://[::1]:8080",)),
    # what is no single host is left out, rather than widened or let end the directive
    ("https://*.example.org/o/", ()),
    ("https://evil.example; script-src *", ()),
    ("ftp://files.example/o/", ()),
])
def test_output_url_origin(settings, output_url, origins):
    chosen = dataclasses.replace(settings, output_url=output_url)
    assert output_origins(chosen) == origins
    csp = page_csp("", output_origins(chosen))
    assert img_sources(csp) == ["'self'", "data:", *origins]
    assert "connect-src 'self';" in csp  # results.js fetches only from the server itself
    assert csp.replace("".join(" " + o for o in origins), "") == PAGE_CSP  # nothing else


def test_tiles_and_outputs_together(settings):
    chosen = dataclasses.replace(settings, output_url="https://tile.example/outputs/")
    csp = page_csp("https://tile.example/{z}/{x}/{y}.png", output_origins(chosen))
    assert img_sources(csp) == ["'self'", "data:", "https://tile.example"]  # once


def presigned(settings, **options):
    return dataclasses.replace(settings, output_storage="s3://outputs-bucket/wps",
                               output_presigned_urls=True,
                               output_storage_options=json.dumps(options))


def refuse(key):
    raise RuntimeError("Unable to locate credentials")


@pytest.mark.parametrize("options", [
    {"endpoint_url": "http://127.0.0.1:9000"},
    {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}},
    {"endpoint_url": "http://127.0.0.1:9000/"},
])
def test_presigned_endpoint_from_the_options(settings, options):
    # No URL signed (no storage to ask, or it cannot sign): the endpoint as it is written.
    for sign in (None, refuse):
        assert output_origins(presigned(settings, **options), sign) == ("http://127.0.0.1:9000",)


def test_no_store_origin_without_presigned_urls(settings):
    shared = dataclasses.replace(presigned(settings, endpoint_url="http://127.0.0.1:9000"),
                                 output_presigned_urls=False)
    assert output_origins(shared, lambda key: None) == ()  # wpsd serves them: 'self'
    # presigned, but neither a URL nor an endpoint to go by (AWS, unsigned): nothing guessed
    assert output_origins(presigned(settings), refuse) == ()


@pytest.mark.parametrize(("options", "expected"), [
    ({"endpoint_url": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"),
    # the bucket in the host name: only a signed URL tells
    ({"endpoint_url": "https://s3.example.org",
      "config_kwargs": {"s3": {"addressing_style": "virtual"}}},
     "https://outputs-bucket.s3.example.org"),
    ({"client_kwargs": {"region_name": "eu-west-1"}}, None),  # AWS: whatever botocore signs
])
def test_presigned_origin_is_that_of_signed_urls(settings, monkeypatch, options, expected):
    pytest.importorskip("s3fs")
    from wpsd.backends.outputs import open_storage

    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    # signing is a computation on this host: made-up keys, no request to any store
    chosen = presigned(settings, key="made-up", secret="made-up", **options)
    storage = open_storage(chosen)
    href = storage.url("0f3c/image.png")
    assert href is not None
    (origin,) = output_origins(chosen, storage.url)
    assert href.startswith(origin + "/")
    assert expected is None or origin == expected
    assert img_sources(page_csp("", (origin,)))[-1] == origin


def test_output_origins_reach_the_pages_only(make_app):
    client = make_app(output_url="http://127.0.0.1:8001/outputs/").test_client()
    page = client.get("/processes/binary_echo?f=html")
    assert img_sources(page.headers["Content-Security-Policy"]) == [
        "'self'", "data:", "http://127.0.0.1:8001"]
    document = client.get("/processes/binary_echo")
    assert document.headers["Content-Security-Policy"].startswith("sandbox")


def test_results_page_renders_with_maps(client):
    response = client.post("/processes/expand_bbox/execution",
                           json={"inputs": {"bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:4326"}}},
                           headers={"Prefer": "respond-async"})
    job = response.get_json()["jobID"]
    import time

    for _ in range(200):
        if client.get(f"/jobs/{job}").get_json()["status"] == "successful":
            break
        time.sleep(0.05)
    page = client.get(f"/jobs/{job}/results?f=html").get_data(as_text=True)
    assert f'id="results-page" data-url="http://localhost/jobs/{job}/results"' in page
    assert "static/results.js" in page and '"bbox"' in page
