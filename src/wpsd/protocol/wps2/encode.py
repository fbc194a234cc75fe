"""Build WPS 2.0.0 documents (OGC 14-065) as lxml elements; each validates against wps.xsd."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from lxml import etree

from ...config import ServiceMetadata
from ...core.job import Job, JobStatus
from ...core.results import OutputValue
from ...datatypes.inputs import BoundingBoxInput, ComplexInput, Input, LiteralInput
from ...datatypes.literals import LiteralDomain
from ...datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput, Output
from ...datatypes.values import BoundingBox
from ...exceptions import NoApplicableCode, WPSError
from ...formats import TEXT, Format
from ...processes.process import Process
from ..ows import bounding_box as ows_bounding_box
from ..ows import exception_texts, format_attributes, service_metadata, value_range
from ..wps1.encode import complex_data_content
from ..xml import NS_OWS20, NS_XML, OWS20, WPS20, qname, xlink, xml_text
from .parse import OPERATIONS, VERSION

W = WPS20
O = OWS20  # noqa: E741  (reads like the ows: prefix it stands for)
_LANG = qname(NS_XML, "lang")
_XSI_LOCATION = qname("http://www.w3.org/2001/XMLSchema-instance", "schemaLocation")
SCHEMA = "http://www.opengis.net/wps/2.0 http://schemas.opengis.net/wps/2.0/wps.xsd"
#: the WPS 2.0 status names of job states
STATUS_NAMES = {
    JobStatus.ACCEPTED: "Accepted",
    JobStatus.RUNNING: "Running",
    JobStatus.SUCCEEDED: "Succeeded",
    JobStatus.FAILED: "Failed",
    JobStatus.DISMISSED: "Dismissed",
}


def _located(element: etree._Element) -> etree._Element:
    element.set(_XSI_LOCATION, SCHEMA)
    return element


def _described(title: str, abstract: str, keywords: Sequence[str], identifier: str,
               metadata: Sequence[tuple[str, str]]) -> list[etree._Element]:
    parts = [O.Title(title)]
    if abstract:
        parts.append(O.Abstract(abstract))
    if keywords:
        parts.append(O.Keywords(*[O.Keyword(k) for k in keywords]))
    parts.append(O.Identifier(identifier))
    for meta_title, href in metadata:
        parts.append(O.Metadata({xlink("title"): meta_title, xlink("href"): href}))
    return parts


def job_control_options(jobs: bool) -> str:
    return "sync-execute async-execute dismiss" if jobs else "sync-execute"


def _process_attributes(element: etree._Element, process: Process, jobs: bool) -> None:
    element.set("jobControlOptions", job_control_options(jobs))
    element.set("outputTransmission", "value reference")
    element.set("processVersion", process.version)


# ---------------------------------------------------------------- GetCapabilities


def capabilities(meta: ServiceMetadata, processes: Sequence[Process], url: str,
                 update_sequence: str, supports_jobs: Callable[[Process], bool]
                 ) -> etree._Element:
    contents = W.Contents()
    for process in processes:
        summary = W.ProcessSummary(*_described(process.title, process.abstract,
                                               process.keywords, process.identifier,
                                               process.metadata))
        _process_attributes(summary, process, supports_jobs(process))
        contents.append(summary)
    root = W.Capabilities(*service_metadata(O, meta, VERSION, url, OPERATIONS), contents,
                          service="WPS", version=VERSION, updateSequence=update_sequence)
    return _located(root)


# ---------------------------------------------------------------- DescribeProcess


def process_offerings(processes: Sequence[Process], language: str,
                      supports_jobs: Callable[[Process], bool]) -> etree._Element:
    root = W.ProcessOfferings()
    for process in processes:
        description = W.Process(*_described(process.title, process.abstract, process.keywords,
                                            process.identifier, process.metadata))
        description.set(_LANG, language)
        description.extend(_input(i) for i in process.inputs)
        description.extend(_output(o) for o in process.outputs)
        offering = W.ProcessOffering(description)
        _process_attributes(offering, process, supports_jobs(process))
        root.append(offering)
    return _located(root)


def _formats(formats: Sequence[Format], max_megabytes: float | None = None
             ) -> list[etree._Element]:
    elements = []
    for n, fmt in enumerate(formats):
        element = W.Format(mimeType=fmt.mime_type)
        if fmt.encoding:
            element.set("encoding", fmt.encoding)
        if fmt.schema:
            element.set("schema", fmt.schema)
        if max_megabytes:
            element.set("maximumMegabytes", str(max(1, int(max_megabytes))))
        if n == 0:
            element.set("default", "true")
        elements.append(element)
    return elements


def _literal(domain: LiteralDomain, default: object = None) -> etree._Element:
    dtype = domain.data_type
    allowed: etree._Element
    if domain.allowed_values is None:
        allowed = O.AnyValue()
    else:
        allowed = O.AllowedValues(*[O.Value(dtype.format(v))
                                    for v in domain.allowed_values.values])
        for rng in domain.allowed_values.ranges:
            allowed.append(value_range(O, NS_OWS20, rng))
    parts = [allowed, O.DataType(dtype.name, {qname(NS_OWS20, "reference"): dtype.reference})]
    if domain.uoms:
        parts.append(O.UOM(domain.uoms[0]))
    if default is not None:
        parts.append(O.DefaultValue(dtype.format(default)))
    # LiteralDataDomain is a local element of dataTypes.xsd: unqualified, unlike its children.
    domain_element = etree.Element("LiteralDataDomain", default="true")
    domain_element.extend(parts)
    return W.LiteralData(*_formats([TEXT]), domain_element)


def _data_description(declared: Input | Output) -> etree._Element:
    if isinstance(declared, LiteralInput):
        return _literal(declared.domain, declared.default)
    if isinstance(declared, LiteralOutput):
        return _literal(declared.domain)
    if isinstance(declared, ComplexInput):
        return W.ComplexData(*_formats(declared.formats, declared.max_megabytes))
    if isinstance(declared, ComplexOutput):
        return W.ComplexData(*_formats(declared.formats))
    assert isinstance(declared, BoundingBoxInput | BoundingBoxOutput)
    crss = [W.SupportedCRS(crs, default="true") if n == 0 else W.SupportedCRS(crs)
            for n, crs in enumerate(declared.crss)]
    return W.BoundingBoxData(*_formats([Format("text/plain")]), *crss)


def _input(declared: Input) -> etree._Element:
    element = W.Input(*_described(declared.title, declared.abstract, declared.keywords,
                                  declared.identifier, declared.metadata),
                      _data_description(declared))
    element.set("minOccurs", str(declared.min_occurs))
    element.set("maxOccurs", str(declared.max_occurs))
    return element


def _output(declared: Output) -> etree._Element:
    return W.Output(*_described(declared.title, declared.abstract, declared.keywords,
                                declared.identifier, declared.metadata),
                    _data_description(declared))


# ---------------------------------------------------------------- Execute, GetStatus, GetResult


def _stamp(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def status_info(job: Job, status: JobStatus | None = None,
                expiration: dt.datetime | None = None) -> etree._Element:
    state = status or job.status
    root = W.StatusInfo(W.JobID(job.id), W.Status(STATUS_NAMES[state]))
    if expiration is not None:
        root.append(W.ExpirationDate(_stamp(expiration)))
    if state is JobStatus.RUNNING:
        root.append(W.PercentCompleted(str(max(0, min(job.progress, 100)))))
    return _located(root)


def result(outputs: Sequence[OutputValue], job_id: str | None = None,
           expiration: dt.datetime | None = None) -> etree._Element:
    if not outputs:  # a Result holds at least one Output
        raise NoApplicableCode("The process produced none of the outputs asked for")
    root = W.Result()
    if job_id is not None:
        root.append(W.JobID(job_id))
    if expiration is not None:
        root.append(W.ExpirationDate(_stamp(expiration)))
    root.extend(_output_value(v) for v in outputs)
    return _located(root)


def _output_value(value: OutputValue) -> etree._Element:
    element = W.Output(id=value.identifier)
    fmt = value.selected.format
    if value.href is not None:
        reference = W.Reference({xlink("href"): value.href})
        format_attributes(reference, fmt or TEXT)
        element.append(reference)
    elif value.text is not None:
        literal = W.LiteralValue(value.text)
        output = value.selected.output
        if isinstance(output, LiteralOutput):
            literal.set("dataType", output.domain.data_type.reference)
        if value.selected.uom:
            literal.set("uom", value.selected.uom)
        element.append(W.Data(literal, mimeType="text/plain"))
    elif value.bbox is not None:
        element.append(W.Data(bounding_box(value.bbox), mimeType="text/xml"))
    else:
        assert value.data is not None and fmt is not None
        data = W.Data()
        format_attributes(data, fmt)
        complex_data_content(data, value.data, fmt)
        element.append(data)
    return element


def bounding_box(bbox: BoundingBox) -> etree._Element:
    return ows_bounding_box(O.BoundingBox, O, bbox)


# ---------------------------------------------------------------- errors


def exception_report(error: WPSError) -> etree._Element:
    exception = O.Exception(exceptionCode=error.code2)
    if error.locator:
        exception.set("locator", xml_text(error.locator))
    exception.extend(exception_texts(O, error))
    return O.ExceptionReport(exception, version="2.0.0")
