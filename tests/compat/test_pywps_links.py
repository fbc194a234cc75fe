"""Metalinks through the web app: embedded as XML, their files linked under the request's
output URL, for synchronous executions and jobs alike."""

from __future__ import annotations

import time
from pathlib import Path

from lxml import etree

from helpers import NS, WPS
from wpsd.processes.registry import load_processes

MODULE = Path(__file__).with_name("pywps_processes.py")
METALINK = "{urn:ietf:params:xml:ns:metalink}"


def _files(wps: WPS, document: etree._Element) -> list[bytes]:
    urls = [u.text for u in document.iter(METALINK + "metaurl")]
    assert urls and all(u.startswith("http://localhost/wps/outputs/") for u in urls)
    found = []
    for url in urls:
        with wps.client.get(url.removeprefix("http://localhost")) as response:
            found.append(response.data)
    return found


def test_metalinks_of_synchronous_executions_and_jobs(make_app):
    wps = WPS(make_app(load_processes(str(MODULE))).test_client())
    answer = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=files"
                     "&DataInputs=count=2&ResponseDocument=output")
    (complex_data,) = answer.xml.iterfind(".//wps:ComplexData", NS)
    # application/metalink+xml; version=4.0 is XML: embedded as such, not in base64
    assert complex_data.get("encoding") is None
    assert _files(wps, complex_data[0]) == [b"Text file 0\n", b"Text file 1\n"]
    answer = wps.get("service=WPS&version=1.0.0&request=Execute&identifier=files"
                     "&DataInputs=count=1&ResponseDocument=output&storeExecuteResponse=true"
                     "&status=true")
    location = answer.xml.get("statusLocation").removeprefix("http://localhost")
    for _ in range(300):
        status = wps.check(wps.client.get(location))
        if status.xml.find(".//wps:ProcessSucceeded", NS) is not None:
            break
        time.sleep(0.05)
    (complex_data,) = status.xml.iterfind(".//wps:ComplexData", NS)
    assert _files(wps, complex_data[0]) == [b"Text file 0\n"]
