"""WPS 2.0.0 through the WSGI app; every XML answer is validated against the 2.0 schemas."""

from __future__ import annotations

import time

import pytest

NS = {"wps": "http://www.opengis.net/wps/2.0", "ows": "http://www.opengis.net/ows/2.0",
      "xlink": "http://www.w3.org/1999/xlink"}
KVP = "service=WPS&version=2.0.0&request="


def execute(process: str, inputs: str = "", outputs: str = "", mode: str = "sync",
            response: str = "document") -> str:
    return f"""<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0"
      xmlns:ows="http://www.opengis.net/ows/2.0" xmlns:xlink="http://www.w3.org/1999/xlink"
      service="WPS" version="2.0.0" mode="{mode}" response="{response}">
      <ows:Identifier>{process}</ows:Identifier>{inputs}{outputs}</wps:Execute>"""


def literal(ident: str, value: str) -> str:
    return f'<wps:Input id="{ident}"><wps:Data><wps:LiteralValue>{value}</wps:LiteralValue></wps:Data></wps:Input>'


def error2(response) -> tuple[str, str | None]:
    root = response.xml
    assert root.tag == "{http://www.opengis.net/ows/2.0}ExceptionReport"
    exc = root.find("ows:Exception", NS)
    return exc.get("exceptionCode"), exc.get("locator")


def test_capabilities_version_negotiation(wps):
    # AcceptVersions is in the client's order of preference (06-121r3, 7.3.2).
    first = wps.get("service=WPS&request=GetCapabilities&AcceptVersions=1.0.0,2.0.0").xml
    assert first.tag == "{http://www.opengis.net/wps/1.0.0}Capabilities"
    root = wps.get("service=WPS&request=GetCapabilities&AcceptVersions=3.0.0,2.0.0,1.0.0").xml
    assert root.tag == "{http://www.opengis.net/wps/2.0}Capabilities"
    assert root.get("version") == "2.0.0"
    summaries = root.findall("wps:Contents/wps:ProcessSummary", NS)
    by_id = {s.findtext("ows:Identifier", namespaces=NS): s for s in summaries}
    assert by_id["sleep"].get("jobControlOptions") == "sync-execute async-execute dismiss"
    assert by_id["sync_only"].get("jobControlOptions") == "sync-execute"
    assert by_id["sleep"].get("outputTransmission") == "value reference"
    assert wps.get(KVP + "GetCapabilities").xml.get("version") == "2.0.0"
    # no version named: 1.0.0 (see web/wps.py)
    assert wps.get("service=WPS&request=GetCapabilities").xml.get("version") == "1.0.0"
    for bad in ("3.0.0", "0.1.0"):
        response = wps.get(f"service=WPS&version={bad}&request=GetCapabilities", 400)
        exc = response.xml.find("{*}Exception")
        assert exc.get("exceptionCode") == "VersionNegotiationFailed"


def test_capabilities_post(wps):
    body = ('<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/2.0" service="WPS"/>')
    assert wps.post(body).xml.tag == "{http://www.opengis.net/wps/2.0}Capabilities"


def test_describe_process(wps):
    root = wps.get(KVP + "DescribeProcess&identifier=echo,expand_bbox").xml
    offerings = root.findall("wps:ProcessOffering", NS)
    assert [o.findtext("wps:Process/ows:Identifier", namespaces=NS) for o in offerings] == [
        "echo", "expand_bbox"]
    echo = offerings[0].find("wps:Process", NS)
    assert echo.find("wps:Input/wps:LiteralData", NS) is not None
    assert echo.find("wps:Input/wps:ComplexData", NS) is not None
    assert echo.find("wps:Input/wps:BoundingBoxData", NS) is not None
    assert echo.findtext("wps:Input/wps:LiteralData/LiteralDataDomain/ows:DataType",
                         namespaces=NS) == "string"
    everything = wps.get(KVP + "DescribeProcess&identifier=all").xml
    ids = everything.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS)
    assert len(ids) == len(set(ids)) > 10
    # 14-065r2: the locators are the violating identifiers themselves
    assert error2(wps.get(KVP + "DescribeProcess&identifier=nope", 400)) == (
        "NoSuchProcess", "nope")
    assert error2(wps.get(KVP + "DescribeProcess&identifier=echo,nope,nix", 400)) == (
        "NoSuchProcess", "nope,nix")


