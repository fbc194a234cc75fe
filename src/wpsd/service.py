"""The WPS operations over the process model, independent of any encoding.

The protocol layers parse a request into :mod:`wpsd.protocol.requests` models, call a
:class:`Service` method, and encode what it returns.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .datatypes.inputs import ComplexInput, Input, LiteralInput
from .datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput, Output
from .datatypes.values import BoundingBox, ComplexValue
from .exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    ServerBusy,
    StorageNotSupported,
    VersionNegotiationFailed,
    WPSError,
)
from .fetch import fetch_reference
from .formats import TEXT, Format
from .processes.context import ExecutionContext
from .processes.process import Process
from .processes.registry import ProcessRegistry
from .protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataValue,
    Execute,
    LiteralData,
    OutputRequest,
    ReferenceData,
)
from .storage.filesystem import FileStorage

logger = logging.getLogger("wpsd")


@dataclass(frozen=True)
class SelectedOutput:
    """An output the client asked for, with the format or unit that will be delivered."""

    output: Output
    request: OutputRequest
    format: Format | None = None
    uom: str | None = None


@dataclass
class OutputValue:
    """One produced output, ready to encode: text, bytes or a bounding box, or a reference."""

    selected: SelectedOutput
    text: str | None = None
    data: bytes | None = None
    bbox: BoundingBox | None = None
    href: str | None = None

    @property
    def identifier(self) -> str:
        return self.selected.output.identifier


@dataclass
class ExecuteResult:
    """What an Execute produced: outputs, or the error that made the process fail."""

    job_id: str
    process: Process
    request: Execute
    selected: Sequence[SelectedOutput]
    created: dt.datetime
    outputs: list[OutputValue] = field(default_factory=list)
    error: WPSError | None = None


class Service:
    """The operations of a WPS server over one process registry and one output storage."""

    def __init__(self, settings: Settings, registry: ProcessRegistry, storage: FileStorage) -> None:
        self.settings = settings
        self.registry = registry
        self.storage = storage
        self._sync_slots = threading.BoundedSemaphore(settings.max_sync_executions)

    # ------------------------------------------------------------ discovery

    def negotiate_version(self, accept_versions: Sequence[str], supported: Sequence[str]) -> str:
        """The highest supported version the client accepts (OWS 1.1 7.3.2)."""
        if not accept_versions:
            return supported[0]
        for version in supported:
            if version in accept_versions:
                return version
        raise VersionNegotiationFailed(
            f"None of the versions {', '.join(accept_versions)} is supported; "
            f"use {', '.join(supported)}",
            "AcceptVersions",
        )

    def negotiate_language(self, language: str | None) -> str:
        languages = self.settings.languages
        if not language:
            return languages[0]
        for offered in languages:
            if offered.lower() == language.lower():
                return offered
        raise InvalidParameterValue(
            f"Language {language!r} is not offered; use one of {', '.join(languages)}", "language"
        )

    def get_process(self, identifier: str) -> Process:
        process = self.registry.get(identifier)
        if process is None:
            raise InvalidParameterValue(f"No process named {identifier!r}", "identifier")
        return process

    def describe(self, identifiers: Sequence[str]) -> list[Process]:
        if any(i.lower() == "all" for i in identifiers):
            return list(self.registry)
        return [self.get_process(i) for i in identifiers]

    # ------------------------------------------------------------ execution

    def execute(self, request: Execute, output_url: str) -> ExecuteResult:
        """Run a process synchronously.

        Problems with the request raise a :class:`WPSError`; a handler that fails gives a
        result whose ``error`` is set, so the client gets a ProcessFailed document.
        """
        process = self.get_process(request.identifier)
        selected = select_outputs(process, request)
        if request.store:
            raise StorageNotSupported(
                "This server does not store execute responses yet", "storeExecuteResponse"
            )
        if request.status:
            raise InvalidParameterValue(
                "status=true needs storeExecuteResponse=true (OGC 05-007r7 table 51)", "status"
            )
        if not self._sync_slots.acquire(blocking=False):
            raise ServerBusy("Too many executions are running; try again later")
        try:
            return self._run(process, request, selected, output_url)
        finally:
            self._sync_slots.release()

    def _run(
        self,
        process: Process,
        request: Execute,
        selected: Sequence[SelectedOutput],
        output_url: str,
    ) -> ExecuteResult:
        job_id = str(uuid.uuid4())
        result = ExecuteResult(job_id, process, request, selected, _now())
        self.settings.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=self.settings.workdir))
        log = logging.LoggerAdapter(logger, {"job_id": job_id})
        try:
            kwargs, uoms = self.resolve_inputs(process, request, workdir)
            context = ExecutionContext(
                workdir=workdir,
                job_id=job_id,
                logger=log,
                output_formats={s.output.identifier: s.format for s in selected if s.format},
                input_uoms=uoms,
            )
            log.info("job %s: %s started", job_id, process.identifier)
            try:
                if process.wants_context:
                    returned = process.handler(**kwargs, context=context)
                else:
                    returned = process.handler(**kwargs)
                result.outputs = self._collect_outputs(process, returned, selected, job_id,
                                                       output_url, bool(request.outputs))
            except WPSError as exc:
                result.error = exc
            except Exception as exc:
                log.exception("job %s: process %s failed", job_id, process.identifier)
                result.error = NoApplicableCode(
                    f"Process {process.identifier!r} failed: {type(exc).__name__}: {exc}"
                )
            if result.error:
                log.error("job %s: %s failed: %s", job_id, process.identifier, result.error.text)
            else:
                log.info("job %s: %s succeeded", job_id, process.identifier)
            return result
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # ------------------------------------------------------------ inputs

    def resolve_inputs(
        self, process: Process, request: Execute, workdir: Path
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check the request's inputs against the declarations and convert them to values."""
        given: dict[str, list[DataValue]] = {}
        for data_input in request.inputs:
            if process.input(data_input.identifier) is None:
                raise InvalidParameterValue(
                    f"Process {process.identifier!r} has no input {data_input.identifier!r}",
                    data_input.identifier,
                )
            given.setdefault(data_input.identifier, []).append(data_input.value)
        kwargs: dict[str, Any] = {}
        uoms: dict[str, str] = {}
        for declared in process.inputs:
            ident = declared.identifier
            values = given.get(ident, [])
            if len(values) > declared.max_occurs:
                raise InvalidParameterValue(
                    f"Input {ident!r} may occur at most {declared.max_occurs} times", ident
                )
            default = getattr(declared, "default", None)
            if len(values) < declared.min_occurs and default is None:
                raise MissingParameterValue(f"Input {ident!r} is required", ident)
            converted = [
                self._convert(declared, value, workdir, uoms, n) for n, value in enumerate(values)
            ]
            if not converted and default is not None:
                converted = [default]
            if declared.max_occurs > 1:
                kwargs[ident] = converted
            else:
                kwargs[ident] = converted[0] if converted else None
        return kwargs, uoms

    def _convert(
        self, declared: Input, value: DataValue, workdir: Path, uoms: dict[str, str], n: int
    ) -> Any:
        ident = declared.identifier
        if isinstance(declared, LiteralInput):
            if isinstance(value, ReferenceData):
                text = self._fetch(value, declared).decode("utf-8", errors="replace")
                value = LiteralData(text=text)
            if not isinstance(value, LiteralData):
                raise InvalidParameterValue(f"Input {ident!r} takes literal data", ident)
            if value.uom is not None:
                if value.uom not in declared.uoms:
                    raise InvalidParameterValue(
                        f"Input {ident!r}: unit {value.uom!r} is not supported", ident
                    )
                uoms[ident] = value.uom
            elif declared.uoms:
                uoms[ident] = declared.uoms[0]
            return declared.domain.convert(value.text, ident)

        if isinstance(declared, ComplexInput):
            if isinstance(value, ReferenceData):
                fmt = _pick_format(declared.formats, value.mime_type, value.encoding,
                                   value.schema, ident)
                data = self._fetch(value, declared)
                return ComplexValue(data, fmt, href=value.href, workdir=workdir,
                                    name=f"{ident}_{n}")
            if not isinstance(value, ComplexData):
                raise InvalidParameterValue(f"Input {ident!r} takes complex data", ident)
            fmt = _pick_format(declared.formats, value.mime_type, value.encoding, value.schema,
                               ident)
            data = value.data
            if fmt.is_base64 and value.encoding is None:
                # The client left out encoding="base64" for a binary format: decode anyway.
                try:
                    data = base64.b64decode(b"".join(data.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidParameterValue(
                        f"Input {ident!r}: {fmt.mime_type} data must be base64-encoded", ident
                    ) from None
            if len(data) > self._limit(declared):
                raise FileSizeExceeded(
                    f"Input {ident!r} is larger than {self._limit(declared)} bytes", ident
                )
            return ComplexValue(data, fmt, workdir=workdir, name=f"{ident}_{n}")

        if not isinstance(value, BoundingBoxData):
            raise InvalidParameterValue(f"Input {ident!r} takes a bounding box", ident)
        bbox = value.bbox
        if bbox.crs is None:
            bbox = BoundingBox(bbox.lower, bbox.upper, declared.crss[0])
        elif bbox.crs not in declared.crss:
            raise InvalidParameterValue(
                f"Input {ident!r}: CRS {bbox.crs!r} is not supported", ident
            )
        if bbox.dimensions != declared.dimensions:
            raise InvalidParameterValue(
                f"Input {ident!r} needs {declared.dimensions} dimensions", ident
            )
        return bbox

    def _limit(self, declared: ComplexInput | LiteralInput) -> int:
        megabytes = getattr(declared, "max_megabytes", None) or self.settings.max_input_megabytes
        return int(megabytes * 1024 * 1024)

    def _fetch(self, reference: ReferenceData, declared: ComplexInput | LiteralInput) -> bytes:
        return fetch_reference(
            reference,
            declared.identifier,
            max_bytes=self._limit(declared),
            timeout=self.settings.reference_timeout,
            schemes=self.settings.reference_schemes,
        )

    # ------------------------------------------------------------ outputs

    def _collect_outputs(
        self,
        process: Process,
        returned: Any,
        selected: Sequence[SelectedOutput],
        job_id: str,
        output_url: str,
        explicit: bool,
    ) -> list[OutputValue]:
        if not isinstance(returned, Mapping):
            raise NoApplicableCode(
                f"Process {process.identifier!r} returned {type(returned).__name__}, "
                "not a dict of outputs"
            )
        unknown = set(returned) - {o.identifier for o in process.outputs}
        if unknown:
            raise NoApplicableCode(
                f"Process {process.identifier!r} returned unknown outputs: {sorted(unknown)}"
            )
        values = []
        for choice in selected:
            ident = choice.output.identifier
            if returned.get(ident) is None:
                if not explicit:
                    continue  # an output nobody asked for by name may be left out
                raise NoApplicableCode(f"Process {process.identifier!r} produced no {ident!r}")
            value = encode_output_value(choice, returned[ident])
            if choice.request.as_reference:
                data = value.data if value.data is not None else (value.text or "").encode()
                key = self.storage.store(job_id, ident, data, choice.format or TEXT)
                value = OutputValue(choice, href=output_url + key)
            values.append(value)
        return values


def select_outputs(process: Process, request: Execute) -> list[SelectedOutput]:
    """The outputs to deliver: those requested (format and unit checked), or all of them."""
    requests = request.outputs or [OutputRequest(o.identifier) for o in process.outputs]
    if request.raw and len(requests) != 1:
        raise InvalidParameterValue("RawDataOutput names exactly one output", "RawDataOutput")
    chosen = []
    for req in requests:
        output = process.output(req.identifier)
        if output is None:
            raise InvalidParameterValue(
                f"Process {process.identifier!r} has no output {req.identifier!r}", req.identifier
            )
        if isinstance(output, ComplexOutput):
            fmt = _pick_format(output.formats, req.mime_type, req.encoding, req.schema,
                               req.identifier)
            chosen.append(SelectedOutput(output, req, format=fmt))
        elif isinstance(output, LiteralOutput):
            if req.uom is not None and req.uom not in output.uoms:
                raise InvalidParameterValue(
                    f"Output {req.identifier!r}: unit {req.uom!r} is not supported", req.identifier
                )
            uom = req.uom or (output.uoms[0] if output.uoms else None)
            chosen.append(SelectedOutput(output, req, uom=uom))
        else:
            if req.as_reference:
                raise InvalidParameterValue(
                    f"Output {req.identifier!r}: bounding boxes are returned by value only",
                    req.identifier,
                )
            chosen.append(SelectedOutput(output, req))
    return chosen


def _pick_format(
    formats: Sequence[Format],
    mime_type: str | None,
    encoding: str | None,
    schema: str | None,
    ident: str,
) -> Format:
    for fmt in formats:
        if fmt.matches(mime_type, encoding, schema):
            return fmt
    supported = ", ".join(f.mime_type for f in formats)
    wanted = " ".join(filter(None, (mime_type, encoding, schema)))
    raise InvalidParameterValue(
        f"{ident!r}: format {wanted!r} is not supported ({supported})", ident
    )


def encode_output_value(choice: SelectedOutput, value: Any) -> OutputValue:
    """Turn what a handler returned for one output into text, bytes or a bounding box."""
    output = choice.output
    ident = output.identifier
    try:
        if isinstance(output, LiteralOutput):
            return OutputValue(choice, text=output.domain.data_type.format(value))
        if isinstance(output, BoundingBoxOutput):
            if not isinstance(value, BoundingBox):
                value = BoundingBox.from_values([float(v) for v in value], output.crss[0])
            return OutputValue(choice, bbox=value)
        assert choice.format is not None
        return OutputValue(choice, data=_complex_bytes(value, choice.format))
    except (TypeError, ValueError, OSError) as exc:
        raise NoApplicableCode(f"Output {ident!r}: cannot encode {type(value).__name__}: {exc}") \
            from None


def _complex_bytes(value: Any, fmt: Format) -> bytes:
    if isinstance(value, ComplexValue):
        return value.data
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, Path):
        return value.read_bytes()
    if isinstance(value, str):
        return value.encode(fmt.encoding if fmt.encoding and not fmt.is_base64 else "utf-8")
    if fmt.is_json:
        return json.dumps(value).encode("utf-8")
    raise TypeError(f"expected bytes, str or a file path for {fmt.mime_type}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
