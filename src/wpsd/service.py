"""The WPS operations over the process model, independent of any encoding.

The protocol layers parse a request into :mod:`wpsd.protocol.requests` models, call a
:class:`Service` method, and encode what it returns.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .datatypes.crs import same_crs
from .datatypes.inputs import ComplexInput, Input, LiteralInput
from .datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput
from .datatypes.values import BoundingBox, ComplexValue
from .exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    NoSuchFormat,
    NoSuchInput,
    NoSuchOutput,
    NoSuchProcess,
    ServerBusy,
    StorageNotSupported,
    TooManyInputs,
    VersionNegotiationFailed,
    WPSError,
    WrongInputData,
)
from .fetch import fetch_reference
from .formats import TEXT, Format
from .jobs.codec import load_outputs
from .jobs.job import Job, JobError, JobStatus, now
from .processes.context import ExecutionContext, ProgressCallback
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
from .protocol.xml import NOT_XML
from .results import ExecuteResult, OutputValue, SelectedOutput
from .storage.filesystem import FileStorage

if TYPE_CHECKING:  # the job machinery imports the service: keep the import graph acyclic
    from .jobs.executors.base import Executor
    from .jobs.pool import SyncPool
    from .jobs.store.base import JobStore

logger = logging.getLogger("wpsd")
#: seconds GetStatus and GetResult wait for a job submitted less than this long ago to end
QUICK_JOB_WAIT = 3.0


class Service:
    """The operations of a WPS server over one process registry and one output storage."""

    def __init__(
        self,
        settings: Settings,
        registry: ProcessRegistry,
        storage: FileStorage,
        store: JobStore | None = None,
        executor: Executor | None = None,
        pool: SyncPool | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.storage = storage
        #: asynchronous execution needs both a job store and an executor
        self.store = store
        self.executor = executor
        #: synchronous executions run in these worker processes; without it, in this one
        self.pool = pool

    @property
    def asynchronous(self) -> bool:
        return self.store is not None and self.executor is not None

    def supports_jobs(self, process: Process) -> bool:
        return self.asynchronous and process.asynchronous

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        if self.executor is not None:
            self.executor.shutdown()
        if self.store is not None:
            self.store.close()

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
            raise NoSuchProcess(f"No process named {identifier!r}", "identifier")
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
            raise InvalidParameterValue("storeExecuteResponse asks for a job: use submit()",
                                        "storeExecuteResponse")
        if request.status:
            raise InvalidParameterValue(
                "status=true needs storeExecuteResponse=true (OGC 05-007r7 table 51)", "status"
            )
        job_id = str(uuid.uuid4())
        if self.pool is not None:
            limit = process.time_limit or self.settings.job_time_limit
            result = ExecuteResult(job_id, process, request, selected, _now())
            result.outputs, result.error = self.pool.run(
                process.identifier, request, selected, job_id, output_url, limit)
            return result
        # Without a pool (worker processes, tools) the execution runs in this process.
        return self.run(process, request, selected, job_id, output_url)

    def submit(self, request: Execute, service_url: str, output_url: str, language: str) -> Job:
        """Accept an asynchronous job: check what can be checked now, store it, queue it."""
        process = self.get_process(request.identifier)
        select_outputs(process, request)
        if not self.supports_jobs(process) or self.store is None or self.executor is None:
            raise StorageNotSupported(
                f"Process {process.identifier!r} cannot store its response or run as a job",
                "storeExecuteResponse",
            )
        # Everything but fetching references is checked before the client gets a job id.
        self.resolve_inputs(process, request, self.settings.workdir, fetch=False)
        if self.store.count([JobStatus.ACCEPTED]) >= self.settings.max_queued_jobs:
            raise ServerBusy("Too many jobs are waiting; try again later")
        job = Job(str(uuid.uuid4()), process.identifier, request, service_url, output_url,
                  language)
        self.store.create(job)
        logger.info("job %s: %s submitted", job.id, process.identifier)
        self.executor.submit(job.id)
        return job

    def get_job(self, job_id: str) -> Job | None:
        return self.store.get(job_id) if self.store is not None else None

    def settle(self, job_id: str) -> Job | None:
        """The job, after waiting briefly if it was submitted a moment ago and may be about to
        end: a client that asks right after submitting a quick job gets its final state."""
        job = self.get_job(job_id)
        while job is not None and job.status in (JobStatus.ACCEPTED, JobStatus.RUNNING) \
                and now() - job.created < dt.timedelta(seconds=QUICK_JOB_WAIT):
            time.sleep(0.05)
            job = self.get_job(job_id)
        return job

    def expiration(self, job: Job) -> dt.datetime | None:
        """When an ended job and its outputs will be deleted."""
        if job.finished is None:
            return None
        return job.finished + dt.timedelta(seconds=self.settings.job_retention)

    def job_result(self, job: Job) -> ExecuteResult:
        """A job record as an ExecuteResult, ready to encode as a status document."""
        process = self.get_process(job.process_id)
        selected = select_outputs(process, job.request)
        # creationTime: when the job ended, or when its record last changed.
        stamp = job.finished or job.updated or job.created
        result = ExecuteResult(job.id, process, job.request, selected, stamp.replace(microsecond=0),
                               status=job.status.value, progress=job.progress,
                               message=job.message)
        if job.status is JobStatus.SUCCEEDED:
            result.outputs = load_outputs(job.outputs or [], selected)
        elif job.status in (JobStatus.FAILED, JobStatus.DISMISSED):
            error = job.error or JobError("NoApplicableCode", f"The job was {job.status.value}")
            result.error = WPSError.from_code(error.code, error.text, error.locator)
        return result

    def dismiss(self, job_id: str) -> Job | None:
        """Stop a job (its OS process ends) and remove its outputs; None for unknown ids.

        An ended job is marked dismissed too, so its id is released (WPS 2.0 NoSuchJob).
        """
        if self.store is None or self.store.get(job_id) is None:
            return None
        if self.store.finish(job_id, JobStatus.DISMISSED) or self.store.mark_dismissed(job_id):
            logger.info("job %s: dismissed", job_id)
        # The worker's own watchdog also ends it within a heartbeat, wherever it runs.
        if self.executor is not None:
            self.executor.cancel(job_id)
        self.storage.delete(job_id)
        return self.store.get(job_id)

    def cleanup(self) -> list[str]:
        """Delete ended jobs older than the retention time, with their outputs."""
        if self.store is None:
            return []
        before = now() - dt.timedelta(seconds=self.settings.job_retention)
        removed = self.store.expired(before)
        for job_id in removed:
            self.storage.delete(job_id)
            self.store.delete(job_id)
        # Synchronous executions leave outputs by reference but no job record: expire by age.
        for folder in self.storage.folders_older_than(before.timestamp()):
            if self.store.get(folder) is None:
                self.storage.delete(folder)
                removed.append(folder)
        # Working directories of executions whose process died with its server.
        workdir = self.settings.workdir
        for path in workdir.iterdir() if workdir.is_dir() else ():
            job = self.store.get(path.name[:36])
            active = job is not None and job.status in (JobStatus.ACCEPTED, JobStatus.RUNNING)
            if not active and path.stat().st_mtime < before.timestamp():
                shutil.rmtree(path, ignore_errors=True)
        if removed:
            logger.info("cleanup: removed %d expired jobs", len(removed))
        return removed

    def run(
        self,
        process: Process,
        request: Execute,
        selected: Sequence[SelectedOutput],
        job_id: str,
        output_url: str,
        progress: ProgressCallback | None = None,
    ) -> ExecuteResult:
        """Check and convert the inputs, call the handler, collect its outputs.

        Input problems raise a WPSError; a failing handler gives a result with ``error``.
        """
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
            if progress is not None:
                context._progress = progress
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
        self, process: Process, request: Execute, workdir: Path, fetch: bool = True
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check the request's inputs against the declarations and convert them to values.

        With ``fetch=False`` references are left unfetched (their values are None): a dry
        run that checks everything else without network access.
        """
        given: dict[str, list[DataValue]] = {}
        for data_input in request.inputs:
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
            converted = [
                None if not fetch and isinstance(value, ReferenceData)
                else self._convert(declared, value, workdir, uoms, n)
                for n, value in enumerate(values)
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
                raise WrongInputData(f"Input {ident!r} takes literal data", ident)
            if value.uom is not None:
                if value.uom not in declared.uoms:
                    raise WrongInputData(
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
                raise WrongInputData(f"Input {ident!r} takes complex data", ident)
            fmt = _pick_format(declared.formats, value.mime_type, value.encoding, value.schema,
                               ident)
            data = value.data
            if fmt.is_base64 and value.encoding is None:
                # The client left out encoding="base64" for a binary format: decode anyway.
                try:
                    data = base64.b64decode(b"".join(data.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise WrongInputData(
                        f"Input {ident!r}: {fmt.mime_type} data must be base64-encoded", ident
                    ) from None
            if len(data) > self._limit(declared):
                raise FileSizeExceeded(
                    f"Input {ident!r} is larger than {self._limit(declared)} bytes", ident
                )
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


def discard_workdirs(settings: Settings, job_id: str) -> None:
    """Remove a job's working directories, which a killed worker could not remove itself."""
    for folder in settings.workdir.glob(f"{job_id}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def select_outputs(process: Process, request: Execute) -> list[SelectedOutput]:
    """The outputs to deliver: those requested (format and unit checked), or all of them."""
    requests = request.outputs or [OutputRequest(o.identifier) for o in process.outputs]
    chosen = []
    for req in requests:
        output = process.output(req.identifier)
        if output is None:
            raise NoSuchOutput(
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
    raise NoSuchFormat(f"{ident!r}: format {wanted!r} is not supported ({supported})", ident)


def encode_output_value(choice: SelectedOutput, value: Any) -> OutputValue:
    """Turn what a handler returned for one output into text, bytes or a bounding box."""
    output = choice.output
    ident = output.identifier
    try:
        if isinstance(output, LiteralOutput):
            text = output.domain.data_type.format(value)
            if NOT_XML.search(text):
                raise ValueError("the value holds characters that XML cannot carry")
            return OutputValue(choice, text=text)
        if isinstance(output, BoundingBoxOutput):
            if not isinstance(value, BoundingBox):
                value = BoundingBox.from_values([float(v) for v in value], output.crss[0])
            return OutputValue(choice, bbox=value)
        assert choice.format is not None and isinstance(output, ComplexOutput)
        if isinstance(value, ComplexValue) and choice.request.mime_type is None:
            # No format asked for: keep the one the value has, if the output offers it.
            own = next((f for f in output.formats if f.matches(value.format.mime_type)), None)
            if own is not None:
                choice = dataclasses.replace(choice, format=own)
        return OutputValue(choice, data=_complex_bytes(value, choice.format or output.formats[0]))
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