def test_sync_document_and_raw(wps):
    outputs = ('<wps:Output id="message" transmission="value"/>'
               '<wps:Output id="document" transmission="reference"/>')
    inputs = literal("message", "hello") + (
        '<wps:Input id="document"><wps:Data><a>1</a></wps:Data></wps:Input>')
    root = wps.post(execute("echo", inputs, outputs)).xml
    assert root.tag == "{http://www.opengis.net/wps/2.0}Result"
    assert root.xpath("wps:Output[@id='message']/wps:Data/wps:LiteralValue/text()",
                      namespaces=NS) == ["hello"]
    href = root.find("wps:Output[@id='document']/wps:Reference", NS).get(
        "{http://www.w3.org/1999/xlink}href")
    with wps.client.get(href) as served:
        assert served.data == b"<a>1</a>"
    raw = wps.client.post("/wps", data=execute("echo", inputs, '<wps:Output id="message"/>',
                                               response="raw"), content_type="application/xml")
    assert raw.data == b"hello" and raw.mimetype == "text/plain"


def test_auto_runs_synchronously(wps):
    root = wps.post(execute("say_hello", literal("name", "auto"), mode="auto")).xml
    assert root.xpath("//wps:LiteralValue/text()", namespaces=NS) == ["Hello auto"]


def test_bbox(wps):
    inputs = ('<wps:Input id="bbox"><wps:Data><ows:BoundingBox crs="EPSG:4326">'
              "<ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>"
              "</ows:BoundingBox></wps:Data></wps:Input>") + literal("margin", "1")
    root = wps.post(execute("expand_bbox", inputs)).xml
    box = root.find("wps:Output/wps:Data/ows:BoundingBox", NS)
    assert box.findtext("ows:UpperCorner", namespaces=NS) == "4.0 5.0"


def test_async_job_lifecycle(wps):
    status = wps.post(execute("sleep", literal("delay", "1"), mode="async")).xml
    assert status.tag == "{http://www.opengis.net/wps/2.0}StatusInfo"
    job_id = status.findtext("wps:JobID", namespaces=NS)
    assert status.findtext("wps:Status", namespaces=NS) in ("Accepted", "Running")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = wps.post(f"""<wps:GetStatus xmlns:wps="http://www.opengis.net/wps/2.0"
          service="WPS" version="2.0.0"><wps:JobID>{job_id}</wps:JobID></wps:GetStatus>""").xml
        if info.findtext("wps:Status", namespaces=NS) == "Succeeded":
            break
        time.sleep(0.1)
    assert info.find("wps:ExpirationDate", NS) is not None
    result = wps.get(KVP + f"GetResult&jobId={job_id}").xml
    assert result.findtext("wps:JobID", namespaces=NS) == job_id
    assert result.xpath("//wps:LiteralValue/text()", namespaces=NS) == ["done sleeping"]
    dismissed = wps.get(KVP + f"Dismiss&jobId={job_id}").xml
    assert dismissed.findtext("wps:Status", namespaces=NS) == "Dismissed"
    assert error2(wps.get(KVP + f"GetStatus&jobId={job_id}", 400)) == ("NoSuchJob", job_id)


def test_quick_jobs_are_settled_when_asked_at_once(wps):
    status = wps.post(execute("say_hello", literal("name", "quick"), mode="async",
                              response="raw")).xml
    job_id = status.findtext("wps:JobID", namespaces=NS)
    info = wps.get(KVP + f"GetStatus&jobId={job_id}").xml
    assert info.findtext("wps:Status", namespaces=NS) == "Succeeded"
    result = wps.get(KVP + f"GetResult&jobId={job_id}").xml
    assert result.find(".//wps:LiteralValue", NS).text == "Hello quick"


def test_result_not_ready_and_dismiss_of_a_running_job(wps, tmp_path):
    status = wps.post(execute("forever", literal("pidfile", str(tmp_path / "p")),
                              mode="async")).xml
    job_id = status.findtext("wps:JobID", namespaces=NS)
    deadline = time.monotonic() + 30
    while not (tmp_path / "p").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3.1)  # past the short wait for quick jobs
    assert error2(wps.get(KVP + f"GetResult&jobId={job_id}", 400)) == ("ResultNotReady",
                                                                        job_id)
    assert wps.get(KVP + f"GetStatus&jobId={job_id}").xml.findtext(
        "wps:Status", namespaces=NS) == "Running"
    assert wps.get(KVP + f"Dismiss&jobId={job_id}").xml.findtext(
        "wps:Status", namespaces=NS) == "Dismissed"
    assert error2(wps.get(KVP + f"Dismiss&jobId={job_id}", 400)) == ("NoSuchJob", job_id)


