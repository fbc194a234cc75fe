"""OGC API - Processes views: request -> ogcapi parse -> service -> JSON documents.

The same processes and the same jobs as the WPS endpoint: a job started here can be followed
with WPS 2.0 GetStatus, and one started with WPS can be seen in /jobs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..core.job import JobStatus
from ..core.results import OutputValue
from ..core.service import Service
from ..datatypes.outputs import LiteralOutput
from ..exceptions import (
    InvalidParameterValue,
    NoApplicableCode,
    NoSuchJob,
    ResultNotReady,
    WPSError,
)
from ..protocol.ogcapi import encode
from ..protocol.ogcapi.parse import parse_execute, wants_async
from .auth import current_caller
from .body import body_bytes
from .headers import as_download, mark_page
from .openapi import (
    DEFAULT_LIMIT,
    MAX_JOBS_LIMIT,
    MAX_OFFSET,
    MAX_PROCESSES_LIMIT,
    openapi_document,
)
from .pages import add_page_routes, bbox_crss, map_tiles, output_origins, page_csp

logger = logging.getLogger("wpsd")
JSON_TYPE = "application/json"
_STATUS_BY_CODE = {code: status for status, code in encode.STATUS_CODES.items()}
#: how often an event stream looks at its job, and how long a stream may last at most
EVENT_INTERVAL = 0.25
EVENT_STREAM_SECONDS = 3600.0


def _int_param(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter; above ``high`` it is served as ``high`` (18-062r2
    /req/core/pl-limit-response: a limit beyond the maximum is not an error)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name} must be an integer", name) from None
    if value < low:
        raise InvalidParameterValue(f"{name} must be at least {low}", name)
    return min(value, high)


def wants_html() -> bool:
    """HTML for ?f=html or for a client (a browser) that prefers it to JSON."""
    chosen = request.args.get("f")
    if chosen:
        return chosen.lower() == "html"
    accept = request.accept_mimetypes
    return accept.best_match([JSON_TYPE, "text/html"]) == "text/html" \
        and accept["text/html"] > accept[JSON_TYPE]


def create_blueprint(service: Service) -> Blueprint:
    bp = Blueprint("ogcapi", __name__, template_folder="templates")

    def base() -> str:
        if service.settings.url:
            return service.settings.url.rsplit("/", 1)[0]
        return request.url_root.rstrip("/")

    @functools.cache
    def outputs() -> tuple[str, ...]:
        # Once: the settings do not change, and presigning may first fetch credentials.
        return output_origins(service.settings, service.storage.url)

    def answer(document: Any, template: str, title: str, **context: Any) -> Response:
        """The document as JSON, or rendered as an HTML page for browsers."""
        if wants_html():
            mark_page()
            tiles = map_tiles(service.settings)
            page = Response(render_template(
                template, document=document, base=base(), title=title,
                service_title=service.settings.metadata.title,
                user=current_caller().name, map_tiles=tiles,
                map_attribution=getattr(service.settings, "map_attribution", ""), **context),
                content_type="text/html; charset=utf-8")
            page.headers["Content-Security-Policy"] = page_csp(tiles, outputs())
            return page
        return jsonify(document)

    add_page_routes(bp)

    @bp.errorhandler(WPSError)
    def wps_error(error: WPSError) -> Response:
        status, _ = encode.error_status_and_type(error)
        logger.error("Exception: code: %s, locator: %s, exceptionCode: %s, text: %s",
                     status, error.locator, error.code2, error.text)
        response = jsonify(encode.exception(error, request.path))
        response.status_code = status
        return response

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # The traceback goes to the log; the client gets a JSON exception like any other.
        logger.exception("Unhandled error while serving %s", request.path)
        return wps_error(NoApplicableCode("Internal server error"))

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        error = NoApplicableCode(exc.description or exc.name, status=exc.code or 500)
        response = jsonify(encode.exception(error, request.path))
        response.status_code = exc.code or 500
        return response

    @bp.get("/")
    def landing() -> Response:
        meta = service.settings.metadata
        return answer(encode.landing_page(base(), meta.title, meta.abstract), "landing.html",
                      meta.title)

    @bp.get("/conformance")
    def conformance() -> Response:
        return answer(encode.conformance(), "conformance.html", "Conformance")

    @bp.get("/api")
    def api() -> Response:
        offered = service.processes(caller=current_caller())
        document = openapi_document(service, base(), offered)
        return Response(_dumps(document), content_type="application/vnd.oai.openapi+json;"
                                                     "version=3.0")

    @bp.get("/processes")
    def processes() -> Response:
        limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_PROCESSES_LIMIT)
        offset = _int_param("offset", 0, 0, MAX_OFFSET)
        everything = service.processes(caller=current_caller())
        page = everything[offset:offset + limit]
        links = [encode.link(f"{base()}/processes?limit={limit}&offset={offset}", "self")]
        if offset + limit < len(everything):
            links.append(encode.link(f"{base()}/processes?limit={limit}&offset={offset + limit}",
                                     "next"))
        if offset:
            links.append(encode.link(
                f"{base()}/processes?limit={limit}&offset={max(0, offset - limit)}", "prev"))
        summaries = [encode.process_summary(p, base(), service.supports_jobs(p)) for p in page]
        return answer({"processes": summaries, "links": links}, "processes.html", "Processes")

    @bp.get("/processes/<process_id>")
    def process(process_id: str) -> Response:
        found = service.get_process(process_id, caller=current_caller())
        description = encode.process_description(found, base(), service.supports_jobs(found))
        return answer(description, "process.html", found.title, process=description,
                      crss=bbox_crss(found))

    @bp.post("/processes/<process_id>/execution")
    def execute(process_id: str) -> Response:
        caller = current_caller()
        found = service.get_process(process_id, caller=caller)
        parsed = parse_execute(body_bytes(), found,
                               service.settings.reference_schemes)
        wps_url = f"{base()}/wps"
        output_url = service.settings.output_url or wps_url + "/outputs/"
        language = service.settings.languages[0]
        if wants_async(request.headers.get("Prefer")) and service.supports_jobs(found):
            job = service.submit(dataclasses.replace(parsed, mode="async", store=True,
                                                     status=True),
                                 wps_url, output_url, language, caller=caller)
            response = jsonify(encode.status_info(job, base()))
            response.status_code = 201
            response.headers["Location"] = f"{base()}/jobs/{job.id}"
            response.headers["Preference-Applied"] = "respond-async"
            return response
        result = service.execute(parsed, output_url, caller=caller)
        if result.error is not None:
            raise result.error
        return _results_response(result.outputs, parsed.raw)

    @bp.get("/jobs")
    def jobs() -> Response:
        limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_JOBS_LIMIT)
        offset = _int_param("offset", 0, 0, MAX_OFFSET)
        statuses = []
        for name in request.args.getlist("status"):
            if name not in _STATUS_BY_CODE:
                raise InvalidParameterValue(f"Unknown status {name!r}", "status")
            statuses.append(_STATUS_BY_CODE[name])
        kinds = request.args.getlist("type")
        # Only the caller's jobs (an admin's: all), chosen by the store's query.
        found = [] if kinds and "process" not in kinds else service.list_jobs(
            caller=current_caller(), statuses=statuses,
            process_ids=request.args.getlist("processID"), limit=limit + 1, offset=offset)
        links = [encode.link(f"{base()}/jobs?limit={limit}&offset={offset}", "self")]
        if len(found) > limit:
            links.append(encode.link(f"{base()}/jobs?limit={limit}&offset={offset + limit}",
                                     "next"))
        return answer(encode.job_list(found[:limit], base(), links), "jobs.html", "Jobs")

    def live_job(job_id: str) -> Any:
        job = service.get_job(job_id, current_caller())
        if job is None or job.status is JobStatus.DISMISSED:
            raise NoSuchJob(f"No job {job_id!r}", job_id)
        return job

    @bp.get("/jobs/<job_id>")
    def job(job_id: str) -> Response:
        found = service.get_job(job_id, current_caller())
        if found is None:
            raise NoSuchJob(f"No job {job_id!r}", job_id)
        info = encode.status_info(found, base())
        return answer(info, "job.html", f"Job {job_id}", job=info)

    @bp.get("/jobs/<job_id>/events")
    def events(job_id: str) -> Response:
        """Server-Sent Events: the job's statusInfo each time it changes, until it ends."""
        caller = current_caller()
        if service.get_job(job_id, caller) is None:
            raise NoSuchJob(f"No job {job_id!r}", job_id)
        root = base()  # the stream outlives the request context

        def stream() -> Iterator[str]:
            last, quiet_since = "", time.monotonic()
            deadline = time.monotonic() + EVENT_STREAM_SECONDS
            while time.monotonic() < deadline:
                job = service.get_job(job_id, caller)
                if job is None:
                    yield "event: gone\ndata: {}\n\n"
                    return
                payload = json.dumps(encode.status_info(job, root))
                if payload != last:
                    last, quiet_since = payload, time.monotonic()
                    yield f"event: status\ndata: {payload}\n\n"
                elif time.monotonic() - quiet_since > 15:
                    quiet_since = time.monotonic()
                    yield ": still running\n\n"  # keeps proxies from closing the stream
                if job.status.finished:
                    return
                time.sleep(EVENT_INTERVAL)

        return Response(stream(), content_type="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @bp.delete("/jobs/<job_id>")
    def dismiss(job_id: str) -> Response:
        found = live_job(job_id)
        service.dismiss(found.id, current_caller())
        return jsonify(encode.status_info(found, base(), JobStatus.DISMISSED))

    @bp.get("/jobs/<job_id>/log")
    def job_log(job_id: str) -> Response:
        # What the handler logged through context.logger (the rel="log" link of a job).
        found = service.get_job(job_id, current_caller())
        if found is None:
            raise NoSuchJob(f"No job {job_id!r}", job_id)
        text = service.store.job_log(found.id) or ""
        return Response(text, content_type="text/plain; charset=utf-8")

    @bp.get("/jobs/<job_id>/results")
    def results(job_id: str) -> Response:
        found = live_job(job_id)
        if found.status in (JobStatus.ACCEPTED, JobStatus.RUNNING):
            raise ResultNotReady(f"Job {job_id} is {found.status.value}", job_id)
        result = service.job_result(found)
        if result.error is not None:
            raise result.error
        if wants_html():
            return answer(encode.results(result.outputs), "results.html", "Results",
                          job_id=job_id)
        return _results_response(result.outputs, found.request.raw)

    return bp


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=1)


