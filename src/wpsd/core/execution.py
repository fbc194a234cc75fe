"""One execution of a process, the same wherever it runs.

A web node turns a client's request into an :class:`ExecutionRequest` (protocol-neutral and
picklable), checks it with :func:`check_request`, and hands it to an executor; the executor's
process calls :func:`execute`, which binds the inputs (fetching references), calls the handler
and collects its outputs into an :class:`Outcome` (outputs or an error, picklable too). A
synchronous execution, an asynchronous job and a job on a cluster all travel this one path.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..datatypes.crs import same_crs
from ..datatypes.inputs import ComplexInput, Input, LiteralInput
from ..datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput
from ..datatypes.values import BoundingBox, ComplexValue
from ..exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    NoSuchFormat,
    NoSuchInput,
    NoSuchOutput,
    TooManyInputs,
    WPSError,
    WrongInputData,
)
from ..formats import TEXT, Format
from ..processes.context import ExecutionContext, ProgressCallback
from ..processes.process import Process
from ..protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    DataValue,
    LiteralData,
    OutputRequest,
    ReferenceData,
)
from ..protocol.xml import NOT_XML
from .job import JobError
from .results import SelectedOutput

logger = logging.getLogger("wpsd")
#: characters of a failed handler's traceback kept in its job record (its end: the raise)
MAX_TRACE = 16 * 1024


@dataclass(frozen=True)
class ExecutionRequest:
    """What to run: a process, its inputs as the client gave them, the outputs it asked for.

    ``outputs`` empty means every output, in its default transmission (by value unless the
    output is declared ``as_reference``). ``job_id`` names the working directory and the
    stored outputs; for a synchronous execution it is a fresh id with no job record.
    """

    job_id: str
    process_id: str
    inputs: tuple[DataInput, ...] = ()
    outputs: tuple[OutputRequest, ...] = ()
    #: where outputs kept by reference are served (the URL a key is appended to), for the
    #: links of files a handler keeps itself (:meth:`ExecutionContext.store_file`)
    output_url: str = ""


@dataclass(frozen=True)
class ProducedOutput:
    """One output as produced: text, bytes or a bounding box, or the storage key of a file."""

    identifier: str
    text: str | None = None
    data: bytes | None = None
    bbox: BoundingBox | None = None
    #: where the value was stored, for outputs asked for by reference
    key: str | None = None
    #: the format it was produced in (complex outputs; the handler may choose among several)
    format: Format | None = None


@dataclass(frozen=True)
class Outcome:
    """How an execution ended: its outputs, or the error that ended it.

    ``rejected`` errors were found in the request before the handler ran (a bad reference,
    an input out of range): a client error, where the other errors failed the process.
    """

    outputs: tuple[ProducedOutput, ...] = ()
    error: JobError | None = None
    rejected: bool = False

    @classmethod
    def failure(cls, error: WPSError, rejected: bool = False) -> Outcome:
        return cls(error=JobError(error.code2, error.text, error.locator, error.status),
                   rejected=rejected)


class OutputStore(Protocol):
    """Where outputs asked for by reference are written (see :mod:`wpsd.ports`)."""

    def store(self, job_id: str, name: str, data: bytes | Path, fmt: Format) -> str: ...

    def url(self, key: str) -> str | None: ...


#: fetches one input reference within a size limit: (reference, input id, max bytes) -> bytes
Fetch = Callable[[ReferenceData, str, int], bytes]
#: refuses (raises a WPSError located at the input) a URL that would not be fetched
CheckURL = Callable[[str, str], None]


def _any_url(url: str, identifier: str) -> None:
    pass


@dataclass(frozen=True)
class Environment:
    """What an execution may use on the machine that runs it."""

    workdir: Path
    storage: OutputStore
    fetch: Fetch
    #: size limit of a complex input that declares none itself
    max_input_bytes: int = 32 * 1024 * 1024
    check_url: CheckURL = _any_url


def execute(
    process: Process,
    request: ExecutionRequest,
    env: Environment,
    progress: ProgressCallback | None = None,
) -> Outcome:
    """Bind the inputs, call the handler, collect the outputs. Never raises."""
    job_id = request.job_id
    started = time.monotonic()
    log = logging.LoggerAdapter(logger, {"job_id": job_id})
    # Made only when the handler uses it (most never do): its name is unique, as the job's id.
    workdir = env.workdir / f"{job_id}-w"
    try:
        try:
            selected = select_outputs(process, request.outputs)
            kwargs, uoms = bind_inputs(process, request.inputs, env, workdir)
        except WPSError as exc:
            log.info("job %s: %s rejected: %s", job_id, process.identifier, exc.text)
            return Outcome.failure(exc, rejected=True)

        def store_file(name: str, data: bytes | Path, fmt: Format) -> str:
            key = env.storage.store(job_id, name, data, fmt)
            return env.storage.url(key) or request.output_url + key

        context = ExecutionContext(
            _workdir=workdir, job_id=job_id, logger=log,
            output_formats={s.output.identifier: s.format for s in selected if s.format},
            input_uoms=uoms, _store=store_file,
        )
        if progress is not None:
            context._progress = progress
        try:
            if process.wants_context:
                returned = process.handler(**kwargs, context=context)
            else:
                returned = process.handler(**kwargs)
            produced = collect_outputs(process, returned, selected, job_id, env.storage)
        except WPSError as exc:  # raised on purpose: its text is meant for the client
            log.error("job %s: %s failed: %s", job_id, process.identifier, exc.text)
            return Outcome.failure(exc)
        except Exception:
            # The traceback goes to the log and the job record (for the operator); the
            # client learns only that the process failed.
            log.exception("job %s: process %s failed", job_id, process.identifier)
            failed = Outcome.failure(NoApplicableCode(
                f"Process {process.identifier!r} failed; the server log of job {job_id} "
                "tells why"))
            assert failed.error is not None
            trace = traceback.format_exc()[-MAX_TRACE:]
            return replace(failed, error=replace(failed.error, trace=trace))
        log.info("job %s: %s succeeded in %.2f s", job_id, process.identifier,
                 time.monotonic() - started)
        return Outcome(tuple(produced))
    finally:
        if workdir.exists():
            shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- checks before running


def check_request(process: Process, request: ExecutionRequest, env: Environment
                  ) -> list[SelectedOutput]:
    """Everything about a request that can be checked without fetching a reference; returns
    the selected outputs.

    Run by the web node before the request takes an execution slot or becomes a job, so
    that the client gets a 400 at once instead of a failed job.
    """
    selected = select_outputs(process, request.outputs)
    bind_inputs(process, request.inputs, env, None)
    return selected


def select_outputs(process: Process, requests: Sequence[OutputRequest]
                   ) -> list[SelectedOutput]:
    """The outputs to deliver: those requested (format and unit checked), or all of them."""
    chosen = []
    defaults = [OutputRequest(o.identifier, as_reference=getattr(o, "as_reference", False))
                for o in process.outputs]
    for req in requests or defaults:
        output = process.output(req.identifier)
        if output is None:
            raise NoSuchOutput(
                f"Process {process.identifier!r} has no output {req.identifier!r}", req.identifier
            )
        if isinstance(output, ComplexOutput):
            fmt = pick_format(output.formats, req.mime_type, req.encoding, req.schema,
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


def pick_format(
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
    raise NoSuchFormat(f"{ident!r}: format {wanted!r} is not supported ({supported})", ident)


# ---------------------------------------------------------------- inputs


def bind_inputs(
    process: Process, inputs: Sequence[DataInput], env: Environment, workdir: Path | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The handler's keyword arguments and the units given, checked against the declarations.

    Without a ``workdir`` nothing is fetched (references bind to None): a dry run.
    """
    given: dict[str, list[DataValue]] = {}
    for data_input in inputs:
        if process.input(data_input.identifier) is None:
            raise NoSuchInput(
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
            raise TooManyInputs(
                f"Input {ident!r} may occur at most {declared.max_occurs} times", ident
            )
        default = getattr(declared, "default", None)
        if len(values) < declared.min_occurs and default is None:
            raise MissingParameterValue(f"Input {ident!r} is required", ident)
        converted: list[Any] = []
        for n, value in enumerate(values):
            if workdir is None and isinstance(value, ReferenceData):
                _check_reference(value, ident, env)
                converted.append(None)
            else:
                converted.append(_convert(declared, value, env, workdir, uoms, n))
        if not converted and default is not None:
            converted = [default]
        if declared.max_occurs > 1:
            kwargs[ident] = converted
        else:
            kwargs[ident] = converted[0] if converted else None
    return kwargs, uoms


def _check_reference(reference: ReferenceData, ident: str, env: Environment) -> None:
    """A dry run's reference: refused now if it would be refused when fetched; binds None."""
    env.check_url(reference.href, ident)
    if reference.body_reference:
        env.check_url(reference.body_reference, ident)


def input_limit(declared: ComplexInput | LiteralInput, env: Environment) -> int:
    megabytes = getattr(declared, "max_megabytes", None)
    return int(megabytes * 1024 * 1024) if megabytes else env.max_input_bytes


def _convert(declared: Input, value: DataValue, env: Environment, workdir: Path | None,
             uoms: dict[str, str], n: int) -> Any:
    ident = declared.identifier
    if isinstance(declared, LiteralInput):
        if isinstance(value, ReferenceData):
            data = env.fetch(value, ident, input_limit(declared, env))
            value = LiteralData(text=data.decode("utf-8", errors="replace"))
        if not isinstance(value, LiteralData):
            raise WrongInputData(f"Input {ident!r} takes literal data", ident)
        if value.uom is not None:
            if value.uom not in declared.uoms:
                raise WrongInputData(f"Input {ident!r}: unit {value.uom!r} is not supported",
                                     ident)
            uoms[ident] = value.uom
        elif declared.uoms:
            uoms[ident] = declared.uoms[0]
        return declared.domain.convert(value.text, ident)

    if isinstance(declared, ComplexInput):
        if isinstance(value, ReferenceData):
            fmt = pick_format(declared.formats, value.mime_type, value.encoding, value.schema,
                              ident)
            data = env.fetch(value, ident, input_limit(declared, env))
            return ComplexValue(data, fmt, href=value.href, workdir=workdir, name=f"{ident}_{n}")
        if not isinstance(value, ComplexData):
            raise WrongInputData(f"Input {ident!r} takes complex data", ident)
        fmt = pick_format(declared.formats, value.mime_type, value.encoding, value.schema, ident)
        data = value.data
        if fmt.is_base64 and value.encoding is None:
            # The client left out encoding="base64" for a binary format: decode anyway.
            try:
                data = base64.b64decode(b"".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                raise WrongInputData(
                    f"Input {ident!r}: {fmt.mime_type} data must be base64-encoded", ident
                ) from None
        limit = input_limit(declared, env)
        if len(data) > limit:
            raise FileSizeExceeded(f"Input {ident!r} is larger than {limit} bytes", ident)
        return ComplexValue(data, fmt, workdir=workdir, name=f"{ident}_{n}")

    if not isinstance(value, BoundingBoxData):
        raise WrongInputData(f"Input {ident!r} takes a bounding box", ident)
    bbox = value.bbox
    if bbox.crs is None:
        bbox = BoundingBox(bbox.lower, bbox.upper, declared.crss[0])
    elif not any(same_crs(bbox.crs, crs) for crs in declared.crss):
        raise WrongInputData(f"Input {ident!r}: CRS {bbox.crs!r} is not supported", ident)
    if bbox.dimensions != declared.dimensions:
        raise WrongInputData(f"Input {ident!r} needs {declared.dimensions} dimensions", ident)
    return bbox


# ---------------------------------------------------------------- outputs


def collect_outputs(
    process: Process,
    returned: Any,
    selected: Sequence[SelectedOutput],
    job_id: str,
    storage: OutputStore,
) -> list[ProducedOutput]:
    """The selected outputs the handler produced; an output it left None is not produced, and
    the answer leaves it out (whether or not the client named it)."""
    if not isinstance(returned, Mapping):
        raise NoApplicableCode(f"Process {process.identifier!r} returned no dict of outputs")
    unknown = set(returned) - {o.identifier for o in process.outputs}
    if unknown:
        raise NoApplicableCode(
            f"Process {process.identifier!r} returned unknown outputs: {sorted(unknown)}"
        )
    produced = []
    for choice in selected:
        ident = choice.output.identifier
        if returned.get(ident) is None:
            continue
        if choice.request.as_reference and isinstance(returned[ident], Path) \
                and choice.format is not None:
            # A file goes to the storage as a file: a large output is never read into memory.
            produced.append(ProducedOutput(
                ident, key=_store_file(storage, job_id, ident, returned[ident], choice.format),
                format=choice.format))
            continue
        value = encode_output(choice, returned[ident])
        if choice.request.as_reference:
            data = value.data if value.data is not None else (value.text or "").encode()
            key = storage.store(job_id, ident, data, value.format or TEXT)
            value = ProducedOutput(ident, key=key, format=value.format)
        produced.append(value)
    return produced


def _store_file(storage: OutputStore, job_id: str, ident: str, path: Path, fmt: Format) -> str:
    if not path.is_file():  # checked here: a storage's own error would not name the output
        raise NoApplicableCode(f"Output {ident!r}: cannot encode the value: {path} is no file")
    return storage.store(job_id, ident, path, fmt)


def encode_output(choice: SelectedOutput, value: Any) -> ProducedOutput:
    """Turn what a handler returned for one output into text, bytes or a bounding box."""
    output = choice.output
    ident = output.identifier
    try:
        if isinstance(output, LiteralOutput):
            text = output.domain.data_type.format(value)
            if NOT_XML.search(text):
                raise ValueError("the value holds characters that XML cannot carry")
            return ProducedOutput(ident, text=text)
        if isinstance(output, BoundingBoxOutput):
            if not isinstance(value, BoundingBox):
                value = BoundingBox.from_values([float(v) for v in value], output.crss[0])
            return ProducedOutput(ident, bbox=value)
        assert choice.format is not None and isinstance(output, ComplexOutput)
        fmt = choice.format
        if isinstance(value, ComplexValue) and choice.request.mime_type is None:
            # No format asked for: keep the one the value has, if the output offers it.
            fmt = next((f for f in output.formats if f.matches(value.format.mime_type)), fmt)
        return ProducedOutput(ident, data=_complex_bytes(value, fmt), format=fmt)
    except (TypeError, ValueError, OSError) as exc:
        raise NoApplicableCode(f"Output {ident!r}: cannot encode the value: {exc}") from None


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


