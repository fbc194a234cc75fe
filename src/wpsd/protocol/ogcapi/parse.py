"""Parse OGC API - Processes execute requests (execute.yaml) into the version-neutral model."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ...datatypes.crs import CRS84
from ...datatypes.inputs import BoundingBoxInput, ComplexInput, Input
from ...datatypes.values import BoundingBox
from ...exceptions import InvalidParameterValue, NoSuchInput, TooManyInputs, WrongInputData
from ...processes.process import Process
from ..requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    DataValue,
    Execute,
    LiteralData,
    OutputRequest,
    ReferenceData,
)

_MEMBERS = {"inputs", "outputs", "response", "subscriber"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def wants_async(prefer: str | None) -> bool:
    """Whether a Prefer header (RFC 7240) asks for respond-async."""
    return any(p.strip().split(";")[0].strip().lower() == "respond-async"
               for p in (prefer or "").split(","))


def parse_execute(body: bytes, process: Process, schemes: Sequence[str] = ("http", "https")
                  ) -> Execute:
    try:
        document = json.loads(body or b"{}")
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidParameterValue(f"The execute request is not JSON: {reason}",
                                    "body") from None
    if _has_lone_surrogate(document):
        raise InvalidParameterValue("The execute request holds a lone surrogate (a \\uD800 "
                                    "to \\uDFFF escape that is not half of a pair)", "body")
    if not isinstance(document, dict):
        raise InvalidParameterValue("The execute request must be a JSON object", "body")
    unknown = set(document) - _MEMBERS
    if unknown:
        raise InvalidParameterValue(
            f"Unknown members of the execute request: {', '.join(sorted(unknown))}", "body")
    inputs = document.get("inputs", {})
    outputs = document.get("outputs", {})
    response = document.get("response", "raw")
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise InvalidParameterValue("inputs and outputs must be JSON objects", "body")
    if response not in ("raw", "document"):
        raise InvalidParameterValue("response must be raw or document", "response")
    data_inputs: list[DataInput] = []
    for ident, value in inputs.items():
        declared = process.input(ident)
        if declared is None:
            raise NoSuchInput(f"Process {process.identifier!r} has no input {ident!r}", ident)
        values = value if isinstance(value, list) and declared.max_occurs > 1 else [value]
        if len(values) > declared.max_occurs:  # before building a value for each
            raise TooManyInputs(
                f"Input {ident!r} may occur at most {declared.max_occurs} times", ident)
        data_inputs.extend(DataInput(ident, _value(declared, v)) for v in values)
    requested = []
    for ident, spec in outputs.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise InvalidParameterValue(f"Output {ident!r} must be described by an object", ident)
        fmt = spec.get("format") or {}
        if not isinstance(fmt, dict) or not all(
                isinstance(fmt.get(k, ""), str) for k in ("mediaType", "encoding", "schema")):
            raise InvalidParameterValue(f"Output {ident!r}: format must be an object of strings",
                                        ident)
        mode = spec.get("transmissionMode", "value")
        if mode not in ("value", "reference"):
            raise InvalidParameterValue("transmissionMode must be value or reference", ident)
        requested.append(OutputRequest(ident, mode == "reference", fmt.get("mediaType"),
                                       fmt.get("encoding"), fmt.get("schema")))
    return Execute(
        identifier=process.identifier,
        version="ogcapi",
        inputs=tuple(data_inputs),
        outputs=tuple(requested),
        raw=response == "raw",
        subscriber=_subscriber(document.get("subscriber"), schemes),
    )


def _has_lone_surrogate(document: Any) -> bool:
    """Whether a string of the document holds a lone surrogate.

    JSON escapes can spell one (``"\\ud800"``) but UTF-8 cannot encode it, so a value holding
    one could never be written into a response or a job record. The walk is iterative: the
    document may be nested as deeply as the JSON parser allows.
    """
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            pending.extend(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


_CALLBACKS = ("successUri", "inProgressUri", "failedUri")
#: members of an input value that must be strings (a "schema" may also be an object)
_QUALIFIERS = ("href", "type", "mediaType", "encoding", "uom", "rel", "title", "hreflang")


def _subscriber(value: Any, schemes: Sequence[str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or set(value) - set(_CALLBACKS) or not all(
            isinstance(v, str) for v in value.values()):
        raise InvalidParameterValue(
            "subscriber takes successUri, inProgressUri and failedUri (strings)", "subscriber")
    for uri in value.values():
        try:
            parts = urlsplit(uri)
        except ValueError:  # a malformed IPv6 literal and the like
            parts = None
        if parts is None or parts.scheme.lower() not in schemes or not parts.netloc:
            raise InvalidParameterValue(f"Callback {uri!r} is not an allowed URL", "subscriber")
    return tuple((key, value[key]) for key in _CALLBACKS if key in value)


def _value(declared: Input, value: Any) -> DataValue:
    ident = declared.identifier
    if isinstance(value, dict):
        # Qualifiers are strings wherever they appear (inlineOrRefData.yaml, qualifiedValue.yaml).
        wrong = [k for k in _QUALIFIERS if k in value and not isinstance(value[k], str)]
        if wrong:
            raise WrongInputData(f"Input {ident!r}: {', '.join(wrong)} must be a string", ident)
    if isinstance(value, dict) and "href" in value:
        return ReferenceData(value["href"],
                             mime_type=value.get("type") or value.get("mediaType"))
    if isinstance(declared, BoundingBoxInput):
        if not isinstance(value, dict) or not isinstance(value.get("bbox"), list):
            raise WrongInputData(f"Input {ident!r} takes {{\"bbox\": [...], \"crs\": ...}}",
                                 ident)
        try:
            return BoundingBoxData(BoundingBox.from_values(
                [float(v) for v in value["bbox"]], str(value.get("crs") or CRS84)))
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: float(10**400)
            raise WrongInputData(f"Input {ident!r}: {exc}", ident) from None
    if isinstance(declared, ComplexInput):
        return _complex(declared, value)
    uom = None
    if isinstance(value, dict):
        if "value" not in value:
            raise WrongInputData(f"Input {ident!r} takes a literal value", ident)
        value, uom = value["value"], value.get("uom")
    if isinstance(value, dict | list) or value is None:
        raise WrongInputData(f"Input {ident!r} takes one literal value", ident)
    return LiteralData(_text(value), uom=uom if isinstance(uom, str) else None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _complex(declared: ComplexInput, value: Any) -> ComplexData:
    ident = declared.identifier
    media_type = encoding = schema = None
    if isinstance(value, dict) and ("value" in value or "mediaType" in value
                                    or "/" in str(value.get("type", ""))):
        # a qualified value: {"value": ..., "mediaType": ..., "encoding": ..., "schema": ...}
        if "value" not in value:
            raise WrongInputData(f"Input {ident!r}: a qualified value needs 'value'", ident)
        media_type = value.get("mediaType") or value.get("type")
        encoding = value.get("encoding")
        schema = value.get("schema")
        schema = schema if isinstance(schema, str) else None  # an inline JSON schema: no match key
        value = value["value"]
    if isinstance(value, dict | list):
        data = json.dumps(value).encode("utf-8")
        if media_type is None:
            json_formats = [f for f in declared.formats if f.is_json]
            media_type = json_formats[0].mime_type if json_formats else "application/json"
    elif isinstance(value, str):
        data = value.encode("utf-8")
        if (encoding or "").lower() == "base64":
            try:
                data = base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                raise WrongInputData(f"Input {ident!r} is not valid base64", ident) from None
    else:
        raise WrongInputData(f"Input {ident!r} takes a document", ident)
    return ComplexData(data, media_type, encoding, schema,
                       is_xml=isinstance(value, str) and value.lstrip().startswith("<"))
