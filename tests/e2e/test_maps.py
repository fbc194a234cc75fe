"""Maps in the browser: draw a bounding box or a geometry (GeoJSON or GML) on a process form,
see the results on the job page's map. Headless Chromium driven by Playwright, against
`python3 demo.py`.

Screenshots go to the test's tmp dir and to /tmp/wpsd-screenshots/ for people to look at.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import shutil
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_server import Server, start_server
from lxml import etree
from playwright.sync_api import Page, expect
from test_browser import browser  # noqa: F401 - the fixture, shared

from helpers import free_port

SHOTS = Path("/tmp/wpsd-screenshots")
GML = "http://www.opengis.net/gml/3.2"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"


@pytest.fixture
def shots(tmp_path):
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page: Page, name: str) -> None:
        page.wait_for_timeout(400)  # let the map finish its zoom animation
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SHOTS / path.name)

    return take


@pytest.fixture
def page(browser):  # noqa: F811
    """A page that fails the test on a script error or a CSP violation."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    # (a 400 is the answer some tests ask for; a CSP violation is a console error too)
    page.on("console", lambda message: message.type == "error" and "status of 400" not in
            message.text and problems.append(message.text))
    yield page
    page.close()
    assert problems == []


def root_of(server) -> str:
    return server.url.rsplit("/wps", 1)[0]


def finished_job(page: Page, root: str, process: str, body: dict[str, Any]) -> str:
    """Start an asynchronous job through OGC API and wait for it to succeed: its id."""
    response = page.request.post(f"{root}/processes/{process}/execution",
                                 headers={"Prefer": "respond-async"}, data=json.dumps(body))
    assert response.status == 201, response.text()
    job = response.json()["jobID"]
    for _ in range(300):
        status = page.request.get(f"{root}/jobs/{job}").json()["status"]
        if status == "successful":
            return str(job)
        assert status in ("accepted", "running"), status
        page.wait_for_timeout(100)
    raise AssertionError(f"job {job} did not finish")


def drag(page: Page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press, drag and release the mouse at fractions of the element's box."""
    box = page.locator(selector).bounding_box()
    assert box is not None

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(*start))
    page.mouse.down()
    page.mouse.move(*at(*end), steps=8)
    page.mouse.up()


def click_at(page: Page, selector: str, fx: float, fy: float, double: bool = False) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
    if double:
        page.mouse.dblclick(x, y)
    else:
        page.mouse.click(x, y)


def assert_drawn(page: Page, section: str, count: int) -> None:
    """The section's map shows `count` result shapes, each visibly inside the map."""
    paths = page.locator(f"{section} path.wpsd-result")
    expect(paths).to_have_count(count)
    frame = page.locator(f"{section} .map").bounding_box()
    assert frame is not None and frame["width"] > 100
    for index in range(count):
        box = paths.nth(index).bounding_box()
        assert box is not None and box["width"] > 4 and box["height"] > 4
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]


def test_draw_a_bounding_box_and_see_the_expanded_one(page, demo_server, shots):
    page.goto(root_of(demo_server) + "/processes/expand_bbox?f=html")
    # The CRS picker offers the process's CRSs, its default first (not CRS84, which it lacks).
    options = page.locator("#crs-bbox option")
    expect(options).to_have_text(["EPSG:4326", "EPSG:3857"])
    page.click("#map-bbox .wpsd-tool-rectangle")
    drag(page, "#map-bbox", (0.35, 0.3), (0.6, 0.6))
    expect(page.locator("#map-bbox path.leaflet-interactive")).to_have_count(1)
    numbers = [float(v) for v in page.input_value("#in-bbox").split(",")]
    assert len(numbers) == 4
    # EPSG:4326 is latitude first: south < north, west < east
    south, west, north, east = numbers
    assert -90 <= south < north <= 90 and -180 <= west < east <= 180
    page.fill("#in-margin", "5")
    shots(page, "bbox-form")

    page.click("#submit")
    page.wait_for_url(re.compile(r".*/jobs/[^/?]+\?f=html$"))
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    output = page.locator("#results-body section[data-output=bbox]")
    assert_drawn(page, "#results-body section[data-output=bbox]", 1)
    expect(output.locator("a.download")).to_have_attribute("download", "bbox.json")
    shown = json.loads(output.locator("pre").inner_text())
    # shown as CRS84 (longitude first), grown by the margin
    assert shown["bbox"] == pytest.approx([west - 5, south - 5, east + 5, north + 5], abs=1e-3)
    shots(page, "bbox-job")
    # the job page is a page of its own: reloading it shows the results again
    page.reload()
    expect(page.locator("#results-body section[data-output=bbox] path.wpsd-result")
           ).to_have_count(1)
    # the results page of the job shows them the same way
    page.goto(page.url.split("?", 1)[0] + "/results?f=html")
    assert_drawn(page, "#results-page section[data-output=bbox]", 1)
    shots(page, "bbox-results-page")