def _raw_part(value: OutputValue) -> tuple[bytes, str]:
    if value.text is not None:
        return value.text.encode("utf-8"), "text/plain; charset=utf-8"
    if value.bbox is not None:
        return _dumps(encode.bbox_value(value)).encode(), JSON_TYPE
    fmt = value.selected.format
    assert value.data is not None and fmt is not None
    return value.data, fmt.content_type


def _results_response(values: list[OutputValue], raw: bool) -> Response:
    """Results as 18-062r2 table 11 says: a JSON document, a bare value, multipart or links."""
    if not raw:
        return jsonify(encode.results(values))
    if not values:
        return Response(status=204)  # the process produced none of them
    if all(v.href is not None for v in values):
        response = Response(status=204)
        for value in values:
            link = f'<{value.href}>; rel="{encode.REL}results"; title="{value.identifier}"'
            # The media type, so that a client can tell what it links (a literal's is text).
            fmt = value.selected.format
            if fmt is not None or isinstance(value.selected.output, LiteralOutput):
                link += f'; type="{fmt.media_type if fmt else "text/plain"}"'
            response.headers.add("Link", link)
        return response
    if len(values) == 1:
        body, content_type = _raw_part(values[0])
        fmt = values[0].selected.format
        name = values[0].identifier + (fmt.extension if fmt else "")
        response = as_download(Response(body, content_type=content_type), name)
        # Shown inline (unless as_download made it an attachment), but named: a raw value
        # says which output it is, and is told apart from a results document of the same
        # media type (the HTML pages rely on it).
        response.headers.setdefault("Content-Disposition", f'inline; filename="{name}"')
        return response
    boundary = uuid.uuid4().hex
    parts = []
    for value in values:
        if value.href is not None:
            headers = f"Content-ID: <{value.identifier}>\r\nContent-Location: {value.href}\r\n"
            body = b""
        else:
            body, content_type = _raw_part(value)
            headers = f"Content-ID: <{value.identifier}>\r\nContent-Type: {content_type}\r\n"
        parts.append(f"--{boundary}\r\n{headers}\r\n".encode() + body + b"\r\n")
    payload = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return Response(payload, content_type=f'multipart/related; boundary="{boundary}"')
