"""Parse WPS 1.0.0 requests, KVP (HTTP GET) and XML (HTTP POST), into request models.

Sans-IO: a query string or body bytes in, a :mod:`wpsd.protocol.requests` model out, or
a :class:`~wpsd.exceptions.WPSError` naming the parameter at fault.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from urllib.parse import unquote, unquote_plus

from lxml import etree

from ...datatypes.inputs import BoundingBoxInput, ComplexInput
from ...datatypes.values import BoundingBox
from ...exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    OperationNotSupported,
    WPSError,
)
from ...processes.process import Process
from ..ows import check_service, kvp_operation
from ..requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    DataValue,
    DescribeProcess,
    Execute,
    GetCapabilities,
    LiteralData,
    OutputRequest,
    ReferenceData,
    Request,
)
from ..xml import NOT_XML, NS_OWS11, NS_WPS10, fragment_bytes, parse_xml, qname, xlink

VERSION = "1.0.0"
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute")

ProcessLookup = Callable[[str], Process | None]


# ---------------------------------------------------------------- KVP


def split_query(query: str) -> dict[str, str]:
    """Query string to {lower-cased name: still-encoded value}; the first occurrence wins.

    Values stay encoded because DataInputs, ResponseDocument and RawDataOutput need
    their ``;``, ``@`` and ``=`` separators told apart from escaped ones.
    """
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote_plus(name).strip().lower(), value)
    return params


def parse_kvp(query: str, lookup: ProcessLookup) -> Request:
    raw = split_query(query)
    params = {name: unquote_plus(value) for name, value in raw.items()}
    operation = kvp_operation(params, OPERATIONS)
    language = params.get("language") or None
    if operation == "GetCapabilities":
        versions = params.get("acceptversions") or params.get("version") or ""
        return GetCapabilities(
            accept_versions=tuple(v.strip() for v in versions.split(",") if v.strip()),
            language=language,
            update_sequence=params.get("updatesequence") or None,
        )
    version = _check_version(params.get("version"))
    identifier = params.get("identifier")
    if not identifier:
        raise MissingParameterValue("Parameter 'identifier' is missing", "identifier")
    if operation == "DescribeProcess":
        identifiers = tuple(i.strip() for i in identifier.split(",") if i.strip())
        return DescribeProcess(identifiers=identifiers, version=version, language=language)

    process = lookup(identifier)
    inputs = tuple(
        DataInput(ident, _kvp_value(ident, text, attrs, process))
        for ident, text, attrs in _kvp_records(raw.get("datainputs", ""), "datainputs")
    )
    outputs: tuple[OutputRequest, ...] = ()
    is_raw = False
    if raw.get("rawdataoutput"):
        records = _kvp_records(raw["rawdataoutput"], "rawdataoutput", values=False)
        if len(records) != 1:
            raise InvalidParameterValue("RawDataOutput names exactly one output", "rawdataoutput")
        outputs, is_raw = (_kvp_output(*records[0]),), True
    elif raw.get("responsedocument"):
        records = _kvp_records(raw["responsedocument"], "responsedocument", values=False)
        outputs = tuple(_kvp_output(*r) for r in records)
    return Execute(
        identifier=identifier,
        version=version,
        inputs=inputs,
        outputs=outputs,
        raw=is_raw,
        lineage=_kvp_bool(params, "lineage"),
        status=_kvp_bool(params, "status"),
        store=_kvp_bool(params, "storeexecuteresponse"),
        mode="async" if _kvp_bool(params, "storeexecuteresponse") else "sync",
        language=language,
    )


def _check_version(version: str | None) -> str:
    if not version:
        raise MissingParameterValue("Parameter 'version' is missing", "version")
    if version != VERSION:
        raise InvalidParameterValue(f"Version {version!r} is not supported; use 1.0.0", "version")
    return version


def _kvp_bool(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise InvalidParameterValue(f"Parameter {name!r} must be true or false", name)
    return value == "true"


def _kvp_records(
    raw: str, locator: str, values: bool = True
) -> list[tuple[str, str, dict[str, str]]]:
    """Split ``id=value@attr=v;id2...`` (or ``id@attr=v;...`` without values) into records.

    OGC 05-007r7 10.2.2.1 asks clients to percent-encode separators inside values, so the
    split happens on the encoded text and each piece is decoded afterwards. Clients that
    encode the whole parameter (``%3D`` for every ``=``) are decoded once first.
    """
    if not raw:
        return []
    decode: Callable[[str], str] = unquote_plus
    if "=" not in raw and "@" not in raw and ";" not in raw:
        raw, decode = unquote_plus(raw), unquote
    records = []
    for entry in raw.split(";"):
        if not entry.strip():
            continue
        head, *attr_parts = entry.split("@")
        if values:
            ident, sep, text = head.partition("=")
            if not sep:
                raise InvalidParameterValue(f"Input {decode(ident)!r} has no value", locator)
        else:
            # `out@asReference=true` and `out=@asReference=true` (several 05-007r7 examples
            # and PyWPS clients write the second) name the same output.
            ident, text = head.partition("=")[0], ""
        attrs: dict[str, str] = {}
        for part in attr_parts:
            key, sep, value = part.partition("=")
            if not sep:
                raise InvalidParameterValue(f"Attribute {decode(key)!r} has no value", locator)
            attr = decode(value)
            if NOT_XML.search(attr):
                # Attributes are names and URLs, echoed in lineage and status documents.
                raise InvalidParameterValue(
                    f"Attribute {decode(key)!r} holds characters that XML cannot carry", locator)
            attrs[decode(key).strip().lower()] = attr
        ident = decode(ident).strip()
        if not ident:
            raise InvalidParameterValue("An entry has no identifier", locator)
        records.append((ident, decode(text), attrs))
    return records


def _kvp_value(
    ident: str, text: str, attrs: Mapping[str, str], process: Process | None
) -> DataValue:
    href = attrs.get("xlink:href") or attrs.get("href")
    if href:
        return ReferenceData(
            href=href,
            method=attrs.get("method", "GET").upper(),
            mime_type=attrs.get("mimetype"),
            encoding=attrs.get("encoding"),
            schema=attrs.get("schema"),
        )
    declared = process.input(ident) if process else None
    if isinstance(declared, BoundingBoxInput):
        return BoundingBoxData(_bbox_from_text(ident, text, attrs.get("crs")))
    if isinstance(declared, ComplexInput):
        encoding = attrs.get("encoding")
        data = _decode_base64(ident, text) if _is_base64(encoding) else text.encode("utf-8")
        return ComplexData(
            data=data,
            mime_type=attrs.get("mimetype"),
            encoding=encoding,
            schema=attrs.get("schema"),
            is_xml=text.lstrip().startswith("<"),
        )
    return LiteralData(text=text, uom=attrs.get("uom"), data_type=attrs.get("datatype"))


def _kvp_output(ident: str, _text: str, attrs: Mapping[str, str]) -> OutputRequest:
    as_ref = attrs.get("asreference", "false").lower()
    if as_ref not in ("true", "false"):
        raise InvalidParameterValue("asReference must be true or false", ident)
    return OutputRequest(
        identifier=ident,
        as_reference=as_ref == "true",
        mime_type=attrs.get("mimetype"),
        encoding=attrs.get("encoding"),
        schema=attrs.get("schema"),
        uom=attrs.get("uom"),
    )


def _bbox_from_text(ident: str, text: str, crs: str | None) -> BoundingBox:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    numbers: list[float] = []
    for i, part in enumerate(parts):
        try:
            numbers.append(float(part))
        except ValueError:
            if i != len(parts) - 1:
                raise InvalidParameterValue(
                    f"Input {ident!r}: bad coordinate {part!r}", ident
                ) from None
            crs = crs or part
    try:
        return BoundingBox.from_values(numbers, crs)
    except ValueError as exc:
        raise InvalidParameterValue(f"Input {ident!r}: {exc}", ident) from None


def _is_base64(encoding: str | None) -> bool:
    return (encoding or "").lower() == "base64"


def _decode_base64(ident: str, text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValue(f"Input {ident!r} is not valid base64", ident) from None


# ---------------------------------------------------------------- XML

_WPS = NS_WPS10
_OWS = NS_OWS11


def parse_xml_request(body: bytes | etree._Element) -> Request:
    root = body if isinstance(body, etree._Element) else parse_xml(body)
    if etree.QName(root).namespace != _WPS:
        raise OperationNotSupported(
            f"Root element {root.tag!r} is not a WPS 1.0.0 request", etree.QName(root).localname
        )
    operation = etree.QName(root).localname
    if operation not in OPERATIONS:
        raise OperationNotSupported(f"Operation {operation!r} is not supported", operation)
    check_service(root.get("service"))
    language = root.get("language") or None
    if operation == "GetCapabilities":
        versions = root.findall(f"{{{_WPS}}}AcceptVersions/{{{_OWS}}}Version")
        return GetCapabilities(
            accept_versions=tuple((v.text or "").strip() for v in versions),
            language=language,
            update_sequence=root.get("updateSequence"),
        )
    version = _check_version(root.get("version"))
    if operation == "DescribeProcess":
        identifiers = tuple(
            (e.text or "").strip() for e in root.findall(qname(_OWS, "Identifier"))
        )
        if not any(identifiers):
            raise MissingParameterValue("No process identifier given", "identifier")
        return DescribeProcess(identifiers=identifiers, version=version, language=language)
    return _parse_execute(root, version, language)


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _parse_execute(root: etree._Element, version: str, language: str | None) -> Execute:
    identifier = _text(root.find(qname(_OWS, "Identifier")))
    if not identifier:
        raise MissingParameterValue("No process identifier given", "identifier")
    inputs = []
    for element in root.iterfind(f"{{{_WPS}}}DataInputs/{{{_WPS}}}Input"):
        ident = _text(element.find(qname(_OWS, "Identifier")))
        if not ident:
            raise MissingParameterValue("An input has no identifier", "Input")
        inputs.append(DataInput(ident, _xml_value(ident, element)))

    outputs: list[OutputRequest] = []
    is_raw = lineage = status = store = False
    form = root.find(qname(_WPS, "ResponseForm"))
    if form is not None:
        raw_output = form.find(qname(_WPS, "RawDataOutput"))
        document = form.find(qname(_WPS, "ResponseDocument"))
        if raw_output is not None:
            outputs, is_raw = [_xml_output(raw_output)], True
        elif document is not None:
            outputs = [_xml_output(o) for o in document.iterfind(qname(_WPS, "Output"))]
            lineage = _xml_bool(document, "lineage")
            status = _xml_bool(document, "status")
            store = _xml_bool(document, "storeExecuteResponse")
    return Execute(
        identifier=identifier,
        version=version,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        raw=is_raw,
        lineage=lineage,
        status=status,
        store=store,
        mode="async" if store else "sync",
        language=language,
    )


def _xml_bool(element: etree._Element, name: str) -> bool:
    value = (element.get(name) or "false").strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidParameterValue(f"Attribute {name!r} must be true or false", name)


def _xml_output(element: etree._Element) -> OutputRequest:
    ident = _text(element.find(qname(_OWS, "Identifier")))
    if not ident:
        raise MissingParameterValue("An output has no identifier", "Output")
    try:
        as_ref = _xml_bool(element, "asReference")
    except WPSError:
        raise InvalidParameterValue("asReference must be true or false", ident) from None
    return OutputRequest(
        identifier=ident,
        as_reference=as_ref,
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
        uom=element.get("uom"),
    )


def _xml_value(ident: str, element: etree._Element) -> DataValue:
    reference = element.find(qname(_WPS, "Reference"))
    if reference is not None:
        return _xml_reference(ident, reference)
    data = element.find(qname(_WPS, "Data"))
    if data is None or len(data) != 1:
        raise MissingParameterValue(f"Input {ident!r} has neither Data nor Reference", ident)
    child = data[0]
    if child.tag == qname(_WPS, "LiteralData"):
        return LiteralData(
            text=child.text or "", uom=child.get("uom"), data_type=child.get("dataType")
        )
    if child.tag == qname(_WPS, "ComplexData"):
        return _xml_complex(ident, child)
    if child.tag == qname(_WPS, "BoundingBoxData"):
        return BoundingBoxData(_xml_bbox(ident, child))
    raise InvalidParameterValue(f"Input {ident!r}: unexpected element {child.tag!r}", ident)


def _xml_complex(ident: str, element: etree._Element) -> ComplexData:
    encoding = element.get("encoding")
    children = [c for c in element if isinstance(c.tag, str)]
    if children:
        data, is_xml = fragment_bytes(children), True
    else:
        text = element.text or ""
        data = _decode_base64(ident, text) if _is_base64(encoding) else text.encode("utf-8")
        is_xml = False
    return ComplexData(
        data=data,
        mime_type=element.get("mimeType"),
        encoding=encoding,
        schema=element.get("schema"),
        is_xml=is_xml,
    )


def _xml_bbox(ident: str, element: etree._Element) -> BoundingBox:
    try:
        lower = tuple(float(v) for v in _text(element.find(qname(_OWS, "LowerCorner"))).split())
        upper = tuple(float(v) for v in _text(element.find(qname(_OWS, "UpperCorner"))).split())
        bbox = BoundingBox(lower, upper, element.get("crs"))
    except ValueError as exc:
        raise InvalidParameterValue(f"Input {ident!r}: bad bounding box ({exc})", ident) from None
    dims = element.get("dimensions")
    if dims is not None and dims.strip() != str(bbox.dimensions):
        raise InvalidParameterValue(f"Input {ident!r}: dimensions do not match corners", ident)
    return bbox


def _xml_reference(ident: str, element: etree._Element) -> ReferenceData:
    href = element.get(xlink("href")) or element.get("href")
    if not href:
        raise MissingParameterValue(f"Input {ident!r}: reference has no xlink:href", ident)
    headers = tuple(
        (h.get("key", ""), h.get("value", "")) for h in element.iterfind(qname(_WPS, "Header"))
    )
    body: bytes | None = None
    body_el = element.find(qname(_WPS, "Body"))
    if body_el is not None:
        children = [c for c in body_el if isinstance(c.tag, str)]
        if children:
            body = fragment_bytes(children)
        else:
            body = (body_el.text or "").encode("utf-8")
    body_ref = element.find(qname(_WPS, "BodyReference"))
    body_reference = None
    if body_ref is not None:
        body_reference = body_ref.get(xlink("href")) or body_ref.get("href")
    return ReferenceData(
        href=href,
        method=(element.get("method") or "GET").upper(),
        headers=headers,
        body=body,
        body_reference=body_reference,
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
    )