def test_a_box_in_web_mercator(page, demo_server):
    page.goto(root_of(demo_server) + "/processes/expand_bbox?f=html")
    page.select_option("#crs-bbox", label="EPSG:3857")
    page.click("#map-bbox .wpsd-tool-rectangle")
    drag(page, "#map-bbox", (0.4, 0.4), (0.55, 0.55))
    minx, miny, maxx, maxy = (float(v) for v in page.input_value("#in-bbox").split(","))
    assert minx < maxx and miny < maxy and max(abs(minx), abs(maxx)) > 180  # metres
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    expect(page.locator("section[data-output=bbox] path.wpsd-result")).to_have_count(1)


def test_draw_a_polygon_and_see_its_buffer(page, demo_server, shots):
    page.goto(root_of(demo_server) + "/processes/buffer?f=html")
    page.click("#map-features .wpsd-tool-polygon")
    for fx, fy in ((0.3, 0.3), (0.6, 0.35), (0.5, 0.6)):
        click_at(page, "#map-features", fx, fy)
    click_at(page, "#map-features", 0.35, 0.55, double=True)
    drawn = json.loads(page.input_value("#in-features"))
    assert drawn["type"] == "FeatureCollection"
    ring = drawn["features"][0]["geometry"]["coordinates"][0]
    assert drawn["features"][0]["geometry"]["type"] == "Polygon" and len(ring) == 5  # closed
    assert page.input_value("select[name=features-mediaType]") == "application/geo+json"
    page.fill("#in-distance", "3")
    shots(page, "buffer-form")

    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    output = page.locator("#results-body section[data-output=buffered]")
    assert_drawn(page, "#results-body section[data-output=buffered]", 1)
    expect(output.locator("a.download")).to_have_attribute("download", "buffered.geojson")
    assert '"FeatureCollection"' in output.locator("pre").inner_text()
    shots(page, "buffer-job")


def test_upload_a_geojson_file_and_see_the_centroids(page, demo_server, shots, tmp_path):
    squares = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[x, y], [x + 4, y], [x + 4, y + 4], [x, y + 4], [x, y]]]}}
        for x, y in ((0, 40), (10, 45), (20, 38))]}
    upload = tmp_path / "squares.geojson"
    upload.write_text(json.dumps(squares))
    page.goto(root_of(demo_server) + "/processes/centroids?f=html")
    page.set_input_files("#file-features", str(upload))
    # the uploaded file fills the field and is drawn
    expect(page.locator("#map-features path.leaflet-interactive")).to_have_count(3)
    assert json.loads(page.input_value("#in-features")) == squares
    shots(page, "centroids-form")

    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    assert_drawn(page, "#results-body section[data-output=centroids]", 3)  # three points
    shots(page, "centroids-job")


def test_typed_box_is_drawn_and_an_error_shown_once(page, demo_server, shots):
    page.goto(root_of(demo_server) + "/processes/expand_bbox?f=html")
    page.fill("#in-bbox", "40,0,50,10")
    page.press("#in-bbox", "Tab")  # a change event: the typed box is drawn
    expect(page.locator("#map-bbox path.leaflet-interactive")).to_have_count(1)
    page.fill("#in-bbox", "1,2,3")
    page.click("#submit")
    error = page.locator("#outcome .error")
    expect(error).to_have_count(1)
    assert "{" not in error.inner_text()  # the problem's detail, not its JSON
    shots(page, "bbox-error")


