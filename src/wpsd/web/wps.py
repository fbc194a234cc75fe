"""The WPS endpoint: request -> protocol parse -> service -> protocol encode."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from flask import Response, request

from ..exceptions import InvalidUpdateSequence, NoApplicableCode
from ..protocol.requests import DescribeProcess, Execute, GetCapabilities
from ..protocol.wps1 import encode, parse
from ..protocol.xml import to_bytes
from ..results import ExecuteResult
from ..service import Service
from .errors import XML_TYPE, wps_error_response

SUPPORTED_VERSIONS = ("1.0.0",)
# Documents are cached per service URL; the URL comes from the Host header, which clients
# choose, so the caches are bounded.
_CACHE_SIZE = 64


class WPSEndpoint:
    """Serves GetCapabilities, DescribeProcess and Execute at one URL."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        # Capabilities and descriptions change only when the processes do, that is never
        # while this object lives: build each document once.
        self._capabilities = lru_cache(maxsize=_CACHE_SIZE)(self._build_capabilities)
        self._descriptions = lru_cache(maxsize=_CACHE_SIZE)(self._build_descriptions)
        all_descriptions = self._build_descriptions(("ALL",), settings.languages[0])
        self.update_sequence = settings.update_sequence or hashlib.sha256(
            all_descriptions + repr(settings.metadata).encode()
        ).hexdigest()[:16]

    # ------------------------------------------------------------ views

    def handle(self) -> Response:
        service = self.service
        if request.method == "POST":
            body = request.get_data(cache=False)
            if not body.strip():
                raise NoApplicableCode(
                    "A POST request must carry a WPS XML request document", status=400
                )
            parsed = parse.parse_xml_request(body)
        else:
            query = request.query_string.decode("utf-8", errors="replace")
            parsed = parse.parse_kvp(query, service.registry.get)

        if isinstance(parsed, GetCapabilities):
            service.negotiate_version(parsed.accept_versions, SUPPORTED_VERSIONS)
            language = service.negotiate_language(parsed.language)
            self._check_update_sequence(parsed.update_sequence)
            return _xml(self._capabilities(self.service_url(), language))
        language = service.negotiate_language(parsed.language)
        if isinstance(parsed, DescribeProcess):
            service.describe(parsed.identifiers)  # raises for unknown identifiers
            return _xml(self._descriptions(tuple(parsed.identifiers), language))
        return self._execute(parsed, language)

    def _execute(self, parsed: Execute, language: str) -> Response:
        url = self.service_url()
        output_url = self.service.settings.output_url or url + "/outputs/"
        if parsed.store:
            job = self.service.submit(parsed, url, output_url, language)
            result = self.service.job_result(job)
            result.status_location = self.status_location(url, job.id)
            document = encode.execute_response(result, self.service_instance(url), language)
            return _xml(to_bytes(document))
        result = self.service.execute(parsed, output_url)
        if parsed.raw:
            return _raw_response(result)
        document = encode.execute_response(result, self.service_instance(url), language)
        return _xml(to_bytes(document))

    def job_status(self, job_id: str) -> Response:
        """The stored execute response of a job, built from its record on every request so
        that it is never stale."""
        job = self.service.get_job(job_id)
        if job is None:
            raise NoApplicableCode(f"No job {job_id!r}; it may have expired", "jobId",
                                   status=404)
        result = self.service.job_result(job)
        result.status_location = self.status_location(job.service_url, job.id)
        document = encode.execute_response(result, self.service_instance(job.service_url),
                                           job.language)
        return _xml(to_bytes(document))

    # ------------------------------------------------------------ helpers

    def service_url(self) -> str:
        return self.service.settings.url or request.base_url

    @staticmethod
    def service_instance(url: str) -> str:
        return url + "?service=WPS&request=GetCapabilities"

    @staticmethod
    def status_location(url: str, job_id: str) -> str:
        return f"{url}/jobs/{job_id}"

    def _check_update_sequence(self, requested: str | None) -> None:
        ours = self.update_sequence
        # Ordering is only defined when both sides are numbers (OWS 1.1 table 6).
        if requested and requested.isdigit() and ours.isdigit() and int(requested) > int(ours):
            raise InvalidUpdateSequence(
                f"updateSequence {requested} is newer than the server's {ours}", "updateSequence"
            )

    def _build_capabilities(self, url: str, language: str) -> bytes:
        service = self.service
        document = encode.capabilities(
            service.settings.metadata,
            list(service.registry),
            url,
            language,
            service.settings.languages,
            self.update_sequence,
        )
        return to_bytes(document)

    def _build_descriptions(self, identifiers: tuple[str, ...], language: str) -> bytes:
        processes = self.service.describe(identifiers)
        return to_bytes(encode.process_descriptions(processes, language,
                                                    self.service.supports_jobs))


def _xml(body: bytes) -> Response:
    return Response(body, content_type=XML_TYPE)


def _raw_response(result: ExecuteResult) -> Response:
    if result.error is not None:
        return wps_error_response(result.error)
    value = result.outputs[0]
    if value.bbox is not None:
        return _xml(to_bytes(encode.bounding_box(value.bbox)))
    if value.text is not None:
        return Response(value.text, content_type="text/plain; charset=utf-8")
    fmt = value.selected.format
    assert fmt is not None and value.data is not None
    return Response(value.data, content_type=fmt.content_type)


