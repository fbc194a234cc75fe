"""The WPS endpoint: one URL for WPS 1.0.0 and 2.0.0.

request -> version and protocol parse -> service -> that version's encoding. GetCapabilities
negotiates the version (1.0.0 when the client names none: CITE's WPS 1.0.0 suite asks without
one and expects 1.0.0, while every WPS 2.0 client names 2.0.0); other operations name theirs;
XML requests carry it in their namespace.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import unquote_plus

from flask import Response, g, request
from lxml import etree

from ..core.caller import Caller
from ..core.job import JobStatus
from ..core.results import ExecuteResult
from ..core.service import Service
from ..datatypes.values import BoundingBox
from ..exceptions import (
    Forbidden,
    InvalidParameterValue,
    InvalidUpdateSequence,
    MissingParameterValue,
    NoApplicableCode,
    NoSuchJob,
    NoSuchMode,
    OperationNotSupported,
    ResultNotReady,
    TooManyOutputs,
    WPSError,
)
from ..processes.process import Process
from ..protocol.ows import kvp_operation, log_text
from ..protocol.requests import (
    DescribeProcess,
    Dismiss,
    Execute,
    GetCapabilities,
    GetResult,
    GetStatus,
    Request,
)
from ..protocol.wps1 import encode, parse
from ..protocol.wps2 import encode as encode2
from ..protocol.wps2 import parse as parse2
from ..protocol.xml import NS_WPS10, NS_WPS20, parse_xml, to_bytes
from .auth import current_caller
from .body import body_chunks
from .errors import XML_TYPE, wps_error_response
from .headers import as_download

#: highest first: GetCapabilities answers with the highest version the client accepts
SUPPORTED_VERSIONS = ("2.0.0", "1.0.0")
DEFAULT_VERSION = "1.0.0"
_ALL_OPERATIONS = tuple(dict.fromkeys(parse.OPERATIONS + parse2.OPERATIONS))
# Documents are cached per service URL; the URL comes from the Host header, which clients
# choose, so the caches are bounded.
_CACHE_SIZE = 64


class WPSEndpoint:
    """Serves every WPS operation of both versions at one URL."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        # Capabilities and descriptions change only when the processes do, that is never
        # while this object lives: build each document once.
        self._capabilities = lru_cache(maxsize=_CACHE_SIZE)(self._build_capabilities)
        self._descriptions = lru_cache(maxsize=_CACHE_SIZE)(self._build_descriptions)
        every_id = tuple(p.identifier for p in service.registry)
        all_descriptions = self._build_descriptions(every_id, settings.languages[0], "1.0.0")
        self.update_sequence = settings.update_sequence or hashlib.sha256(
            all_descriptions + repr(settings.metadata).encode()
        ).hexdigest()[:16]

    # ------------------------------------------------------------ views

    def handle(self) -> Response:
        caller = current_caller()
        version, parsed = self._parse(caller)
        g.wps_version = version
        service = self.service
        if isinstance(parsed, GetCapabilities):
            if parsed.accept_versions:  # an XML request's list must hold its own version
                service.negotiate_version(parsed.accept_versions, (version,))
            language = service.negotiate_language(parsed.language)
            self._check_update_sequence(parsed.update_sequence)
            offered = tuple(p.identifier for p in service.processes(caller=caller))
            _check_any_offered(offered, caller, service)
            return _xml(self._capabilities(self.service_url(), language, version, offered))
        if isinstance(parsed, GetStatus | GetResult | Dismiss):
            return self._job_operation(parsed, caller)
        language = service.negotiate_language(parsed.language)
        if isinstance(parsed, DescribeProcess):
            # Raises for unknown identifiers, and for those of processes the caller may not use.
            described = service.describe(parsed.identifiers, caller=caller)
            _check_any_offered(described, caller, service)  # "ALL" of none
            return _xml(self._descriptions(tuple(p.identifier for p in described), language,
                                           version))
        if version == "2.0.0":
            return self._execute2(parsed, language, caller)
        return self._execute(parsed, language, caller)

    def _parse(self, caller: Caller) -> tuple[str, Request]:
        # Requests are parsed against the processes the caller may see: another one is as
        # unknown to the parser as to the rest.
        def lookup(identifier: str) -> Process | None:
            return self.service.find_process(identifier, caller=caller)

        if request.method == "POST":
            chunks = body_chunks()
            first = next(chunks, b"")
            if not first.strip():
                raise NoApplicableCode(
                    "A POST request must carry a WPS XML request document", status=400
                )
            root = parse_xml(itertools.chain([first], chunks))
            namespace = etree.QName(root).namespace
            g.wps_operation = etree.QName(root).localname  # for the request metrics
            if namespace == NS_WPS20:
                g.wps_version = "2.0.0"
                return "2.0.0", parse2.parse_xml_request(root, lookup)
            if namespace == NS_WPS10:
                return "1.0.0", parse.parse_xml_request(root)
            raise OperationNotSupported(f"Root element {root.tag!r} is not a WPS request",
                                        etree.QName(root).localname)
        query = request.query_string.decode("utf-8", errors="replace")
        raw = parse.split_query(query)
        params = {name: unquote_plus(value) for name, value in raw.items()}
        if params.get("version") in SUPPORTED_VERSIONS:
            # Errors found from here on are reported in the version the request names.
            g.wps_version = params["version"]
        operation = kvp_operation(params, _ALL_OPERATIONS)
        if operation == "GetCapabilities":
            accepted = params.get("acceptversions") or params.get("version") or ""
            versions = [v.strip() for v in accepted.split(",") if v.strip()]
            version = (self.service.negotiate_version(versions, SUPPORTED_VERSIONS)
                       if versions else DEFAULT_VERSION)
        else:
            version = params.get("version") or ""
            if not version:
                raise MissingParameterValue("Parameter 'version' is missing", "version")
            if version not in SUPPORTED_VERSIONS:
                raise InvalidParameterValue(
                    f"Version {version!r} is not supported; use 2.0.0 or 1.0.0", "version")
        g.wps_version = version
        if version == "2.0.0":
            return version, parse2.parse_kvp(operation, params)
        if operation not in parse.OPERATIONS:
            raise OperationNotSupported(f"{operation} is a WPS 2.0 operation", operation)
        return version, parse.parse_kvp(query, lookup)

    # ------------------------------------------------------------ WPS 1.0.0 Execute

    def _execute(self, parsed: Execute, language: str, caller: Caller) -> Response:
        url = self.service_url()
        output_url = self.service.settings.output_url or url + "/outputs/"
        if parsed.store:
            job = self.service.submit(parsed, url, output_url, language, caller=caller)
            result = self.service.job_result(job)
            result.status_location = self.status_location(url, job.id)
            document = encode.execute_response(result, self.service_instance(url), language)
            return _xml(to_bytes(document))
        result = self.service.execute(parsed, output_url, caller=caller)
        if parsed.raw:
            return _raw_response(result)
        document = encode.execute_response(result, self.service_instance(url), language)
        return _xml(to_bytes(document))

    def job_status(self, job_id: str) -> Response:
        """The stored WPS 1.0.0 execute response of a job (whichever protocol started it),
        built from its record on every request so that it is never stale. Another user's
        job is as unknown as one that never existed."""
        job = self.service.get_job(job_id, current_caller(), with_log=True)
        if job is None:
            raise NoApplicableCode(f"No job {job_id!r}; it may have expired", "jobId",
                                   status=404)
        result = self.service.job_result(job)
        result.status_location = self.status_location(job.service_url, job.id)
        log_url = self.log_url(job.service_url, job.id)
        _link_log(result, log_url)
        document = encode.execute_response(result, self.service_instance(job.service_url),
                                           job.language)
        return _with_log_link(_xml(to_bytes(document)), log_url)

    # ------------------------------------------------------------ WPS 2.0.0

    def _execute2(self, parsed: Execute, language: str, caller: Caller) -> Response:
        service = self.service
        process = service.get_process(parsed.identifier, caller=caller)
        asked = [o.identifier for o in parsed.outputs] or [o.identifier for o in process.outputs]
        if parsed.raw and len(asked) != 1:
            raise TooManyOutputs("A raw response holds exactly one output; ask for one or use "
                                 "response=\"document\"", ",".join(asked))
        url = self.service_url()
        output_url = service.settings.output_url or url + "/outputs/"
        if parsed.mode == "async":
            if not service.supports_jobs(process):
                raise NoSuchMode(f"Process {process.identifier!r} runs synchronously only",
                                 parsed.mode)
            job = service.submit(parsed, url, output_url, language, caller=caller)
            return _xml(to_bytes(encode2.status_info(job)))
        # sync, or auto: every process runs synchronously, which answers soonest.
        synchronous = dataclasses.replace(parsed, mode="sync", store=False, status=False)
        result = service.execute(synchronous, output_url, caller=caller)
        if result.error is not None:
            raise result.error
        if parsed.raw:
            return _raw_response(result, encode2.bounding_box)
        return _xml(to_bytes(encode2.result(result.outputs)))

    def _job_operation(self, parsed: GetStatus | GetResult | Dismiss, caller: Caller
                       ) -> Response:
        service = self.service
        if isinstance(parsed, Dismiss):
            job = service.get_job(parsed.job_id, caller)
        else:  # GetResult shows a failure's log: read with the record, not after it
            job = service.settle(parsed.job_id, caller=caller,
                                 with_log=isinstance(parsed, GetResult))
        if job is None or job.status is JobStatus.DISMISSED:
            raise NoSuchJob(f"No job {parsed.job_id!r}", parsed.job_id)
        if isinstance(parsed, GetStatus):
            # StatusInfo has no element for a message (14-065's schema): its job's log is
            # linked in the Link header, as the OGC API status links it.
            document = encode2.status_info(job, expiration=service.expiration(job))
            return _with_log_link(_xml(to_bytes(document)),
                                  self.log_url(self.service_url(), job.id))
        if isinstance(parsed, Dismiss):
            service.dismiss(job.id, caller)
            return _xml(to_bytes(encode2.status_info(job, JobStatus.DISMISSED)))
        if job.status in (JobStatus.ACCEPTED, JobStatus.RUNNING):
            raise ResultNotReady(f"Job {job.id} is {job.status.value}", job.id)
        result = service.job_result(job)
        if result.error is not None:
            _link_log(result, self.log_url(self.service_url(), job.id))
            raise result.error
        return _xml(to_bytes(encode2.result(result.outputs, job.id, service.expiration(job))))

    # ------------------------------------------------------------ helpers

    def service_url(self) -> str:
        return self.service.settings.url or request.base_url

    @staticmethod
    def service_instance(url: str) -> str:
        return url + "?service=WPS&request=GetCapabilities"

    @staticmethod
    def status_location(url: str, job_id: str) -> str:
        return f"{url}/jobs/{job_id}"

    @staticmethod
    def log_url(url: str, job_id: str) -> str:
        """The job's log, served by the OGC API beside the WPS endpoint at ``url``."""
        return f"{url.rsplit('/', 1)[0]}/jobs/{job_id}/log"

    def _check_update_sequence(self, requested: str | None) -> None:
        ours = self.update_sequence
        # Ordering is only defined when both sides are numbers (OWS 1.1 table 6).
        if requested and requested.isdigit() and ours.isdigit() and int(requested) > int(ours):
            raise InvalidUpdateSequence(
                f"updateSequence {requested} is newer than the server's {ours}", "updateSequence"
            )

    def _build_capabilities(self, url: str, language: str, version: str,
                            identifiers: tuple[str, ...]) -> bytes:
        service = self.service
        processes = [p for p in map(service.registry.get, identifiers) if p is not None]
        if version == "2.0.0":
            return to_bytes(encode2.capabilities(service.settings.metadata, processes, url,
                                                 self.update_sequence, service.supports_jobs))
        document = encode.capabilities(service.settings.metadata, processes, url, language,
                                       service.settings.languages, self.update_sequence)
        return to_bytes(document)

    def _build_descriptions(self, identifiers: tuple[str, ...], language: str,
                            version: str) -> bytes:
        """The descriptions of these processes (chosen for the caller by the service)."""
        processes = [p for p in map(self.service.registry.get, identifiers) if p is not None]
        if version == "2.0.0":
            return to_bytes(encode2.process_offerings(processes, language,
                                                      self.service.supports_jobs))
        return to_bytes(encode.process_descriptions(processes, language,
                                                    self.service.supports_jobs))