def test_favicon(page, demo_server):
    response = page.request.get(root_of(demo_server) + "/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")


def test_a_failed_job_shows_its_error_once(page, demo_server, shots):
    page.goto(root_of(demo_server) + "/processes/feature_count?f=html")
    page.fill("#in-features", '{"type": "Nope"}')
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("failed", timeout=30000)
    page.wait_for_selector("#results-body", state="attached")
    text = page.inner_text("main")
    assert text.count("is not valid GeoJSON") == 1, text
    shots(page, "failed-job")


def test_draw_points(page, demo_server):
    page.goto(root_of(demo_server) + "/processes/feature_count?f=html")
    page.click("#map-features .wpsd-tool-point")
    for fx in (0.3, 0.5, 0.7):
        click_at(page, "#map-features", fx, 0.5)
    drawn = json.loads(page.input_value("#in-features"))
    assert [f["geometry"]["type"] for f in drawn["features"]] == ["Point"] * 3
    page.click("#map-features .wpsd-tool-clear")
    assert page.input_value("#in-features") == ""
    for fx in (0.4, 0.6):
        click_at(page, "#map-features", fx, 0.4)
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    expect(page.locator("section[data-output=count] pre")).to_have_text("2")


# ---------------------------------------------------------------- GML


def gml_positions(text: str) -> tuple[etree._Element, list[tuple[float, float]]]:
    """The root of a GML document and the positions of its posList and pos, as written."""
    root = etree.fromstring(text.encode())
    numbers = [float(v) for e in root.iter(f"{{{GML}}}posList", f"{{{GML}}}pos")
               for v in e.text.split()]
    return root, list(zip(numbers[0::2], numbers[1::2], strict=True))


