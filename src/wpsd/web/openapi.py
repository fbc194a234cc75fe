"""The OpenAPI 3.0 document of this server: its paths, and each process's execute request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.service import Service
from ..processes.process import Process
from ..protocol.ogcapi import encode

#: the largest offset into the process and job lists (see web/ogcapi.py)
MAX_OFFSET = 10**9
#: page sizes of /processes and /jobs: a larger limit is served with the maximum
DEFAULT_LIMIT = 10
MAX_PROCESSES_LIMIT = 10000
MAX_JOBS_LIMIT = 1000

_LINK = {"type": "object", "required": ["href"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
    "title": {"type": "string"}}}
_LINKS = {"type": "array", "items": _LINK}
_EXCEPTION = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}}}
_STATUS_CODES = {"type": "string",
                 "enum": ["accepted", "running", "successful", "failed", "dismissed"]}
_STATUS_INFO: dict[str, Any] = {"type": "object", "required": ["jobID", "status", "type"],
                                "properties": {
    "jobID": {"type": "string"}, "processID": {"type": "string"},
    "type": {"type": "string", "enum": ["process"]},
    "status": _STATUS_CODES,
    "message": {"type": "string"}, "progress": {"type": "integer", "minimum": 0,
                                                "maximum": 100},
    "created": {"type": "string", "format": "date-time"},
    "started": {"type": "string", "format": "date-time"},
    "finished": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"},
    "links": _LINKS}}
_JSON_ERRORS = {
    str(code): {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/exception"}}}}
    for code, text in ((400, "Bad request"), (404, "Not found"), (500, "Server error"),
                       (503, "Busy"))}


def _oas30(schema: Any) -> Any:
    """A process description's JSON schema as an OpenAPI 3.0 schema object, which knows no
    contentMediaType, contentEncoding or contentSchema (base64 is its ``format: byte``)."""
    if isinstance(schema, list):
        return [_oas30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: _oas30(v) for k, v in schema.items()
                 if k not in ("contentMediaType", "contentEncoding", "contentSchema")}
    if schema.get("contentEncoding") == "base64":
        converted["format"] = "byte"
    return converted


def _limit(maximum: int) -> dict[str, Any]:
    return {"name": "limit", "in": "query",
            "description": f"Page size; a limit above {maximum} is served as {maximum}",
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum,
                       "default": DEFAULT_LIMIT}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _execute_body(process: Process) -> dict[str, Any]:
    properties = {}
    for declared in process.inputs:
        one = _oas30(encode.schema(declared))
        qualified = {"type": "object", "required": ["value"], "properties": {"value": {}}}
        reference = {"type": "object", "required": ["href"],
                     "properties": {"href": {"type": "string"}}}
        choices = [one, qualified, reference]
        if declared.max_occurs > 1:
            choices.append({"type": "array", "items": one, "maxItems": declared.max_occurs})
        properties[declared.identifier] = {"oneOf": choices}
    required = [i.identifier for i in process.inputs if i.min_occurs > 0
                and getattr(i, "default", None) is None]
    inputs: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        inputs["required"] = required
    outputs = {"type": "object", "additionalProperties": False, "properties": {
        o.identifier: {"type": "object", "additionalProperties": False, "properties": {
            "transmissionMode": {"type": "string", "enum": ["value", "reference"]},
            "format": {"type": "object", "additionalProperties": False, "properties": {
                "mediaType": {"type": "string"}, "encoding": {"type": "string"},
                "schema": {"type": "string"}}}}}
        for o in process.outputs}}
    body: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
        "inputs": inputs, "outputs": outputs,
        "response": {"type": "string", "enum": ["raw", "document"]},
        "subscriber": {"type": "object", "additionalProperties": False, "properties": {
            name: {"type": "string", "format": "uri", "pattern": "^https?://[^/]+"}
            for name in ("successUri", "inProgressUri", "failedUri")}}}}
    if required:
        body["required"] = ["inputs"]
    return body


def openapi_document(service: Service, base: str, processes: Sequence[Process]
                     ) -> dict[str, Any]:
    """The document of the server, with the paths of ``processes`` (those the caller may
    use)."""
    meta = service.settings.metadata
    ids = [p.identifier for p in processes]
    paths: dict[str, Any] = {
        "/": {"get": {"operationId": "getLandingPage", "summary": "Landing page",
                      "responses": {"200": _json({"type": "object", "required": ["links"],
                                                  "properties": {"links": _LINKS}})}}},
        "/conformance": {"get": {"operationId": "getConformanceClasses",
                                 "summary": "Conformance classes",
                                 "responses": {"200": _json({
                                     "type": "object", "required": ["conformsTo"],
                                     "properties": {"conformsTo": {
                                         "type": "array", "items": {"type": "string"}}}})}}},
        "/processes": {"get": {
            "operationId": "getProcesses", "summary": "The processes",
            "parameters": [
                _limit(MAX_PROCESSES_LIMIT),
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                             "maximum": MAX_OFFSET}},
            ],
            "responses": {"200": _json({"type": "object", "required": ["processes", "links"],
                                        "properties": {"processes": {"type": "array"},
                                                       "links": _LINKS}}),
                          "400": _JSON_ERRORS["400"]}}},
        "/processes/{processID}": {"get": {
            "operationId": "getProcessDescription", "summary": "A process description",
            "parameters": [{"name": "processID", "in": "path", "required": True,
                            "schema": {"type": "string", **({"enum": ids} if ids else {})}}],
            "responses": {"200": _json({"type": "object", "required": ["id", "version"]}),
                          "404": _JSON_ERRORS["404"]}}},
        "/jobs": {"get": {
            "operationId": "getJobs", "summary": "The jobs",
            "parameters": [
                _limit(MAX_JOBS_LIMIT),
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                             "maximum": MAX_OFFSET}},
                {"name": "processID", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": _STATUS_CODES},
            ],
            "responses": {"200": _json({"type": "object", "required": ["jobs", "links"],
                                        "properties": {"jobs": {"type": "array",
                                                                "items": _STATUS_INFO},
                                                       "links": _LINKS}}),
                          "400": _JSON_ERRORS["400"]}}},
        "/jobs/{jobID}": {
            "parameters": [{"name": "jobID", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"operationId": "getStatus", "summary": "A job's status",
                    "responses": {"200": _json(_STATUS_INFO), "404": _JSON_ERRORS["404"]}},
            "delete": {"operationId": "dismiss", "summary": "Dismiss a job",
                       "responses": {"200": _json(_STATUS_INFO), "404": _JSON_ERRORS["404"]}}},
        "/jobs/{jobID}/results": {"get": {
            "operationId": "getResult", "summary": "A job's results",
            "parameters": [{"name": "jobID", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The results"},
                          "204": {"description": "Results by reference (Link headers)"},
                          **{k: v for k, v in _JSON_ERRORS.items() if k in ("404", "500")}}}},
    }
    for process in processes:
        paths[f"/processes/{process.identifier}/execution"] = {"post": {
            "operationId": f"execute_{process.identifier}",
            "summary": f"Execute {process.title}",
            "parameters": [{"name": "Prefer", "in": "header", "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _execute_body(process)}}},
            "responses": {
                "200": {"description": "Results (document, raw value or multipart)"},
                "201": _json(_STATUS_INFO, "Job created"),
                "204": {"description": "Results by reference (Link headers)"},
                **_JSON_ERRORS}}}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": meta.title, "description": meta.abstract, "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"schemas": {"exception": _EXCEPTION}},
    }
    if service.settings.auth in ("tokens", "oidc"):
        document["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            **({"bearerFormat": "JWT"} if service.settings.auth == "oidc" else {})}}
        document["security"] = [{"bearer": []}]
    return document
