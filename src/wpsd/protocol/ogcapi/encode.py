"""OGC API - Processes - Part 1: Core 1.0 (OGC 18-062r2) JSON documents, as plain dicts."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from ...core.job import Job, JobStatus
from ...core.results import OutputValue
from ...datatypes.crs import CRS84, CRS84H, crs_code, crs_uri
from ...datatypes.inputs import BoundingBoxInput, ComplexInput, Input, LiteralInput
from ...datatypes.literals import LiteralDomain, RangeClosure
from ...datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput, Output
from ...exceptions import WPSError
from ...formats import Format
from ...processes.process import Process

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONF = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
CONFORMANCE = [CONF + name for name in (
    "core", "ogc-process-description", "json", "html", "oas30", "job-list", "callback",
    "dismiss")]
#: the statusCode names of job states
STATUS_CODES = {
    JobStatus.ACCEPTED: "accepted",
    JobStatus.RUNNING: "running",
    JobStatus.SUCCEEDED: "successful",
    JobStatus.FAILED: "failed",
    JobStatus.DISMISSED: "dismissed",
}
_INTEGERS = {"integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
             "nonPositiveInteger", "negativeInteger", "unsignedInt"}
_NUMBERS = {"float", "double", "decimal"}
_STRING_FORMATS = {"date": "date", "dateTime": "date-time", "time": "time", "anyURI": "uri"}


def link(href: str, rel: str, type_: str = "application/json", title: str = "") -> dict[str, str]:
    item = {"href": href, "rel": rel, "type": type_}
    if title:
        item["title"] = title
    return item


def landing_page(base: str, title: str, description: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "links": [
            link(f"{base}/", "self", title="This document"),
            link(f"{base}/api", "service-desc", "application/vnd.oai.openapi+json;version=3.0",
                 "The API definition"),
            link(f"{base}/conformance", REL + "conformance", title="Conformance classes"),
            link(f"{base}/processes", REL + "processes", title="Processes"),
            link(f"{base}/jobs", REL + "job-list", title="Jobs"),
            link(f"{base}/wps?service=WPS&request=GetCapabilities", "alternate",
                 "application/xml", "WPS capabilities"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def job_control(jobs: bool) -> list[str]:
    return ["sync-execute", "async-execute", "dismiss"] if jobs else ["sync-execute"]


def process_summary(process: Process, base: str, jobs: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "id": process.identifier,
        "title": process.title,
        "version": process.version,
        "jobControlOptions": job_control(jobs),
        "outputTransmission": ["value", "reference"],
        "links": [
            link(f"{base}/processes/{process.identifier}", "self", title="Process description"),
            link(f"{base}/processes/{process.identifier}/execution", REL + "execute",
                 title="Execute"),
        ],
    }
    if process.abstract:
        summary["description"] = process.abstract
    if process.keywords:
        summary["keywords"] = list(process.keywords)
    if process.metadata:
        summary["metadata"] = [{"title": t, "href": h} for t, h in process.metadata]
    return summary


def process_description(process: Process, base: str, jobs: bool) -> dict[str, Any]:
    document = process_summary(process, base, jobs)
    document["inputs"] = {i.identifier: _input(i) for i in process.inputs}
    document["outputs"] = {o.identifier: _output(o) for o in process.outputs}
    return document


def _described(declared: Input | Output) -> dict[str, Any]:
    item: dict[str, Any] = {"title": declared.title}
    if declared.abstract:
        item["description"] = declared.abstract
    if declared.keywords:
        item["keywords"] = list(declared.keywords)
    return item


def _input(declared: Input) -> dict[str, Any]:
    item = _described(declared)
    item["schema"] = schema(declared)
    item["minOccurs"] = declared.min_occurs
    item["maxOccurs"] = declared.max_occurs
    return item


def _output(declared: Output) -> dict[str, Any]:
    item = _described(declared)
    item["schema"] = schema(declared)
    return item


def schema(declared: Input | Output) -> dict[str, Any]:
    """The JSON schema (OpenAPI 3.0 flavour) of one value of an input or output."""
    if isinstance(declared, LiteralInput):
        return literal_schema(declared.domain, declared.default)
    if isinstance(declared, LiteralOutput):
        return literal_schema(declared.domain)
    if isinstance(declared, ComplexInput | ComplexOutput):
        schemas = [_format_schema(f) for f in declared.formats]
        return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    assert isinstance(declared, BoundingBoxInput | BoundingBoxOutput)
    # CITE reads the format from the first member of allOf, so it comes first.
    return {"allOf": [
        {"format": "ogc-bbox"},
        {"type": "object", "required": ["bbox"], "properties": {
            "bbox": {"type": "array", "items": {"type": "number"},
                     "minItems": 2 * declared.dimensions, "maxItems": 2 * declared.dimensions},
            "crs": {"type": "string", "format": "uri", "default": CRS84},
        }},
    ]}


def literal_schema(domain: LiteralDomain, default: object = None) -> dict[str, Any]:
    name = domain.data_type.name
    result: dict[str, Any]
    if name in _INTEGERS:
        result = {"type": "integer"}
    elif name in _NUMBERS:
        result = {"type": "number"}
    elif name == "boolean":
        result = {"type": "boolean"}
    elif name in _STRING_FORMATS:
        result = {"type": "string", "format": _STRING_FORMATS[name]}
    else:
        result = {"type": "string"}
    allowed = domain.allowed_values
    if allowed is not None:
        if allowed.values:
            result["enum"] = [json_value(name, domain.data_type.format(v)) for v in allowed.values]
        if len(allowed.ranges) == 1 and not allowed.values:
            rng = allowed.ranges[0]
            if rng.minimum is not None:
                result["minimum"] = rng.minimum
                if rng.closure in (RangeClosure.OPEN, RangeClosure.OPEN_CLOSED):
                    result["exclusiveMinimum"] = True
            if rng.maximum is not None:
                result["maximum"] = rng.maximum
                if rng.closure in (RangeClosure.OPEN, RangeClosure.CLOSED_OPEN):
                    result["exclusiveMaximum"] = True
    if default is not None:
        result["default"] = json_value(name, domain.data_type.format(default))
    return result


def _format_schema(fmt: Format) -> dict[str, Any]:
    if fmt.is_json:
        found: dict[str, Any] = {"type": "object", "contentMediaType": fmt.mime_type}
    elif fmt.is_base64 or not fmt.is_text:
        found = {"type": "string", "contentEncoding": "base64",
                 "contentMediaType": fmt.mime_type}
    else:
        found = {"type": "string", "contentMediaType": fmt.mime_type}
    if fmt.schema:  # e.g. the GML schema of a text/xml format (18-062's schema.yaml has it)
        found["contentSchema"] = fmt.schema
    return found


def json_value(type_name: str, text: str) -> Any:
    """A literal's text as the JSON value of its type."""
    try:
        if type_name in _INTEGERS:
            return int(text)
        if type_name in _NUMBERS:
            return float(text)
    except ValueError:
        return text
    if type_name == "boolean":
        return text == "true"
    return text