def center(page: Page, locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_draw_a_polygon_as_gml_and_see_its_buffer(page, demo_server, shots):
    page.goto(root_of(demo_server) + "/processes/gml_buffer?f=html")
    media = "select[name=geometry-mediaType]"
    assert page.input_value(media) == "application/gml+xml; version=3.2"  # its default
    page.click("#map-geometry .wpsd-tool-polygon")
    for fx, fy in ((0.3, 0.3), (0.6, 0.35), (0.5, 0.6)):
        click_at(page, "#map-geometry", fx, fy)
    click_at(page, "#map-geometry", 0.35, 0.55, double=True)
    root, ring = gml_positions(page.input_value("#in-geometry"))
    assert root.tag == f"{{{GML}}}Polygon" and root.get("srsName") == EPSG4326
    assert root.get(f"{{{GML}}}id")
    assert root.find(f"{{{GML}}}exterior/{{{GML}}}LinearRing") is not None
    assert len(ring) == 5 and ring[0] == ring[-1]  # closed
    # EPSG:4326 is latitude first: the corners clicked left to right have growing second numbers
    assert ring[0][1] < ring[1][1] and all(-90 < lat < 90 for lat, _ in ring)

    # GeoJSON chosen: the same drawing, longitude first; GML again: the GML back
    page.select_option(media, "application/geo+json")
    drawn = json.loads(page.input_value("#in-geometry"))
    assert drawn["features"][0]["geometry"]["coordinates"][0] == [[lon, lat] for lat, lon in ring]
    page.select_option(media, "application/gml+xml; version=3.2")
    assert gml_positions(page.input_value("#in-geometry"))[1] == ring
    page.fill("#in-distance", "3")
    shots(page, "gml-buffer-form")

    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    section = "#results-body section[data-output=buffered]"
    assert_drawn(page, section, 1)
    output = page.locator(section)
    expect(output.locator("a.download")).to_have_attribute("download", "buffered.gml")
    root, buffered = gml_positions(output.locator("pre").inner_text())
    assert root.tag == f"{{{GML}}}Polygon" and root.get("srsName") == EPSG4326
    # grown by 3 degrees on every side, in the same axis order
    # (a buffer's arcs are polygons: their extremes are within a little of the true ones)
    assert min(lat for lat, _ in buffered) == pytest.approx(min(lat for lat, _ in ring) - 3,
                                                           abs=0.05)
    assert max(lon for _, lon in buffered) == pytest.approx(max(lon for _, lon in ring) + 3,
                                                           abs=0.05)
    shots(page, "gml-buffer-job")


# Paris as a point latitude first (the URN of EPSG:4326), a square around it longitude first
# (CRS84), and a shape in a CRS the map cannot show: the point is drawn inside the square.
PARIS = f"""<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0"
    xmlns:gml="{GML}" xmlns:app="urn:example">
  <wfs:member><app:place><app:at>
    <gml:Point gml:id="paris" srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>48.85 2.35</gml:pos></gml:Point>
  </app:at></app:place></wfs:member>
  <wfs:member><app:area><app:shape>
    <gml:Polygon gml:id="around" srsName="http://www.opengis.net/def/crs/OGC/1.3/CRS84">
      <gml:exterior><gml:LinearRing>
        <gml:posList>1 48 4 48 4 50 1 50 1 48</gml:posList>
      </gml:LinearRing></gml:exterior>
      <gml:interior><gml:LinearRing>
        <gml:posList>1.5 48.3 1.9 48.3 1.9 48.6 1.5 48.3</gml:posList>
      </gml:LinearRing></gml:interior>
    </gml:Polygon>
  </app:shape></app:area></wfs:member>
  <wfs:member><app:area><app:shape>
    <gml:Point gml:id="utm" srsName="urn:ogc:def:crs:EPSG::25832"><gml:pos>500000 5500000</gml:pos></gml:Point>
  </app:shape></app:area></wfs:member>
</wfs:FeatureCollection>"""


def test_upload_and_type_gml_and_see_it_drawn(page, demo_server, shots, tmp_path):
    upload = tmp_path / "paris.gml"
    upload.write_text(PARIS)
    page.goto(root_of(demo_server) + "/processes/gml_buffer?f=html")
    # GeoJSON chosen first: an uploaded GML file switches the format to GML
    page.select_option("select[name=geometry-mediaType]", "application/geo+json")
    page.set_input_files("#file-geometry", str(upload))
    shapes = page.locator("#map-geometry path.leaflet-interactive")
    expect(shapes).to_have_count(2)  # the point and the square; not the UTM point
    assert page.input_value("#in-geometry") == PARIS
    assert page.input_value("select[name=geometry-mediaType]") == \
        "application/gml+xml; version=3.2"
    expect(page.locator("#map-status-geometry")).to_contain_text(
        "cannot show coordinates in the CRS urn:ogc:def:crs:EPSG::25832")
    # the point (48.85 N, 2.35 E) lies inside the square (1-4 E, 48-50 N): both axis orders read
    point = page.locator("#map-geometry path.leaflet-interactive").nth(0)
    square = page.locator("#map-geometry path.leaflet-interactive").nth(1)
    x, y = center(page, point)
    box = square.bounding_box()
    assert box is not None and box["width"] > 100  # the map zoomed to them
    assert box["x"] < x < box["x"] + box["width"] and box["y"] < y < box["y"] + box["height"]
    shots(page, "gml-upload-form")

    # typed: a MultiSurface of two squares, its CRS on the aggregate only (the short
    # EPSG:4326 spelling: longitude first, as GeoServer writes it)
    typed = f"""<gml:MultiSurface xmlns:gml="{GML}" gml:id="m" srsName="EPSG:4326">
  <gml:surfaceMember><gml:Polygon gml:id="a"><gml:exterior><gml:LinearRing>
    <gml:posList>10 40 14 40 14 44 10 44 10 40</gml:posList></gml:LinearRing></gml:exterior>
  </gml:Polygon></gml:surfaceMember>
  <gml:surfaceMember><gml:Polygon gml:id="b"><gml:exterior><gml:LinearRing>
    <gml:posList>20 40 24 40 24 44 20 44 20 40</gml:posList></gml:LinearRing></gml:exterior>
  </gml:Polygon></gml:surfaceMember>
</gml:MultiSurface>"""
    page.fill("#in-geometry", typed)
    page.press("#in-geometry", "Tab")  # a change event: what is typed is drawn
    expect(shapes).to_have_count(1)  # a MultiPolygon is one path
    expect(page.locator("#map-status-geometry")).to_have_text("")
    box = shapes.nth(0).bounding_box()
    assert box is not None and box["width"] > 1.5 * box["height"]  # two squares side by side
    page.fill("#in-distance", "1")
    shots(page, "gml-typed-form")

    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    assert_drawn(page, "#results-body section[data-output=buffered]", 1)
    root, _ = gml_positions(page.locator("#results-body section[data-output=buffered] pre")
                            .inner_text())
    assert root.tag == f"{{{GML}}}MultiSurface" and root.get("srsName") == "EPSG:4326"
    shots(page, "gml-typed-job")

    # what is not GML is said so, and not drawn
    page.go_back()
    page.fill("#in-geometry", "<gml:Point")
    page.press("#in-geometry", "Tab")
    expect(page.locator("#map-status-geometry")).to_have_text(
        "Not drawn: the text is not well-formed XML.")


def test_a_gml_output_by_reference_is_drawn(page, demo_server, shots):
    root = root_of(demo_server)
    polygon = (f'<gml:Polygon xmlns:gml="{GML}" gml:id="p" srsName="{EPSG4326}"><gml:exterior>'
               "<gml:LinearRing><gml:posList>40 0 40 10 50 10 50 0 40 0</gml:posList>"
               "</gml:LinearRing></gml:exterior></gml:Polygon>")
    response = page.request.post(
        root + "/processes/gml_buffer/execution", headers={"Prefer": "respond-async"},
        data=json.dumps({"inputs": {"geometry": {"value": polygon,
                                                 "mediaType": "application/gml+xml; version=3.2"},
                                    "distance": 2},
                         "outputs": {"buffered": {"transmissionMode": "reference"}},
                         "response": "document"}),
    )
    assert response.status == 201
    job = response.json()["jobID"]
    for _ in range(300):
        if page.request.get(f"{root}/jobs/{job}").json()["status"] == "successful":
            break
        page.wait_for_timeout(100)
    page.goto(f"{root}/jobs/{job}/results?f=html")
    section = "#results-page section[data-output=buffered]"
    link = page.locator(f"{section} p a")
    expect(link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/.*\.gml$"))
    assert_drawn(page, section, 1)
    shots(page, "gml-reference-results")


def test_gml_is_read_in_the_axis_order_of_its_crs(page, demo_server):
    """parseGML and toGML of map.js, on the spellings of CRSs found in the wild."""
    page.goto(root_of(demo_server) + "/processes/gml_buffer?f=html")
    point = '<gml:Point xmlns:gml="{ns}"{srs}>{pos}</gml:Point>'
    cases = [  # (srsName, position as written, [longitude, latitude] expected or None)
        ("urn:ogc:def:crs:EPSG::4326", "<gml:pos>50 10</gml:pos>", [10, 50]),
        ("urn:ogc:def:crs:EPSG:6.6:4326", "<gml:pos>50 10</gml:pos>", [10, 50]),
        ("urn:x-ogc:def:crs:EPSG:4326", "<gml:pos>50 10</gml:pos>", [10, 50]),
        (EPSG4326, "<gml:pos>50 10</gml:pos>", [10, 50]),
        ("EPSG:4326", "<gml:pos>10 50</gml:pos>", [10, 50]),
        ("http://www.opengis.net/gml/srs/epsg.xml#4326", "<gml:coordinates>10,50</gml:coordinates>",
         [10, 50]),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "<gml:pos>10 50</gml:pos>", [10, 50]),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "<gml:pos>10 50 7</gml:pos>", [10, 50]),
        ("urn:ogc:def:crs:EPSG::4258", "<gml:pos>50 10</gml:pos>", [10, 50]),
        ("EPSG:3857", "<gml:pos>1113194.9 6446275.8</gml:pos>", [10, 50]),
        ("http://www.opengis.net/def/crs/EPSG/0/3857", "<gml:pos>1113194.9 6446275.8</gml:pos>",
         [10, 50]),
        (None, "<gml:coord><gml:X>10</gml:X><gml:Y>50</gml:Y></gml:coord>", [10, 50]),
        ("urn:ogc:def:crs:EPSG::25832", "<gml:pos>500000 5500000</gml:pos>", None),
    ]
    for ns in (GML, "http://www.opengis.net/gml"):
        for srs, pos, expected in cases:
            text = point.format(ns=ns, srs=f' srsName="{srs}"' if srs else "", pos=pos)
            parsed = page.evaluate("(text) => WpsdMap.parseGML(text)", text)
            features = parsed["collection"]["features"]
            if expected is None:
                assert features == [] and "cannot show" in parsed["problems"][0], srs
                continue
            assert [round(v, 4) for v in features[0]["geometry"]["coordinates"]] == expected, srs
            assert parsed["problems"] == ([] if srs else
                                          ["no srsName: coordinates read as longitude, latitude"])

    # GML 2 coordinates with other separators, a 3D posList, a CRS inherited from the aggregate
    parsed = page.evaluate("(text) => WpsdMap.parseGML(text).collection", f"""
      <gml:MultiGeometry xmlns:gml="{GML}" srsName="urn:ogc:def:crs:EPSG::4326">
        <gml:geometryMember><gml:LineString>
          <gml:coordinates decimal="," cs=";" ts="|">50,5;10,5|51;11</gml:coordinates>
        </gml:LineString></gml:geometryMember>
        <gml:geometryMember><gml:LineString>
          <gml:posList srsDimension="3">50 10 100 51 11 200</gml:posList>
        </gml:LineString></gml:geometryMember>
        <gml:geometryMember><gml:Point><gml:pos>1 2</gml:pos></gml:Point></gml:geometryMember>
      </gml:MultiGeometry>""")
    (geometry,) = (f["geometry"] for f in parsed["features"])
    assert geometry["type"] == "GeometryCollection"
    assert [g["coordinates"] for g in geometry["geometries"]] == [
        [[10.5, 50.5], [11, 51]], [[10, 50], [11, 51]], [2, 1]]

    # toGML writes EPSG:4326 latitude first, a gml:id on every geometry, and reads back
    drawn = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": g} for g in (
            {"type": "Point", "coordinates": [10, 50]},
            {"type": "MultiPolygon", "coordinates": [
                [[[0, 0], [4, 0], [4, 4], [0, 0]], [[1, 0.5], [3, 0.5], [3, 2.5], [1, 0.5]]],
                [[[5, 5], [6, 5], [6, 6], [5, 5]]]]})]}
    written = page.evaluate("(value) => WpsdMap.toGML(value)", drawn)
    root = etree.fromstring(written.encode())
    assert root.tag == f"{{{GML}}}MultiGeometry" and root.get("srsName") == EPSG4326
    assert root.findtext(f".//{{{GML}}}Point/{{{GML}}}pos") == "50 10"
    geometries = [e for e in root.iter() if etree.QName(e).localname in (
        "MultiGeometry", "Point", "MultiSurface", "Polygon")]
    ids = [e.get(f"{{{GML}}}id") for e in geometries]
    assert len(geometries) == 5 and None not in ids and len(set(ids)) == 5
    assert len(root.findall(f".//{{{GML}}}interior")) == 1
    back = page.evaluate("(text) => WpsdMap.parseGML(text).collection", written)
    assert back["features"][0]["geometry"]["geometries"] == [
        g["geometry"] for g in drawn["features"]]


