"""Maps in the browser: draw a bounding box or a geometry on a process form, see the results
on the job page's map. Headless Chromium driven by Playwright, against `python3 demo.py`.

Screenshots go to the test's tmp dir and to /tmp/wpsd-screenshots/ for people to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import browser  # noqa: F401 - the fixture, shared

SHOTS = Path("/tmp/wpsd-screenshots")


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
