"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask.testing import FlaskClient
from lxml import etree

from schemas import assert_valid

NS = {
    "wps": "http://www.opengis.net/wps/1.0.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "xlink": "http://www.w3.org/1999/xlink",
}



class WPS:
    """Drives the WPS endpoint through the WSGI app and checks every XML answer is valid."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, query: str, status: int = 200) -> Any:
        return self._check(self.client.get("/wps?" + query), status)

    def post(self, body: bytes | str, status: int = 200, query: str = "") -> Any:
        data = body.encode() if isinstance(body, str) else body
        response = self.client.post("/wps" + query, data=data, content_type="text/xml")
        return self._check(response, status)

    def check(self, response: Any, status: int = 200) -> Any:
        return self._check(response, status)

    def _check(self, response: Any, status: int) -> Any:
        assert response.status_code == status, response.data[:2000]
        if response.mimetype in ("text/xml", "application/xml"):
            assert_valid(response.data)
            response.xml = etree.fromstring(response.data)
        return response

    def error(self, query: str | None = None, body: str | None = None, status: int = 400
              ) -> tuple[str, str | None, str]:
        """Send a request that must fail; returns (exceptionCode, locator, text)."""
        response = self.get(query, status) if query is not None else self.post(body or "", status)
        root = response.xml
        assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"
        exc = root.find("ows:Exception", NS)
        return exc.get("exceptionCode"), exc.get("locator"), exc.findtext("ows:ExceptionText", "",
                                                                           NS)



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[tuple[int, str]]:
    """The (pid, command line) of a process's children, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    found.append((int(entry), fh.read().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return found


# ---------------------------------------------------------------- WPS 1.0.0 jobs

EXEC = "service=WPS&version=1.0.0&request=Execute&identifier="
ASYNC = "&storeExecuteResponse=true&status=true"


def state(root) -> str:
    return root.find("wps:Status/*", NS).tag.split("}")[1]


def poll(wps: WPS, location: str, timeout: float = 60) -> list:
    """Every status document until the job ends (each one schema-validated by ``wps``)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        root = wps.check(wps.client.get(location)).xml
        seen.append(root)
        if state(root) in ("ProcessSucceeded", "ProcessFailed"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job did not end; last state {state(seen[-1])}")


def submit(wps: WPS, query: str) -> tuple:
    root = wps.get(EXEC + query).xml
    location = root.get("statusLocation")
    assert location and location.startswith("http://localhost/wps/jobs/")
    return root, location


def literal(root, ident):
    return root.xpath(f"wps:ProcessOutputs/wps:Output[ows:Identifier='{ident}']"
                      "/wps:Data/wps:LiteralData/text()", namespaces=NS)[0]


POSTGRES_VARIABLE = "WPSD_TEST_POSTGRES_URL"


@contextlib.contextmanager
def postgres_schema(base: str, tagged: bool = False) -> Iterator[str]:
    """The URL of a new, empty schema in the test PostgreSQL, dropped afterwards; fails the
    test (never skips it) when the server named by the environment is unreachable. ``tagged``:
    the URL's sessions carry the schema's name as application_name, for a test to find them."""
    import pytest
    import sqlalchemy as sa

    schema = "wpsd_test_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{POSTGRES_VARIABLE}={base} is set but PostgreSQL is unreachable: {exc}")
    query = {"options": f"-csearch_path={schema}"}
    if tagged:
        query["application_name"] = schema
    url = sa.make_url(base).update_query_dict(query)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_value(found: dict, name: str, **labels: str) -> float:
    """One sample of :func:`metric_samples`' answer (0 where there is none)."""
    return float(found.get((name, tuple(sorted(labels.items()))), 0.0))
