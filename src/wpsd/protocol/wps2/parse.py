"""Parse WPS 2.0.0 requests (OGC 14-065): KVP for all but Execute, XML POST for all."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from lxml import etree

from ...datatypes.inputs import BoundingBoxInput, ComplexInput
from ...datatypes.values import BoundingBox
from ...exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    NoSuchMode,
    OperationNotSupported,
    WrongInputData,
)
from ...processes.process import Process
from ..ows import check_service
from ..requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    DataValue,
    DescribeProcess,
    Dismiss,
    Execute,
    GetCapabilities,
    GetResult,
    GetStatus,
    LiteralData,
    OutputRequest,
    ReferenceData,
    Request,
)
from ..wps1.parse import ProcessLookup
from ..xml import NS_OWS20, NS_WPS20, fragment_bytes, qname, xlink

VERSION = "2.0.0"
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute", "GetStatus", "GetResult",
              "Dismiss")
_W = NS_WPS20
_O = NS_OWS20
_JOB_REQUESTS: dict[str, type[GetStatus] | type[GetResult] | type[Dismiss]] = {
    "GetStatus": GetStatus, "GetResult": GetResult, "Dismiss": Dismiss}


def parse_kvp(operation: str, params: Mapping[str, str]) -> Request:
    """A WPS 2.0 KVP request whose service and request parameters were already checked."""
    language = params.get("lang") or params.get("language") or None
    if operation == "GetCapabilities":
        versions = params.get("acceptversions") or params.get("version") or ""
        return GetCapabilities(tuple(v.strip() for v in versions.split(",") if v.strip()),
                               language, params.get("updatesequence") or None)
    if operation == "Execute":
        raise OperationNotSupported("WPS 2.0 Execute is sent as XML by HTTP POST", "Execute")
    if operation == "DescribeProcess":
        identifier = params.get("identifier")
        if not identifier:
            raise MissingParameterValue("Parameter 'identifier' is missing", "identifier")
        identifiers = tuple(i.strip() for i in identifier.split(",") if i.strip())
        return DescribeProcess(identifiers, VERSION, language)
    job_id = params.get("jobid")
    if not job_id:
        raise MissingParameterValue("Parameter 'jobId' is missing", "jobId")
    return _JOB_REQUESTS[operation](job_id)


def parse_xml_request(root: etree._Element, lookup: ProcessLookup) -> Request:
    operation = etree.QName(root).localname
    if operation not in OPERATIONS:
        raise OperationNotSupported(f"Operation {operation!r} is not supported", operation)
    check_service(root.get("service"))
    language = root.get("{http://www.w3.org/XML/1998/namespace}lang") or None
    if operation == "GetCapabilities":
        versions = root.findall(f"{{{_O}}}AcceptVersions/{{{_O}}}Version")
        return GetCapabilities(tuple((v.text or "").strip() for v in versions), language,
                               root.get("updateSequence"))
    version = root.get("version")
    if not version:
        raise MissingParameterValue("Attribute 'version' is missing", "version")
    if version != VERSION:
        raise InvalidParameterValue(f"Version {version!r} is not supported here", "version")
    if operation == "DescribeProcess":
        identifiers = tuple(_text(e) for e in root.findall(qname(_O, "Identifier")))
        if not any(identifiers):
            raise MissingParameterValue("No process identifier given", "identifier")
        return DescribeProcess(identifiers, VERSION, language)
    if operation in ("GetStatus", "GetResult", "Dismiss"):
        job_id = _text(root.find(qname(_W, "JobID")))
        if not job_id:
            raise MissingParameterValue("No JobID given", "JobID")
        return _JOB_REQUESTS[operation](job_id)
    return _parse_execute(root, lookup, language)


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _parse_execute(root: etree._Element, lookup: ProcessLookup, language: str | None
                   ) -> Execute:
    identifier = _text(root.find(qname(_O, "Identifier")))
    if not identifier:
        raise MissingParameterValue("No process identifier given", "identifier")
    mode = root.get("mode")
    response = root.get("response")
    if not mode:
        raise MissingParameterValue("Attribute 'mode' is missing", "mode")
    if mode not in ("sync", "async", "auto"):
        raise NoSuchMode(f"mode must be sync, async or auto, not {mode!r}", mode)
    if response not in ("raw", "document"):
        raise MissingParameterValue("Attribute 'response' must be raw or document", "response")
    process = lookup(identifier)
    inputs = []
    for element in root.iterfind(qname(_W, "Input")):
        ident = element.get("id")
        if not ident:
            raise MissingParameterValue("An input has no id", "Input")
        inputs.append(DataInput(ident, _value(ident, element, process)))
    outputs = []
    for element in root.iterfind(qname(_W, "Output")):
        ident = element.get("id")
        if not ident:
            raise MissingParameterValue("An output has no id", "Output")
        transmission = element.get("transmission") or "value"
        if transmission not in ("value", "reference"):
            raise InvalidParameterValue("transmission must be value or reference", ident)
        outputs.append(OutputRequest(ident, transmission == "reference",
                                     element.get("mimeType"), element.get("encoding"),
                                     element.get("schema")))
    return Execute(
        identifier=identifier,
        version=VERSION,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        raw=response == "raw",
        # WPS 2.0 jobs always report their status.
        status=mode == "async",
        store=mode == "async",
        mode=mode,
        language=language,
    )


def _value(ident: str, element: etree._Element, process: Process | None) -> DataValue:
    if element.find(qname(_W, "Input")) is not None:
        raise InvalidParameterValue(f"Input {ident!r}: nested inputs are not supported", ident)
    reference = element.find(qname(_W, "Reference"))
    if reference is not None:
        body = reference.find(qname(_W, "Body"))
        body_bytes = None
        if body is not None:
            children = [c for c in body if isinstance(c.tag, str)]
            body_bytes = fragment_bytes(children) if children else (body.text or "").encode()
        body_ref = reference.find(qname(_W, "BodyReference"))
        href = reference.get(xlink("href"))
        if not href:
            raise MissingParameterValue(f"Input {ident!r}: reference has no xlink:href", ident)
        return ReferenceData(
            href=href, method="POST" if body is not None or body_ref is not None else "GET",
            body=body_bytes,
            body_reference=body_ref.get(xlink("href")) if body_ref is not None else None,
            mime_type=reference.get("mimeType"), encoding=reference.get("encoding"),
            schema=reference.get("schema"),
        )
    data = element.find(qname(_W, "Data"))
    if data is None:
        raise MissingParameterValue(f"Input {ident!r} has neither Data nor Reference", ident)
    declared = process.input(ident) if process else None
    children = [c for c in data if isinstance(c.tag, str)]
    encoding = data.get("encoding")
    if isinstance(declared, BoundingBoxInput):
        box = data.find(qname(_O, "BoundingBox"))
        if box is None:
            raise WrongInputData(f"Input {ident!r} needs an ows:BoundingBox", ident)
        try:
            lower = tuple(float(v) for v in _text(box.find(qname(_O, "LowerCorner"))).split())
            upper = tuple(float(v) for v in _text(box.find(qname(_O, "UpperCorner"))).split())
            return BoundingBoxData(BoundingBox(lower, upper, box.get("crs")))
        except ValueError as exc:
            raise WrongInputData(f"Input {ident!r}: bad bounding box ({exc})", ident) from None
    if isinstance(declared, ComplexInput):
        if children:
            raw, is_xml = fragment_bytes(children), True
        else:
            raw, is_xml = (data.text or "").encode("utf-8"), False
        if (encoding or "").lower() == "base64":
            try:
                raw = base64.b64decode(b"".join(raw.split()), validate=True)
            except (binascii.Error, ValueError):
                raise WrongInputData(f"Input {ident!r} is not valid base64", ident) from None
        return ComplexData(raw, data.get("mimeType"), encoding, data.get("schema"), is_xml)
    literal = data.find(qname(_W, "LiteralValue"))
    if literal is not None:
        return LiteralData(literal.text or "", literal.get("uom"), literal.get("dataType"))
    return LiteralData(data.text or "")
