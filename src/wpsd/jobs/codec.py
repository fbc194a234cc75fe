"""JSON encodings of what a job record holds: the request and the produced outputs."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence
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
from ..results import OutputValue, SelectedOutput


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


def dump_request(request: Execute) -> bytes:
    return json.dumps({
        "identifier": request.identifier,
        "version": request.version,
        "inputs": [{"identifier": i.identifier, "value": _value(i.value)} for i in request.inputs],
        "outputs": [vars(o) for o in request.outputs],
        "raw": request.raw,
        "lineage": request.lineage,
        "status": request.status,
        "store": request.store,
        "mode": request.mode,
        "subscriber": [list(pair) for pair in request.subscriber],
        "language": request.language,
    }).encode("utf-8")


def load_request(blob: bytes) -> Execute:
    data = json.loads(blob)
    data["inputs"] = tuple(DataInput(i["identifier"], _unvalue(i["value"])) for i in data["inputs"])
    data["outputs"] = tuple(OutputRequest(**o) for o in data["outputs"])
    data["subscriber"] = tuple(tuple(pair) for pair in data.get("subscriber", ()))
    return Execute(**data)


def dump_outputs(values: Sequence[OutputValue]) -> list[dict[str, Any]]:
    return [
        {"identifier": v.identifier, "text": v.text, "data": _b64(v.data),
         "bbox": _bbox(v.bbox) if v.bbox else None, "href": v.href,
         "format": vars(v.selected.format) if v.selected.format else None}
        for v in values
    ]


def load_outputs(
    stored: Sequence[dict[str, Any]], selected: Sequence[SelectedOutput]
) -> list[OutputValue]:
    """Rebuild output values, pairing each with the selection it was produced for."""
    by_id = {s.output.identifier: s for s in selected}
    return [
        OutputValue(
            # The format the output was produced in, which the handler may have chosen.
            dataclasses.replace(by_id[item["identifier"]], format=Format(**item["format"]))
            if item.get("format") else by_id[item["identifier"]],
            text=item["text"],
            data=_unb64(item["data"]),
            bbox=_unbbox(item["bbox"]) if item["bbox"] else None,
            href=item["href"],
        )
        for item in stored
        if item["identifier"] in by_id
    ]
