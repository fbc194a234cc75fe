"""The one JSON encoding of what crosses a process boundary or lands in the job store.

Execution requests and outcomes travel to worker processes in it, and job records keep the
client's request and the outcome in it, so a job written by one node is read by any other.
Binary data is base64; declarations never travel (each side has the processes).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..datatypes.values import BoundingBox
from ..formats import Format
from ..protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    DataValue,
    Execute,
    LiteralData,
    OutputRequest,
    ReferenceData,
)
from .execution import ExecutionRequest, Outcome, ProducedOutput
from .job import JobError


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _bbox(bbox: BoundingBox) -> dict[str, Any]:
    return {"lower": list(bbox.lower), "upper": list(bbox.upper), "crs": bbox.crs}


def _unbbox(data: dict[str, Any]) -> BoundingBox:
    return BoundingBox(tuple(data["lower"]), tuple(data["upper"]), data["crs"])


def _value(value: DataValue) -> dict[str, Any]:
    if isinstance(value, LiteralData):
        return {"kind": "literal", "text": value.text, "uom": value.uom,
                "data_type": value.data_type}
    if isinstance(value, ComplexData):
        return {"kind": "complex", "data": _b64(value.data), "mime_type": value.mime_type,
                "encoding": value.encoding, "schema": value.schema, "is_xml": value.is_xml}
    if isinstance(value, ReferenceData):
        return {"kind": "reference", "href": value.href, "method": value.method,
                "headers": [list(h) for h in value.headers], "body": _b64(value.body),
                "body_reference": value.body_reference, "mime_type": value.mime_type,
                "encoding": value.encoding, "schema": value.schema}
    return {"kind": "bbox", "bbox": _bbox(value.bbox)}


def _unvalue(data: dict[str, Any]) -> DataValue:
    data = dict(data)
    kind = data.pop("kind")
    if kind == "literal":
        return LiteralData(**data)
    if kind == "complex":
        data["data"] = _unb64(data["data"])
        return ComplexData(**data)
    if kind == "reference":
        data["headers"] = tuple(tuple(h) for h in data["headers"])
        data["body"] = _unb64(data["body"])
        return ReferenceData(**data)
    return BoundingBoxData(_unbbox(data["bbox"]))


def _inputs(inputs: Any) -> list[dict[str, Any]]:
    return [{"identifier": i.identifier, "value": _value(i.value)} for i in inputs]


def _uninputs(data: list[dict[str, Any]]) -> tuple[DataInput, ...]:
    return tuple(DataInput(i["identifier"], _unvalue(i["value"])) for i in data)


# ---------------------------------------------------------------- the client's request


def dump_execute(request: Execute) -> bytes:
    return json.dumps({
        "identifier": request.identifier,
        "version": request.version,
        "inputs": _inputs(request.inputs),
        "outputs": [vars(o) for o in request.outputs],
        "raw": request.raw,
        "lineage": request.lineage,
        "status": request.status,
        "store": request.store,
        "mode": request.mode,
        "subscriber": [list(pair) for pair in request.subscriber],
        "language": request.language,
    }).encode("utf-8")


def load_execute(blob: bytes) -> Execute:
    data = json.loads(blob)
    data["inputs"] = _uninputs(data["inputs"])
    data["outputs"] = tuple(OutputRequest(**o) for o in data["outputs"])
    data["subscriber"] = tuple(tuple(pair) for pair in data.get("subscriber", ()))
    return Execute(**data)


# ---------------------------------------------------------------- executions


def request_to_json(request: ExecutionRequest) -> dict[str, Any]:
    return {"job_id": request.job_id, "process_id": request.process_id,
            "inputs": _inputs(request.inputs), "outputs": [vars(o) for o in request.outputs],
            "output_url": request.output_url}


def request_from_json(data: dict[str, Any]) -> ExecutionRequest:
    return ExecutionRequest(data["job_id"], data["process_id"], _uninputs(data["inputs"]),
                            tuple(OutputRequest(**o) for o in data["outputs"]),
                            output_url=data.get("output_url", ""))


def outputs_to_json(outputs: tuple[ProducedOutput, ...]) -> list[dict[str, Any]]:
    return [{"identifier": o.identifier, "text": o.text, "data": _b64(o.data),
             "bbox": _bbox(o.bbox) if o.bbox else None, "key": o.key,
             "format": vars(o.format) if o.format else None} for o in outputs]


def outputs_from_json(data: list[dict[str, Any]]) -> tuple[ProducedOutput, ...]:
    return tuple(
        ProducedOutput(o["identifier"], text=o["text"], data=_unb64(o["data"]),
                       bbox=_unbbox(o["bbox"]) if o["bbox"] else None, key=o.get("key"),
                       format=Format(**o["format"]) if o.get("format") else None)
        for o in data)


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    return {"outputs": outputs_to_json(outcome.outputs),
            "error": vars(outcome.error) if outcome.error else None,
            "rejected": outcome.rejected}


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    error = data.get("error")
    return Outcome(outputs_from_json(data.get("outputs") or []),
                   JobError(**error) if error else None, bool(data.get("rejected")))