def _check_any_offered(offered: Sequence[object], caller: Caller, service: Service) -> None:
    """Capabilities list one process at least, and so do ProcessDescriptions (both versions'
    schemas): with none to list, a valid exception report says why instead."""
    if offered:
        return
    if not len(service.registry):
        raise NoApplicableCode("This server serves no processes: its operator has named no "
                               "module that defines one")
    raise Forbidden(f"No process of this server is offered to "
                    f"{caller.name or 'anonymous callers'}; its operator decides who may use "
                    "which")


def _xml(body: bytes) -> Response:
    return Response(body, content_type=XML_TYPE)


def _link_log(result: ExecuteResult, url: str) -> None:
    """Where the job's log is served; a failure's report gets its last lines as a further
    ExceptionText (in both versions)."""
    result.log_url = url
    if result.error is not None and result.log:
        result.error.details = (log_text(result.log, url),)


def _with_log_link(response: Response, url: str) -> Response:
    response.headers.add("Link", f'<{url}>; rel="log"; type="text/plain"')
    return response


def _raw_response(result: ExecuteResult,
                  bbox_encoder: Callable[[BoundingBox], etree._Element] = encode.bounding_box
                  ) -> Response:
    if result.error is not None:
        return wps_error_response(result.error)
    if not result.outputs:
        return Response(status=204)  # the process produced no value for it
    value = result.outputs[0]
    if value.bbox is not None:
        return _xml(to_bytes(bbox_encoder(value.bbox)))
    if value.text is not None:
        return Response(value.text, content_type="text/plain; charset=utf-8")
    fmt = value.selected.format
    assert fmt is not None and value.data is not None
    return as_download(Response(value.data, content_type=fmt.content_type),
                       value.identifier + fmt.extension)


__all__ = ["WPSEndpoint", "WPSError"]