def test_failed_job_result_is_its_exception(wps):
    status = wps.post(execute("fail", mode="async")).xml
    job_id = status.findtext("wps:JobID", namespaces=NS)
    answer = wps.get(KVP + f"GetResult&jobId={job_id}", 500)
    code, _ = error2(answer)
    assert code == "NoApplicableCode"
    # StatusInfo has no message: the job's log is linked from GetStatus, and its last lines
    # follow the failure's text in the report.
    log_url = f"http://localhost/jobs/{job_id}/log"
    text, log = answer.xml.xpath("//ows:ExceptionText/text()", namespaces=NS)
    assert "'fail' failed" in text
    assert log.startswith(f"Last lines of the job's log (all of it: {log_url}):\n")
    assert "WARNING giving up: the input cannot be read\n" in log
    assert "broke on purpose" not in log
    info = wps.get(KVP + f"GetStatus&jobId={job_id}")
    assert info.headers["Link"] == f'<{log_url}>; rel="log"; type="text/plain"'
    assert wps.client.get(log_url).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code", "locator"),
    [
        (execute("nope"), 400, "NoSuchProcess", "nope"),
        (execute("say_hello", literal("nom", "x")), 400, "NoSuchInput", "nom"),
        (execute("say_hello", literal("name", "x"), '<wps:Output id="zzz"/>'), 400,
         "NoSuchOutput", "zzz"),
        (execute("multi", literal("n", "1") + literal("n", "x")), 400, "WrongInputData", "n"),
        (execute("multi", literal("n", "1") * 5), 400, "TooManyInputs", "n"),
        (execute("sync_only", mode="async"), 400, "NoSuchMode", "async"),
        (execute("say_hello", literal("name", "x"), mode="fast"), 400, "NoSuchMode", "fast"),
        (execute("echo", literal("message", "x"), '<wps:Output id="message"/>'
                 '<wps:Output id="document"/>', response="raw"), 400, "TooManyOutputs",
         "message,document"),
        (execute("echo", literal("message", "x"), response="raw"), 400, "TooManyOutputs",
         "message,document,bbox"),
        (execute("buffer", '<wps:Input id="features"><wps:Data mimeType="image/png">x</wps:Data>'
                 "</wps:Input>" + literal("distance", "1")), 400, "NoSuchFormat", "features"),
        (execute("xml_echo", '<wps:Input id="doc"><wps:Data><r>' + "x" * 2000 + "</r></wps:Data>"
                 "</wps:Input>"), 400, "SizeExceeded", "doc"),
        (execute("fail"), 500, "NoApplicableCode", None),
    ],
)
def test_execute_errors(wps, body, status, code, locator):
    assert error2(wps.post(body, status)) == (code, locator)


@pytest.mark.parametrize(
    ("query", "status", "code", "locator"),
    [
        (KVP + "GetStatus", 400, "MissingParameterValue", "jobId"),
        (KVP + "GetStatus&jobId=nope", 400, "NoSuchJob", "nope"),
        (KVP + "GetResult&jobId=nope", 400, "NoSuchJob", "nope"),
        (KVP + "Dismiss&jobId=nope", 400, "NoSuchJob", "nope"),
        (KVP + "Execute&identifier=echo", 501, "OperationNotSupported", "Execute"),
        ("service=WPS&version=1.0.0&request=GetStatus&jobId=x", 501, "OperationNotSupported",
         "GetStatus"),
    ],
)
def test_kvp_errors(wps, query, status, code, locator):
    response = wps.get(query, status)
    exc = response.xml.find("{*}Exception")
    assert (exc.get("exceptionCode"), exc.get("locator")) == (code, locator)


def test_jobs_are_shared_between_versions(wps):
    """A job started with WPS 1.0.0 is followed with WPS 2.0.0 and the other way round."""
    old = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=say_hello"
                  "&DataInputs=name=one&storeExecuteResponse=true&status=true").xml
    job_id = old.get("statusLocation").rsplit("/", 1)[1]
    info = wps.get(KVP + f"GetStatus&jobId={job_id}").xml
    assert info.findtext("wps:Status", namespaces=NS) == "Succeeded"
    new = wps.post(execute("say_hello", literal("name", "two"), mode="async")).xml
    new_id = new.findtext("wps:JobID", namespaces=NS)
    wps.get(KVP + f"GetStatus&jobId={new_id}")
    document = wps.check(wps.client.get(f"/wps/jobs/{new_id}")).xml
    assert document.xpath("//*[local-name()='LiteralData']/text()") == ["Hello two"]
