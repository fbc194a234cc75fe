"""Build WPS 1.0.0 response documents (OGC 05-007r7) as lxml elements.

Every function returns an element that validates against the official WPS 1.0.0 /
OWS 1.1 schemas; the tests check each kind of document against them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

from lxml import etree

from ...config import ServiceMetadata
from ...core.results import ExecuteResult, OutputValue
from ...datatypes.inputs import BoundingBoxInput, ComplexInput, Input, LiteralInput
from ...datatypes.literals import AllowedValues, LiteralDomain
from ...datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput, Output
from ...datatypes.values import BoundingBox
from ...exceptions import WPSError
from ...formats import Format
from ...processes.process import Process
from ...protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    LiteralData,
    ReferenceData,
)
from ..ows import bounding_box as ows_bounding_box
from ..ows import exception_texts, format_attributes, log_text, service_metadata, value_range
from ..xml import NS_OWS11, NS_WPS10, NS_XML, OWS11, WPS10, parse_xml, qname, xlink, xml_text
from .parse import OPERATIONS, VERSION

W = WPS10
O = OWS11  # noqa: E741  (reads like the ows: prefix it stands for)
_LANG = qname(NS_XML, "lang")
_PROCESS_VERSION = qname(NS_WPS10, "processVersion")
SCHEMA_BASE = "http://schemas.opengis.net/wps/1.0.0/"


def _root(tag: etree._Element, schema: str, language: str) -> etree._Element:
    tag.set("service", "WPS")
    tag.set("version", VERSION)
    tag.set(_LANG, language)
    tag.set(qname("http://www.w3.org/2001/XMLSchema-instance", "schemaLocation"),
            f"{NS_WPS10} {SCHEMA_BASE}{schema}")
    return tag


def _described(
    identifier: str, title: str, abstract: str, metadata: Sequence[tuple[str, str]]
) -> list[etree._Element]:
    parts = [O.Identifier(identifier), O.Title(title)]
    if abstract:
        parts.append(O.Abstract(abstract))
    for meta_title, href in metadata:
        parts.append(O.Metadata({xlink("title"): meta_title, xlink("href"): href}))
    return parts


# ---------------------------------------------------------------- GetCapabilities


def capabilities(
    meta: ServiceMetadata,
    processes: Sequence[Process],
    url: str,
    language: str,
    languages: Sequence[str],
    update_sequence: str,
) -> etree._Element:
    offerings = W.ProcessOfferings(*[
        W.Process(
            *_described(p.identifier, p.title, p.abstract, p.metadata),
            {_PROCESS_VERSION: p.version},
        )
        for p in processes
    ])
    langs = W.Languages(
        W.Default(O.Language(languages[0])),
        W.Supported(*[O.Language(lang) for lang in languages]),
    )
    root = W.Capabilities(*service_metadata(O, meta, VERSION, url, OPERATIONS), offerings,
                          langs)
    root.set("updateSequence", update_sequence)
    return _root(root, "wpsGetCapabilities_response.xsd", language)


# ---------------------------------------------------------------- DescribeProcess


def process_descriptions(
    processes: Sequence[Process], language: str, supports_jobs: Callable[[Process], bool]
) -> etree._Element:
    root = W.ProcessDescriptions(*[process_description(p, supports_jobs(p)) for p in processes])
    return _root(root, "wpsDescribeProcess_response.xsd", language)


def process_description(process: Process, jobs: bool) -> etree._Element:
    flag = "true" if jobs else "false"
    element = etree.Element("ProcessDescription", {
        _PROCESS_VERSION: process.version,
        "storeSupported": flag,
        "statusSupported": flag,
    })
    element.extend(_described(process.identifier, process.title, process.abstract,
                              process.metadata))
    if process.inputs:
        element.append(etree.Element("DataInputs"))
        element[-1].extend(_input(i) for i in process.inputs)
    outputs = etree.SubElement(element, "ProcessOutputs")
    outputs.extend(_output(o) for o in process.outputs)
    return element


def _input(declared: Input) -> etree._Element:
    element = etree.Element("Input", minOccurs=str(declared.min_occurs),
                            maxOccurs=str(declared.max_occurs))
    element.extend(_described(declared.identifier, declared.title, declared.abstract,
                              declared.metadata))
    if isinstance(declared, LiteralInput):
        literal = etree.SubElement(element, "LiteralData")
        _literal_domain(literal, declared.domain)
        if declared.domain.allowed_values is None:
            literal.append(O.AnyValue())
        else:
            literal.append(_allowed_values(declared.domain.allowed_values,
                                           declared.domain))
        if declared.default is not None:
            etree.SubElement(literal, "DefaultValue").text = declared.domain.data_type.format(
                declared.default)
    elif isinstance(declared, ComplexInput):
        complex_el = etree.SubElement(element, "ComplexData")
        if declared.max_megabytes is not None:
            complex_el.set("maximumMegabytes", str(int(declared.max_megabytes)))
        _formats(complex_el, declared.formats)
    else:
        _crss(etree.SubElement(element, "BoundingBoxData"), declared)
    return element


def _output(declared: Output) -> etree._Element:
    element = etree.Element("Output")
    element.extend(_described(declared.identifier, declared.title, declared.abstract,
                              declared.metadata))
    if isinstance(declared, LiteralOutput):
        _literal_domain(etree.SubElement(element, "LiteralOutput"), declared.domain)
    elif isinstance(declared, ComplexOutput):
        _formats(etree.SubElement(element, "ComplexOutput"), declared.formats)
    else:
        _crss(etree.SubElement(element, "BoundingBoxOutput"), declared)
    return element


def _literal_domain(parent: etree._Element, domain: LiteralDomain) -> None:
    dtype = domain.data_type
    parent.append(O.DataType(dtype.name, {qname(NS_OWS11, "reference"): dtype.reference}))
    if domain.uoms:
        uoms = etree.SubElement(parent, "UOMs")
        etree.SubElement(uoms, "Default").append(O.UOM(domain.uoms[0]))
        etree.SubElement(uoms, "Supported").extend(O.UOM(u) for u in domain.uoms)


def _allowed_values(allowed: AllowedValues, domain: LiteralDomain) -> etree._Element:
    fmt = domain.data_type.format
    element = O.AllowedValues(*[O.Value(fmt(v)) for v in allowed.values])
    for rng in allowed.ranges:
        element.append(value_range(O, NS_OWS11, rng))
    return element


def _format(fmt: Format) -> etree._Element:
    element = etree.Element("Format")
    etree.SubElement(element, "MimeType").text = fmt.mime_type
    if fmt.encoding:
        etree.SubElement(element, "Encoding").text = fmt.encoding
    if fmt.schema:
        etree.SubElement(element, "Schema").text = fmt.schema
    return element


def _formats(parent: etree._Element, formats: Sequence[Format]) -> None:
    etree.SubElement(parent, "Default").append(_format(formats[0]))
    etree.SubElement(parent, "Supported").extend(_format(f) for f in formats)


def _crss(parent: etree._Element, declared: BoundingBoxInput | BoundingBoxOutput) -> None:
    etree.SubElement(etree.SubElement(parent, "Default"), "CRS").text = declared.crss[0]
    supported = etree.SubElement(parent, "Supported")
    for crs in declared.crss:
        etree.SubElement(supported, "CRS").text = crs


# ---------------------------------------------------------------- Execute


def execute_response(
    result: ExecuteResult, service_instance: str, language: str
) -> etree._Element:
    process = result.process
    root = W.ExecuteResponse(
        W.Process(*_described(process.identifier, process.title, process.abstract, ()),
                  {_PROCESS_VERSION: process.version}),
    )
    root.set("serviceInstance", service_instance)
    if result.status_location:
        root.set("statusLocation", result.status_location)
    created = result.created.isoformat().replace("+00:00", "Z")
    root.append(W.Status(_status(result), creationTime=created))
    if result.request.lineage:
        if result.request.inputs:  # DataInputs holds at least one Input
            root.append(W.DataInputs(*[_lineage_input(process, i)
                                       for i in result.request.inputs]))
        root.append(W.OutputDefinitions(*[
            _output_definition(s.output, s.request.as_reference, s.format, s.uom)
            for s in result.selected
        ]))
    if result.status == "succeeded" and result.error is None and result.outputs:
        # Outputs the process did not produce are left out; with none, so is ProcessOutputs.
        root.append(W.ProcessOutputs(*[_output_value(v) for v in result.outputs]))
    return _root(root, "wpsExecute_response.xsd", language)


def _status(result: ExecuteResult) -> etree._Element:
    # The texts are the server's messages to the user, "expected to include ... any warning
    # conditions that may have been encountered" (the schema's words on ProcessSucceeded):
    # the end of what the handler logged goes there (a failure's report carries it in the
    # error's details).
    if result.error is not None:
        return W.ProcessFailed(exception_report(result.error))
    log = log_text(result.log, result.log_url) if result.log else ""
    if result.status == "succeeded":
        return W.ProcessSucceeded(
            xml_text(_lines(f"Process {result.process.identifier} finished", log)))
    # Without status=true the stored document is not updated until the job ends (10.3.1).
    if result.status == "running" and result.request.status:
        # percentCompleted is 0-99 in the schema: 100 is ProcessSucceeded.
        return W.ProcessStarted(xml_text(_lines(result.message or "running", log)),
                                percentCompleted=str(min(result.progress, 99)))
    return W.ProcessAccepted(f"Process {result.process.identifier} accepted")


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _output_definition(
    output: Output, as_reference: bool, fmt: Format | None, uom: str | None
) -> etree._Element:
    element = W.Output(O.Identifier(output.identifier), O.Title(output.title))
    if as_reference:
        element.set("asReference", "true")
    if fmt is not None:
        format_attributes(element, fmt)
    if uom:
        element.set("uom", uom)
    return element


def _output_value(value: OutputValue) -> etree._Element:
    output = value.selected.output
    element = W.Output(*_described(output.identifier, output.title, output.abstract, ()))
    if value.href is not None:
        reference = W.Reference(href=value.href)
        fmt = value.selected.format
        if fmt is not None:
            format_attributes(reference, fmt)
        else:
            reference.set("mimeType", "text/plain")
        element.append(reference)
        return element
    if value.text is not None:
        literal = W.LiteralData(value.text)
        if isinstance(output, LiteralOutput):
            literal.set("dataType", output.domain.data_type.name)
        if value.selected.uom:
            literal.set("uom", value.selected.uom)
        element.append(W.Data(literal))
    elif value.bbox is not None:
        element.append(W.Data(ows_bounding_box(W.BoundingBoxData, O, value.bbox)))
    else:
        assert value.data is not None and value.selected.format is not None
        element.append(W.Data(complex_data(value.data, value.selected.format)))
    return element


def complex_data(data: bytes, fmt: Format) -> etree._Element:
    """A wps:ComplexData holding data: XML embedded as elements, text as text, else base64."""
    element = W.ComplexData()
    format_attributes(element, fmt)
    complex_data_content(element, data, fmt)
    return element


def complex_data_content(element: etree._Element, data: bytes, fmt: Format) -> None:
    """Put data into an element: XML as elements, text as text, anything else as base64
    (setting encoding="base64"). Shared by the WPS 1.0.0 and 2.0 encodings."""
    if fmt.is_xml and not fmt.is_base64:
        try:
            # A process's own output: no element bound beyond its size.
            element.append(parse_xml(data, max_elements=len(data)))
            return
        except WPSError:
            pass  # not well-formed after all: send it as text
    if fmt.is_text and not fmt.is_base64:
        try:
            element.text = data.decode(fmt.encoding or "utf-8")
            return
        except (UnicodeDecodeError, LookupError, ValueError):
            pass  # binary or control characters that XML cannot carry: fall back to base64
    element.set("encoding", "base64")
    element.text = base64.b64encode(data).decode("ascii")


def bounding_box(bbox: BoundingBox) -> etree._Element:
    """An ows:BoundingBox document, the raw form of a bounding box output."""
    return ows_bounding_box(O.BoundingBox, O, bbox)


def _lineage_input(process: Process, data_input: DataInput) -> etree._Element:
    declared = process.input(data_input.identifier)
    title = declared.title if declared else data_input.identifier
    element = W.Input(O.Identifier(data_input.identifier), O.Title(title))
    value = data_input.value
    if isinstance(value, ReferenceData):
        reference = W.Reference({xlink("href"): value.href, "method": value.method})
        for attr, val in (("mimeType", value.mime_type), ("encoding", value.encoding),
                          ("schema", value.schema)):
            if val:
                reference.set(attr, val)
        element.append(reference)
    elif isinstance(value, LiteralData):
        literal = W.LiteralData(value.text)
        if value.uom:
            literal.set("uom", value.uom)
        if value.data_type:
            literal.set("dataType", value.data_type)
        element.append(W.Data(literal))
    elif isinstance(value, ComplexData):
        fmt = Format(value.mime_type or "text/plain", value.encoding, value.schema)
        if value.is_xml:
            fmt = Format(value.mime_type or "text/xml", value.encoding, value.schema)
        element.append(W.Data(complex_data(value.data, fmt)))
    elif isinstance(value, BoundingBoxData):
        element.append(W.Data(ows_bounding_box(W.BoundingBoxData, O, value.bbox)))
    return element


# ---------------------------------------------------------------- errors


def exception_report(error: WPSError, language: str | None = None) -> etree._Element:
    exception = O.Exception(exceptionCode=error.code)
    if error.locator1:
        exception.set("locator", xml_text(error.locator1))
    exception.extend(exception_texts(O, error))
    report = O.ExceptionReport(exception, version=VERSION)
    if language:
        report.set(_LANG, language)
    return report