# ---------------------------------------------------------------- raw results

SQUARE = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon",
                       "coordinates": [[[0, 40], [6, 40], [6, 46], [0, 46], [0, 40]]]}}]}
RESULTS_REL = "http://www.opengis.net/def/rel/ogc/1.0/results"


def test_raw_results_by_reference_are_linked_and_drawn(page, demo_server, shots):
    # 18-062r2: raw outputs by reference are answered 204, each output a Link header
    root = root_of(demo_server)
    job = finished_job(page, root, "buffer", {
        "inputs": {"features": {"value": SQUARE, "mediaType": "application/geo+json"},
                   "distance": 1},
        "outputs": {"buffered": {"transmissionMode": "reference"}}, "response": "raw"})
    answer = page.request.get(f"{root}/jobs/{job}/results")
    assert answer.status == 204 and answer.body() == b""
    assert 'title="buffered"' in answer.headers["link"]

    for url, section in ((f"{root}/jobs/{job}?f=html", "#results-body section"),
                         (f"{root}/jobs/{job}/results?f=html", "#results-page section")):
        page.goto(url)
        section += "[data-output=buffered]"
        link = page.locator(f"{section} p a")
        expect(link).to_have_attribute("href", re.compile(
            rf"^{re.escape(root)}/wps/outputs/.+/buffered\.geojson$"))
        expect(page.locator(f"{section} p")).to_contain_text(f'rel="{RESULTS_REL}"')
        expect(page.locator(f"{section} h3")).to_contain_text("application/geo+json")
        assert_drawn(page, section, 1)
        shots(page, "raw-reference-" + ("job" if "results-body" in section else "results"))

    # GML by reference: its type from the file name, drawn from the XML it fetches
    polygon = (f'<gml:Polygon xmlns:gml="{GML}" gml:id="p" srsName="{EPSG4326}"><gml:exterior>'
               "<gml:LinearRing><gml:posList>40 0 40 10 50 10 50 0 40 0</gml:posList>"
               "</gml:LinearRing></gml:exterior></gml:Polygon>")
    job = finished_job(page, root, "gml_buffer", {
        "inputs": {"geometry": {"value": polygon, "mediaType": "application/gml+xml; version=3.2"},
                   "distance": 2},
        "outputs": {"buffered": {"transmissionMode": "reference"}}, "response": "raw"})
    page.goto(f"{root}/jobs/{job}?f=html")
    assert_drawn(page, "#results-body section[data-output=buffered]", 1)