# ---------------------------------------------------------------- jobs


def _stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def status_info(job: Job, base: str, status: JobStatus | None = None) -> dict[str, Any]:
    state = status or job.status
    info: dict[str, Any] = {
        "jobID": job.id,
        "processID": job.process_id,
        "type": "process",
        "status": STATUS_CODES[state],
        "message": job.message,
        "progress": 100 if state is JobStatus.SUCCEEDED else max(0, min(job.progress, 100)),
        "links": [
            link(f"{base}/jobs/{job.id}", "self", title="Job status"),
            link(f"{base}/jobs/{job.id}", "monitor", title="Job status"),
            link(f"{base}/jobs/{job.id}/log", "log", "text/plain",
                 title="What the process logged"),
        ],
    }
    for key, value in (("created", job.created), ("started", job.started),
                       ("finished", job.finished), ("updated", job.updated)):
        if value is not None:
            info[key] = _stamp(value)
    if state is JobStatus.SUCCEEDED:
        info["links"].append(link(f"{base}/jobs/{job.id}/results", REL + "results",
                                  title="Results"))
    return info


def job_list(jobs: Sequence[Job], base: str, links: list[dict[str, str]]) -> dict[str, Any]:
    return {"jobs": [status_info(j, base) for j in jobs], "links": links}


def output_value(value: OutputValue) -> Any:
    """One output in a results document (results.yaml / inlineOrRefData.yaml)."""
    fmt = value.selected.format
    if value.href is not None:
        return {"href": value.href, "type": (fmt.mime_type if fmt else "text/plain")}
    if value.text is not None:
        output = value.selected.output
        name = output.domain.data_type.name if isinstance(output, LiteralOutput) else "string"
        return json_value(name, value.text)
    if value.bbox is not None:
        return bbox_value(value)
    assert value.data is not None and fmt is not None
    if fmt.is_json:
        try:
            return {"value": json.loads(value.data), "mediaType": fmt.mime_type}
        except ValueError:
            pass
    if fmt.is_text and not fmt.is_base64:
        try:
            return {"value": value.data.decode(fmt.encoding or "utf-8"),
                    "mediaType": fmt.mime_type}
        except (UnicodeDecodeError, LookupError):
            pass
    return {"value": base64.b64encode(value.data).decode("ascii"), "mediaType": fmt.mime_type,
            "encoding": "base64"}


def bbox_value(value: OutputValue) -> dict[str, Any]:
    """A bounding box as bbox.yaml has it: in CRS84 (longitude first) where that is only a
    change of axis order (EPSG:4326, latitude first, is swapped), else in the box's own CRS
    as a URI (bbox.yaml lists only CRS84 and CRS84h, so those do not validate against it)."""
    assert value.bbox is not None
    box = value.bbox
    code = crs_code(box.crs or CRS84)
    if code == "EPSG:4326" and box.dimensions == 2:
        return {"bbox": [box.lower[1], box.lower[0], box.upper[1], box.upper[0]], "crs": CRS84}
    if code in ("OGC:CRS84", "OGC:CRS84H"):
        return {"bbox": [*box.lower, *box.upper], "crs": CRS84 if code == "OGC:CRS84" else CRS84H}
    return {"bbox": [*box.lower, *box.upper], "crs": crs_uri(box.crs or CRS84)}


def results(values: Sequence[OutputValue]) -> dict[str, Any]:
    return {v.identifier: output_value(v) for v in values}


# ---------------------------------------------------------------- errors


def error_status_and_type(error: WPSError) -> tuple[int, str]:
    """The HTTP status and exception type of an error (18-062r2 table 10 and RFC 7807)."""
    code = error.code2
    if code == "NoSuchProcess":
        return 404, EXCEPTIONS + "no-such-process"
    if code == "NoSuchJob":
        return 404, EXCEPTIONS + "no-such-job"
    if code == "ResultNotReady":
        return 404, EXCEPTIONS + "result-not-ready"
    return error.status, "about:blank"


def exception(error: WPSError, instance: str | None = None) -> dict[str, Any]:
    status, type_ = error_status_and_type(error)
    document: dict[str, Any] = {"type": type_, "title": error.code2, "status": status,
                                "detail": error.text}
    if instance:
        document["instance"] = instance
    return document
