"""Version-neutral request models: what a client asked for, already parsed.

The WPS 1.0.0 (and later 2.0.0 and OGC API) parsers produce these; the service works on
them without knowing which encoding they came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..datatypes.values import BoundingBox


@dataclass(frozen=True)
class GetCapabilities:
    accept_versions: Sequence[str] = ()
    language: str | None = None
    update_sequence: str | None = None


@dataclass(frozen=True)
class DescribeProcess:
    identifiers: Sequence[str]
    version: str
    language: str | None = None


@dataclass(frozen=True)
class LiteralData:
    text: str
    uom: str | None = None
    data_type: str | None = None


@dataclass(frozen=True)
class ComplexData:
    """Inline complex data; base64 has already been decoded into ``data``."""

    data: bytes
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    #: the data arrived as XML elements (not text) inside the request
    is_xml: bool = False


@dataclass(frozen=True)
class ReferenceData:
    href: str
    method: str = "GET"
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    body_reference: str | None = None
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None


@dataclass(frozen=True)
class BoundingBoxData:
    bbox: BoundingBox


DataValue = LiteralData | ComplexData | ReferenceData | BoundingBoxData


@dataclass(frozen=True)
class DataInput:
    identifier: str
    value: DataValue


@dataclass(frozen=True)
class OutputRequest:
    identifier: str
    as_reference: bool = False
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    uom: str | None = None


@dataclass(frozen=True)
class Execute:
    identifier: str
    version: str
    inputs: Sequence[DataInput] = ()
    #: the outputs asked for; empty means every output, by value
    outputs: Sequence[OutputRequest] = ()
    #: RawDataOutput: answer with the bare value of ``outputs[0]``
    raw: bool = False
    #: sync, async (a job) or auto (the server chooses)
    mode: str = "sync"
    #: OGC API callback URIs of an asynchronous job: (successUri|inProgressUri|failedUri, URI)
    subscriber: Sequence[tuple[str, str]] = ()
    lineage: bool = False
    status: bool = False
    store: bool = False
    language: str | None = None


@dataclass(frozen=True)
class GetStatus:
    job_id: str


@dataclass(frozen=True)
class GetResult:
    job_id: str


@dataclass(frozen=True)
class Dismiss:
    job_id: str


Request = GetCapabilities | DescribeProcess | Execute | GetStatus | GetResult | Dismiss