def test_raw_values_are_shown(page, demo_server, shots):
    root = root_of(demo_server)
    # one output by value: its own media type and content (200)
    job = finished_job(page, root, "buffer", {
        "inputs": {"features": {"value": SQUARE, "mediaType": "application/geo+json"},
                   "distance": 1}, "response": "raw"})
    assert page.request.get(f"{root}/jobs/{job}/results").headers["content-type"] == \
        "application/geo+json"
    page.goto(f"{root}/jobs/{job}?f=html")
    # named by the answer's Content-Disposition
    assert_drawn(page, "#results-body section[data-output=buffered]", 1)
    expect(page.locator("#results-body pre")).to_contain_text('"FeatureCollection"')
    shots(page, "raw-value-job")

    # a bounding box alone: JSON, but no results document
    job = finished_job(page, root, "expand_bbox", {
        "inputs": {"bbox": {"bbox": [40, 0, 50, 10], "crs": EPSG4326}, "margin": 1},
        "response": "raw"})
    page.goto(f"{root}/jobs/{job}/results?f=html")
    assert_drawn(page, "#results-page section[data-output=bbox]", 1)

    # a JSON object of plain values, raw: its value, not mistaken for a results document
    job = finished_job(page, root, "echo", {
        "inputs": {"document": {"value": {"a": 1, "b": "two"}, "mediaType": "application/json"}},
        "outputs": {"document": {"format": {"mediaType": "application/json"}}},
        "response": "raw"})
    page.goto(f"{root}/jobs/{job}?f=html")
    shown = page.locator("#results-body section[data-output^=document] pre")
    expect(shown).to_contain_text('"b": "two"')
    expect(page.locator("#results-body section")).to_have_count(1)

    # several outputs, one by reference: multipart/related
    job = finished_job(page, root, "echo", {
        "inputs": {"message": "hello raw", "document": {"value": "<doc>x</doc>",
                                                        "mediaType": "text/xml"}},
        "outputs": {"message": {}, "document": {"transmissionMode": "reference"}},
        "response": "raw"})
    assert page.request.get(f"{root}/jobs/{job}/results").headers["content-type"].startswith(
        "multipart/related")
    page.goto(f"{root}/jobs/{job}?f=html")
    expect(page.locator("#results-body section[data-output=message] pre")).to_have_text(
        "hello raw")
    expect(page.locator("#results-body section[data-output=document] p a")).to_have_attribute(
        "href", re.compile(r"/wps/outputs/.+/document\.xml$"))
    shots(page, "raw-multipart-job")


