"""What the HTML pages need besides templates: the map library, the icon, the maps' CSP."""

from __future__ import annotations

from types import SimpleNamespace

from wpsd.web.headers import PAGE_CSP
from wpsd.web.pages import map_tiles, page_csp


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
    assert 'data-map="geojson"' in page and 'id="file-features"' in page
    assert "<option selected>application/geo+json</option>" in page
    # not for documents that are not GeoJSON
    assert 'data-map="geojson"' not in client.get("/processes/echo?f=html").get_data(as_text=True)


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


def test_tiles_setting_reaches_the_page(make_app, monkeypatch):
    from wpsd.web import pages

    monkeypatch.setattr(pages, "map_tiles", lambda settings: "https://tiles.example/{z}/{x}/{y}.png")
    from wpsd.web import ogcapi

    monkeypatch.setattr(ogcapi, "map_tiles", pages.map_tiles)
    response = make_app().test_client().get("/processes/buffer?f=html")
    assert 'data-tiles="https://tiles.example/{z}/{x}/{y}.png"' in response.get_data(as_text=True)
    assert "img-src 'self' data: https://tiles.example;" in \
        response.headers["Content-Security-Policy"]


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
