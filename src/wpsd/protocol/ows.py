"""What WPS 1.0.0 and 2.0.0 share from OWS Common: request checks and element builders.

The builders take the element maker of the OWS version in use (ows/1.1 or ows/2.0), whose
elements have the same names and shapes in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from lxml import etree
from lxml.builder import ElementMaker

from ..config import ServiceMetadata
from ..datatypes.literals import Range
from ..datatypes.values import BoundingBox
from ..exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    OperationNotSupported,
    WPSError,
)
from ..formats import Format
from .xml import qname, xlink, xml_text


def check_service(service: str | None) -> None:
    if not service:
        raise MissingParameterValue("Parameter 'service' is missing", "service")
    if service.upper() != "WPS":
        raise InvalidParameterValue(f"Service {service!r} is not offered; use 'WPS'", "service")


def kvp_operation(params: Mapping[str, str], operations: Sequence[str]) -> str:
    """The operation a KVP request names (case-insensitively), after checking its service."""
    check_service(params.get("service"))
    name = params.get("request")
    if not name:
        raise MissingParameterValue("Parameter 'request' is missing", "request")
    for operation in operations:
        if operation.lower() == name.lower():
            return operation
    # The locator is the operation asked for (06-121r3 table 25), not the parameter's name.
    raise OperationNotSupported(f"Operation {name!r} is not supported", name)


def exception_texts(ows: ElementMaker, error: WPSError) -> list[etree._Element]:
    """The ows:ExceptionText elements of an error: its text first, then its details."""
    return [ows.ExceptionText(xml_text(text)) for text in (error.text, *error.details) if text]


def log_text(log: str, url: str | None) -> str:
    """A job's last log lines, as put in a status message or an exception's text."""
    where = f" (all of it: {url})" if url else ""
    return f"Last lines of the job's log{where}:\n{log}"


def format_attributes(element: etree._Element, fmt: Format) -> None:
    """mimeType, encoding and schema attributes, as WPS data and references carry them."""
    element.set("mimeType", fmt.mime_type)
    if fmt.encoding:
        element.set("encoding", fmt.encoding)
    if fmt.schema:
        element.set("schema", fmt.schema)


def value_range(ows: ElementMaker, namespace: str, rng: Range) -> etree._Element:
    element: etree._Element = ows.Range({qname(namespace, "rangeClosure"): rng.closure.value})
    if rng.minimum is not None:
        element.append(ows.MinimumValue(str(rng.minimum)))
    if rng.maximum is not None:
        element.append(ows.MaximumValue(str(rng.maximum)))
    if rng.spacing is not None:
        element.append(ows.Spacing(str(rng.spacing)))
    return element


def bounding_box(make: Callable[..., etree._Element], ows: ElementMaker,
                 bbox: BoundingBox) -> etree._Element:
    """A bounding box element (``make`` names it: ows:BoundingBox, wps:BoundingBoxData...)."""
    element = make(
        ows.LowerCorner(" ".join(repr(float(v)) for v in bbox.lower)),
        ows.UpperCorner(" ".join(repr(float(v)) for v in bbox.upper)),
        dimensions=str(bbox.dimensions),
    )
    if bbox.crs:
        element.set("crs", bbox.crs)
    return element


def service_metadata(ows: ElementMaker, meta: ServiceMetadata, version: str, url: str,
                     operations: Sequence[str]) -> list[etree._Element]:
    """ServiceIdentification, ServiceProvider and OperationsMetadata of a Capabilities
    document: the same elements in OWS 1.1 and 2.0."""
    identification = ows.ServiceIdentification(ows.Title(meta.title), ows.Abstract(meta.abstract))
    if meta.keywords:
        identification.append(ows.Keywords(*[ows.Keyword(k) for k in meta.keywords]))
    identification.extend([ows.ServiceType("WPS"), ows.ServiceTypeVersion(version),
                           ows.Fees(meta.fees), ows.AccessConstraints(meta.access_constraints)])
    provider = ows.ServiceProvider(ows.ProviderName(meta.provider_name))
    if meta.provider_site:
        provider.append(ows.ProviderSite({xlink("href"): meta.provider_site}))
    contact = ows.ServiceContact()
    if meta.contact_name:
        contact.append(ows.IndividualName(meta.contact_name))
    if meta.contact_email:
        contact.append(ows.ContactInfo(ows.Address(ows.ElectronicMailAddress(meta.contact_email))))
    provider.append(contact)
    metadata = ows.OperationsMetadata(*[
        ows.Operation(ows.DCP(ows.HTTP(ows.Get({xlink("href"): url + "?"}),
                                       ows.Post({xlink("href"): url}))), name=name)
        for name in operations
    ])
    return [identification, provider, metadata]