# ---------------------------------------------------------------- outputs of another origin


def png(width: int, height: int) -> bytes:
    """A PNG of colour bands (something to see in a screenshot)."""
    rows = b"".join(b"\0" + b"".join(bytes((x * 255 // width, 90, 200 - y * 150 // height))
                                      for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def served_elsewhere(tmp_path) -> Iterator[tuple[Server, str]]:
    """A server whose outputs are served by a second loopback server (another port, so
    another origin), as a web server or CDN in front of output_dir would: (server, its URL)."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    handler = functools.partial(_Quiet, directory=str(outputs))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    files_url = f"http://127.0.0.1:{files.server_address[1]}"
    port = free_port()
    proc, server = start_server(
        [sys.executable, "-m", "wpsd.cli", "serve", "tests/sample_processes.py",
         "--host", "127.0.0.1", "--port", str(port)], tmp_path, port,
        WPSD_OUTPUT_URL=files_url + "/")
    try:
        yield server, files_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        files.shutdown()
        files.server_close()


def test_an_image_of_another_origin_is_shown(page, served_elsewhere, shots):
    server, files_url = served_elsewhere
    root = root_of(server)
    image = base64.b64encode(png(160, 60)).decode()
    for response in ("document", "raw"):
        job = finished_job(page, root, "binary_echo", {
            "inputs": {"image": {"value": image, "mediaType": "image/png", "encoding": "base64"}},
            "outputs": {"image": {"transmissionMode": "reference"}}, "response": response})
        page.goto(f"{root}/jobs/{job}?f=html")
        shown = page.locator("#results-body section[data-output=image] img.output-image")
        expect(shown).to_have_attribute("src", re.compile(
            rf"^{re.escape(files_url)}/.+/image\.png$"))
        # loaded, not blocked: a refused image has no size (and a CSP violation is a console
        # error, which the page fixture fails the test on)
        for _ in range(50):
            if shown.evaluate("(img) => img.complete && img.naturalWidth") == 160:
                break
            page.wait_for_timeout(100)
        assert shown.evaluate("(img) => img.naturalWidth") == 160
        shots(page, f"image-elsewhere-{response}")


def test_an_image_by_value_is_shown_inline(page, served_elsewhere, shots):
    server, _ = served_elsewhere
    root = root_of(server)
    image = base64.b64encode(png(120, 40)).decode()
    job = finished_job(page, root, "binary_echo", {
        "inputs": {"image": {"value": image, "mediaType": "image/png", "encoding": "base64"}},
        "response": "document"})
    page.goto(f"{root}/jobs/{job}?f=html")
    section = page.locator("#results-body section[data-output=image]")
    shown = section.locator("img.output-image")
    expect(shown).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    for _ in range(50):
        if shown.evaluate("(img) => img.complete && img.naturalWidth") == 120:
            break
        page.wait_for_timeout(100)
    assert shown.evaluate("(img) => img.naturalWidth") == 120
    expect(section.locator("a[download]")).to_have_count(1)  # and it can be downloaded
    shots(page, "image-by-value-job")
