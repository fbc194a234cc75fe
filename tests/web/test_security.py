"""What a hostile client cannot do through the web layer: poison links, run script in the
server's origin, frame the pages, or make the server hold an unbounded body."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import pytest

from schemas import assert_ogcapi_valid

XHTML = ('<html xmlns="http://www.w3.org/1999/xhtml"><body>'
         '<script>document.title = "pwned"</script></body></html>')
EXEC1 = "service=WPS&version=1.0.0&request=Execute&identifier=echo"


# ---------------------------------------------------------------- Host header


def test_untrusted_host_is_refused_everywhere(client, wps):
    for path in ("/wps?service=WPS&request=GetCapabilities", "/", "/processes", "/jobs"):
        response = client.get(path, headers={"Host": "attacker.invalid"})
        assert response.status_code == 400, path
        assert b"attacker.invalid" not in response.data  # not even echoed in the error
        assert b"does not serve" in response.data
    # ... and nothing it asked for was cached for anybody else.
    capabilities = wps.get("service=WPS&request=GetCapabilities").data
    assert b"attacker" not in capabilities and b"http://localhost/wps" in capabilities


def test_untrusted_host_gets_the_version_of_its_request(client):
    response = client.get("/wps?service=WPS&version=2.0.0&request=GetCapabilities",
                          headers={"Host": "attacker.invalid"})
    assert response.status_code == 400
    assert b"ExceptionReport" in response.data


def test_configured_url_ignores_the_host_header(make_app):
    client = make_app(url="https://wps.example.org/wps").test_client()
    evil = {"Host": "attacker.invalid"}
    capabilities = client.get("/wps?service=WPS&request=GetCapabilities", headers=evil)
    assert capabilities.status_code == 200
    assert b"attacker" not in capabilities.data
    assert b"https://wps.example.org/wps" in capabilities.data
    landing = client.get("/", headers=evil).get_json()
    assert {link["href"].split("/")[2] for link in landing["links"]} == {"wps.example.org"}
    job = client.post("/processes/echo/execution", json={"inputs": {"message": "hi"}},
                      headers={**evil, "Prefer": "respond-async"})
    assert job.headers["Location"].startswith("https://wps.example.org/jobs/")
    status = client.get(f"/wps?{EXEC1}&DataInputs=message=x&storeExecuteResponse=true",
                        headers=evil)
    assert b'statusLocation="https://wps.example.org/wps/jobs/' in status.data


def test_trusted_hosts_setting(make_app):
    client = make_app(trusted_hosts=("wps.example.org",)).test_client()
    ok = client.get("/wps?service=WPS&request=GetCapabilities",
                    headers={"Host": "wps.example.org:8080"})
    assert ok.status_code == 200 and b"http://wps.example.org:8080/wps" in ok.data
    assert client.get("/", headers={"Host": "localhost"}).status_code == 400


# ---------------------------------------------------------------- content in our origin


def _assert_cannot_run(response, filename):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'


def test_stored_output_of_an_active_type_is_a_sandboxed_download(client, wps):
    query = (f"{EXEC1}&DataInputs=document={quote(XHTML, safe='')}@mimeType=text/xml"
             "&ResponseDocument=document@asReference=true@mimeType=text/xml")
    document = wps.get(query).xml
    href = document.find(".//{http://www.opengis.net/wps/1.0.0}Reference").get("href")
    with client.get(href.removeprefix("http://localhost")) as stored:
        assert stored.status_code == 200 and b"<script>" in stored.data
        _assert_cannot_run(stored, "document.xml")


def test_raw_output_of_an_active_type_is_a_sandboxed_download(client):
    query = (f"{EXEC1}&DataInputs=document={quote(XHTML, safe='')}@mimeType=text/xml"
             "&RawDataOutput=document@mimeType=text/xml")
    raw = client.get("/wps?" + query)
    assert raw.status_code == 200 and b"<script>" in raw.data
    _assert_cannot_run(raw, "document.xml")
    ogc = client.post("/processes/echo/execution", json={
        "inputs": {"document": {"value": XHTML, "mediaType": "text/xml"}},
        "outputs": {"document": {"format": {"mediaType": "text/xml"}}}, "response": "raw"})
    assert ogc.status_code == 200 and b"<script>" in ogc.data
    _assert_cannot_run(ogc, "document.xml")


def test_plain_text_output_is_not_a_download(client):
    raw = client.get(f"/wps?{EXEC1}&DataInputs=message=hi&RawDataOutput=message")
    assert raw.data == b"hi" and "Content-Disposition" not in raw.headers
    assert raw.headers["Content-Security-Policy"].startswith("sandbox")


@pytest.mark.parametrize("path", ["/?f=html", "/processes?f=html", "/processes/sleep?f=html",
                                  "/jobs?f=html", "/conformance?f=html"])
def test_html_pages_have_a_strict_policy_and_no_inline_code(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    page = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script"
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page


def test_job_page_scripts_are_static_files(client):
    job = client.post("/processes/echo/execution", json={"inputs": {"message": "hi"}},
                      headers={"Prefer": "respond-async"}).get_json()
    page = client.get(f"/jobs/{job['jobID']}?f=html").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts
    for script in scripts:
        with client.get(script.removeprefix("http://localhost")) as response:
            assert response.status_code == 200 and response.mimetype == "text/javascript"


# ---------------------------------------------------------------- bounded bodies


def _chunked(client, path, body, content_type):
    # No Content-Length: the server must count what it reads, as with Transfer-Encoding chunked.
    return client.post(path, input_stream=io.BytesIO(body), content_type=content_type,
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_chunked_body_over_the_limit_is_413(make_app):
    client = make_app(max_request_bytes=100_000).test_client()
    big = b"<wps:Execute xmlns:wps='http://www.opengis.net/wps/1.0.0'>" + b" " * 300_000
    wps = _chunked(client, "/wps", big, "text/xml")
    assert wps.status_code == 413 and b"ExceptionReport" in wps.data
    ogc = _chunked(client, "/processes/echo/execution", b'{"inputs": {' + b" " * 300_000,
                   "application/json")
    assert ogc.status_code == 413 and ogc.get_json()["status"] == 413


def test_body_with_content_length_over_the_limit_is_413(make_app):
    client = make_app(max_request_bytes=1000).test_client()
    response = client.post("/wps", data=b"<a/>" + b" " * 2000, content_type="text/xml")
    assert response.status_code == 413


def test_chunked_body_within_the_limit_is_served(client):
    body = (b"<wps:GetCapabilities xmlns:wps='http://www.opengis.net/wps/1.0.0' service='WPS'/>")
    assert _chunked(client, "/wps", body, "text/xml").status_code == 200


def test_a_hundred_thousand_inputs_are_refused_while_parsing(wps):
    one = ("<wps:Input><ows:Identifier>name</ows:Identifier><wps:Data><wps:LiteralData>x"
           "</wps:LiteralData></wps:Data></wps:Input>")
    body = ("<wps:Execute service='WPS' version='1.0.0' xmlns:wps='http://www.opengis.net/wps/"
            "1.0.0' xmlns:ows='http://www.opengis.net/ows/1.1'><ows:Identifier>say_hello"
            "</ows:Identifier><wps:DataInputs>" + one * 100_000 + "</wps:DataInputs></wps:Execute>")
    code, _, text = wps.error(body=body)
    assert code == "NoApplicableCode" and "elements" in text


def test_too_many_values_of_one_json_input(client):
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"message": ["x"] * 100_000}})
    assert response.status_code == 400


# ---------------------------------------------------------------- no internals in answers


@pytest.mark.parametrize("value", [
    {"value": "x", "mediaType": ["text/plain"]},
    {"value": "x", "encoding": {"a": 1}},
    {"href": ["http://example.org/"]},
    {"value": "x", "mediaType": 5},
])
def test_wrongly_typed_qualifiers_are_400(client, value):
    response = client.post("/processes/echo/execution", json={"inputs": {"document": value}})
    assert response.status_code == 400, response.data
    assert_ogcapi_valid(response.get_json(), "exception")
    assert "Error" not in response.get_data(as_text=True)
