"""The web side of observability: request ids, request metrics and the /metrics view.

Each request gets an id: the client's ``X-Request-ID`` when it is short and plain, else a new
one. It is echoed in the response and put on every log line written while the request is
served (:mod:`wpsd.logs`).
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from .. import logs, metrics
from ..ports import JobStore

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
#: the endpoints (of the OGC API blueprint) that serve files of the HTML pages
_PAGE_FILES = frozenset({"leaflet", "favicon"})
#: the WPS operations that are counted by name; anything else is "other"
_WPS_OPERATIONS = {op.lower(): op for op in (
    "GetCapabilities", "DescribeProcess", "Execute", "GetStatus", "GetResult", "Dismiss")}


def install_request_ids(app: Flask) -> None:
    """Give each request an id, in the log and in the ``X-Request-ID`` response header."""

    def assign() -> None:
        given = request.headers.get(HEADER, "")
        g.wpsd_request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        g.wpsd_request_started = time.perf_counter()
        # Not reset after the request: the server's own request line, logged after the
        # response in the same thread, names it too; the next request replaces it.
        logs.request_id.set(g.wpsd_request_id)

    def echo(response: Response) -> Response:
        request_id = g.get("wpsd_request_id")
        if request_id:
            response.headers[HEADER] = request_id
        return response

    # First of all hooks: the guard's refusals carry an id too.
    app.before_request_funcs.setdefault(None, []).insert(0, assign)
    app.after_request(echo)


def install_metrics(app: Flask, store: JobStore, serve: bool = True) -> None:
    """Count every request, and serve the host's metrics at /metrics unless ``serve`` is
    false (they are served elsewhere: ``metrics_listen``)."""

    def count(response: Response) -> Response:
        started = g.get("wpsd_request_started")
        if started is not None:
            protocol, operation = classify(response)
            metrics.count_request(protocol, operation, response.status_code,
                                  time.perf_counter() - started)
        return response

    def scrape() -> Response:
        body, content_type = metrics.exposition(store)
        return Response(body, content_type=content_type,
                        headers={"Cache-Control": "no-store"})

    app.after_request(count)
    if serve:
        app.add_url_rule("/metrics", "metrics", scrape)


def classify(response: Response) -> tuple[str, str]:
    """The protocol (wps1, wps2, ogcapi, html, other) and operation of this request: a
    small, fixed set of values, whatever the client sent."""
    endpoint = request.endpoint or ""
    if endpoint in ("wps", "job_status"):
        protocol = "wps2" if g.get("wps_version") == "2.0.0" else "wps1"
        if endpoint == "job_status":
            return protocol, "GetStatus"
        name = g.get("wps_operation")
        if name is None:
            name = next((v for k, v in request.args.items() if k.lower() == "request"), "")
        return protocol, _WPS_OPERATIONS.get(str(name).lower(), "other")
    operation = endpoint.removeprefix("ogcapi.")
    # The pages' files (ours, the map library's, the icon) are the HTML face's, not the API's.
    if endpoint == "static" or operation in _PAGE_FILES:
        return "html", "static"
    if endpoint.startswith("ogcapi."):
        protocol = "html" if response.mimetype == "text/html" else "ogcapi"
        return protocol, operation
    return "other", endpoint or "unknown"
