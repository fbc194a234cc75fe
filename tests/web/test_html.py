"""The HTML encoding and the job event stream, through the WSGI app."""

from __future__ import annotations

import json

import pytest

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("path", "text"),
    [("/", "Processes"), ("/conformance", "conf/core"), ("/processes", "Process Say Hello"),
     ("/processes/sleep", "Delay between every update"), ("/jobs", "No jobs yet")],
)
def test_pages(client, path, text):
    for response in (client.get(path + "?f=html"),
                     client.get(path, headers={"Accept": BROWSER_ACCEPT})):
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert text in response.get_data(as_text=True)
    # Clients that name no preference, or JSON, get JSON.
    assert client.get(path).mimetype == "application/json"
    assert client.get(path, headers={"Accept": "*/*"}).mimetype == "application/json"


def test_process_page_has_a_form_for_every_input(client):
    page = client.get("/processes/echo?f=html").get_data(as_text=True)
    for ident, kind in (("message", "string"), ("document", "complex"), ("bbox", "bbox"),
                        ("pause", "integer")):
        assert f'data-input="{ident}"' in page
        assert f'data-kind="{kind}"' in page


def test_html_escapes_what_it_shows(make_app):
    from wpsd import LiteralInput, LiteralOutput, process

    @process("xss", "<script>alert(1)</script>", inputs=[LiteralInput("a", "<b>")],
             outputs=[LiteralOutput("o", "o")])
    def xss(a: str) -> dict:
        return {"o": a}

    page = make_app(processes=[xss]).test_client().get("/processes/xss?f=html")
    text = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text


def events(client, job_id):
    with client.get(f"/jobs/{job_id}/events") as response:
        assert response.mimetype == "text/event-stream"
        for chunk in response.response:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.startswith("event: status"):
                yield json.loads(text.split("data: ", 1)[1])


def test_event_stream_follows_a_job_to_its_end(client):
    response = client.post("/processes/sleep/execution", json={"inputs": {"delay": 1}},
                           headers={"Prefer": "respond-async"})
    job_id = response.get_json()["jobID"]
    seen = list(events(client, job_id))
    statuses = [info["status"] for info in seen]
    assert statuses[-1] == "successful"
    assert any(info["status"] == "running" and info["progress"] > 0 for info in seen)
    progress = [info["progress"] for info in seen]
    assert progress == sorted(progress)
    page = client.get(f"/jobs/{job_id}?f=html").get_data(as_text=True)
    assert "static/job.js" in page and "successful" in page
    with client.get("/static/job.js") as script:
        assert "/events" in script.get_data(as_text=True)
    results = client.get(f"/jobs/{job_id}/results?f=html")
    assert results.mimetype == "text/html" and "done sleeping" in results.get_data(as_text=True)


def test_event_stream_of_unknown_job(client):
    assert client.get("/jobs/nope/events").status_code == 404
