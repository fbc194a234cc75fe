"""One run of a PyWPS handler on wpsd.

The handler gets what PyWPS 4.8 gives it: a ``WPSRequest`` whose ``inputs`` map each input
given (or filled from its default) to a ``deque`` of copies of its PyWPS declaration holding
the value, and a response whose ``outputs`` are copies of the output declarations, with
``update_status``. Inputs arrive bound and checked by wpsd (references fetched under its
outbound policy and size limits); the PyWPS setters then convert and validate them once more,
as PyWPS would, with each input's ``mode``. What the handler leaves in ``response.outputs``
becomes the values a wpsd handler returns.

The process is deep-copied for each run, as PyWPS does, with its ``workdir`` the execution's
private directory: nothing a run sets on ``self`` reaches another run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import shutil
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import ParseResult, unquote, urlsplit

import requests
from pywps.app.exceptions import ProcessError
from pywps.app.WPSRequest import WPSRequest
from pywps.exceptions import NoApplicableCode as PyWPSError
from pywps.inout import outputs as pywps_outputs
from pywps.inout.basic import UOM, FileHandler
from pywps.inout.inputs import BoundingBoxInput, ComplexInput, LiteralInput
from pywps.inout.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput
from pywps.inout.storage import STORE_TYPE, CachedStorage
from pywps.response.status import WPS_STATUS

from ...datatypes.values import BoundingBox, ComplexValue
from ...exceptions import InvalidParameterValue, NoApplicableCode
from ...formats import Format
from ...processes.context import ExecutionContext
from .declarations import Binding, wpsd_format

logger = logging.getLogger("wpsd")
#: seconds to wait for the server of an output a handler gave as a URL
DOWNLOAD_TIMEOUT = 60.0


def run(binding: Binding, context: ExecutionContext, values: Mapping[str, Any]
        ) -> dict[str, Any]:
    """Run the PyWPS handler of ``binding`` on the inputs wpsd bound; returns its outputs."""
    process = copy.deepcopy(binding.template)
    process.set_workdir(str(context.workdir))
    process._set_uuid(context.job_id)
    request = build_request(binding, process, context, values)
    response = ExecuteResponse(process, request, context)
    for ident, fmt in context.output_formats.items():
        output = response.outputs.get(ident)
        if isinstance(output, ComplexOutput):
            output.data_format = binding.pywps_output_format(ident, fmt)
    keeper = _Keeper(context, (o.identifier for o in process.outputs))
    given = [inpt for inputs in request.inputs.values() for inpt in inputs]
    with _files_kept_by(keeper):
        try:
            process.handler(request, response)
        except ProcessError as exc:
            # Its message is meant for the client, sanitised by PyWPS, worded as PyWPS does.
            raise NoApplicableCode(f"Process error: {exc}") from None
        finally:
            _close_streams(given)
        return collect(binding, response, context)


def _close_streams(inputs: Iterable[Any]) -> None:
    """Close the files PyWPS opened for the handler's ``.stream`` reads of file inputs:
    a sync process runs many executions, which must not leave it their descriptors."""
    for inpt in inputs:
        stream = getattr(getattr(inpt, "_iohandler", None), "_stream", None)
        if stream is not None and hasattr(stream, "close"):
            stream.close()


# ---------------------------------------------------------------- the request


def build_request(binding: Binding, process: Any, context: ExecutionContext,
                  values: Mapping[str, Any]) -> Any:
    """A PyWPS ``WPSRequest`` of an Execute with these inputs, as PyWPS's Service fills it."""
    request = WPSRequest()
    request.operation = "execute"
    request.version = "1.0.0"
    request.language = "en-US"
    request.identifier = process.identifier
    request.outputs = {ident: {"mimetype": fmt.mime_type, "encoding": fmt.encoding or "",
                               "schema": fmt.schema or ""}
                       for ident, fmt in context.output_formats.items()}
    inputs: dict[str, deque[Any]] = {}
    for declared in process.inputs:
        ident = declared.identifier
        given = values.get(ident)
        if ident in binding.multiple:
            items = [v for v in given or () if v is not None]
        else:
            items = [] if given is None else [given]
        if items:
            inputs[ident] = deque((_input(binding, declared, v, context) for v in items),
                                  maxlen=declared.max_occurs)
        elif declared._default is not None:
            # PyWPS fills in an input left out that has a default (a complex or bounding box
            # default only where min_occurs is 0) with a copy of its declaration.
            clone = declared.clone()
            if isinstance(clone, ComplexInput) and not clone.data_set:
                clone._set_default_value()
            if isinstance(clone, LiteralInput):
                _compare_as_names(clone)
            inputs[ident] = deque([clone], maxlen=declared.max_occurs)
    request.inputs = inputs
    return request


def _input(binding: Binding, declared: Any, value: Any, context: ExecutionContext) -> Any:
    ident = declared.identifier
    clone = declared.clone()
    try:
        if isinstance(declared, LiteralInput):
            given = context.input_uoms.get(ident)
            if given is not None:
                clone.uom = given
            _compare_as_names(clone)
            clone.data = value  # converted and validated by PyWPS
        elif isinstance(declared, ComplexInput):
            assert isinstance(value, ComplexValue)
            clone.data_format = binding.pywps_input_format(ident, value.format)
            if value.href is not None:
                path = clone._build_file_name(href=value.href)
                Path(path).write_bytes(value.data)
                clone.inpt = {"identifier": ident, "href": value.href}
                clone._iohandler = _Fetched(path, value.href, clone)
                clone._check_valid()
            else:
                clone.inpt = {"identifier": ident}
                clone.data = _inline(value)
        elif isinstance(declared, BoundingBoxInput):
            assert isinstance(value, BoundingBox)
            clone.data = [*value.lower, *value.upper]
            clone.crs = value.crs
            clone.dimensions = value.dimensions
    except PyWPSError as exc:  # a mode's validator refused it
        raise InvalidParameterValue(f"Input {ident!r}: {exc.description}", ident) from None
    return clone


def _inline(value: ComplexValue) -> str | bytes:
    """Inline complex data as PyWPS holds it: text as str, base64-decoded data as bytes."""
    if value.format.is_base64:
        return value.data
    try:
        return value.text
    except (UnicodeDecodeError, LookupError):
        return value.data


def _compare_as_names(clone: Any) -> None:
    """Make a literal input's unit a ``UOM`` that also equals its name.

    PyWPS hands a handler the bare string of a unit the client gave (``""`` when an XML
    request gave none) and the declared ``UOM`` otherwise, so handlers compare ``.uom``
    with strings and read ``.uom.uom``; this unit does both.
    """
    unit = clone.uom
    if unit is None or isinstance(unit, str) and not unit:
        return
    name = unit.uom if isinstance(unit, UOM) else str(unit)
    reference = next((u.reference for u in clone.uoms if u.uom == name), None)
    clone.uom = _UOM(name, reference)


class _UOM(UOM):  # type: ignore[misc]
    """A unit that equals its name as well as any ``UOM`` of that name."""

    def __eq__(self, other: object) -> bool:
        name = other.uom if isinstance(other, UOM) else other
        return bool(self.uom == name)

    def __hash__(self) -> int:
        return hash(self.uom)

    def __str__(self) -> str:
        return str(self.uom)


class _Fetched(FileHandler):  # type: ignore[misc]
    """A reference input, fetched by wpsd into ``path``: ``url`` is where it came from, as
    for PyWPS's own handler of references, while ``file``, ``data`` and ``stream`` read the
    fetched copy."""

    prop = "url"

    def __init__(self, path: str, href: str, ref: Any) -> None:
        super().__init__(path, ref)
        self._url = href
        self._post_data = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def post_data(self) -> Any:
        return self._post_data

    @post_data.setter
    def post_data(self, value: Any) -> None:
        self._post_data = value


# ---------------------------------------------------------------- the response


class ExecuteResponse:
    """What a PyWPS handler gets as ``response``: the outputs to fill in, and
    ``update_status`` to report progress (as on PyWPS, the percentage stays what it was when
    only a message is given)."""

    def __init__(self, process: Any, request: Any, context: ExecutionContext) -> None:
        self.process = process
        self.wps_request = request
        self.uuid = context.job_id
        self.outputs: dict[str, Any] = {o.identifier: o for o in process.outputs}
        self.status = WPS_STATUS.STARTED
        self.message = ""
        self.status_percentage: float = 0
        self.store_status_file = False
        self._context = context

    def update_status(self, message: str, status_percentage: float | None = None) -> None:
        if status_percentage is None:
            status_percentage = self.status_percentage
        self._update_status(self.status, message, status_percentage, False)

    def _update_status(self, status: int, message: str, status_percentage: float,
                       clean: bool = True) -> None:
        """PyWPS's own variant, which some handlers call too."""
        self.status, self.message = status, str(message)
        self.status_percentage = status_percentage
        self._context.report_progress(float(status_percentage), self.message)


# ---------------------------------------------------------------- the outputs


def collect(binding: Binding, response: ExecuteResponse, context: ExecutionContext
            ) -> dict[str, Any]:
    """The outputs the handler set in ``response.outputs``, as a wpsd handler returns them."""
    produced: dict[str, Any] = {}
    for ident, output in response.outputs.items():
        if isinstance(output, LiteralOutput):
            value = _literal(output)
        elif isinstance(output, BoundingBoxOutput):
            value = _bounding_box(output)
        elif isinstance(output, ComplexOutput):
            value = _complex(binding, ident, output, context)
        else:
            value = output  # not a PyWPS output: wpsd's collector says what is wrong
        if value is not None:
            produced[ident] = value
    return produced


def _literal(output: Any) -> Any:
    data = output.data
    if data is None:
        return None
    if isinstance(data, ParseResult):  # what PyWPS makes of an anyURI
        data = data.geturl()
    declared = output.uoms[0].uom if output.uoms else None
    chosen = output.uom.uom if isinstance(output.uom, UOM) else output.uom
    if chosen and chosen != declared:
        logger.warning("output %r: the unit %r that the handler set is not reported; wpsd "
                       "names the unit the client asked for, else the first declared one",
                       output.identifier, chosen)
    return data


def _bounding_box(output: Any) -> BoundingBox | None:
    if not output.data:
        return None
    return BoundingBox.from_values([float(v) for v in output.data], output.crs or None)


def _complex(binding: Binding, ident: str, output: Any, context: ExecutionContext) -> Any:
    prop = output.prop
    if prop is None:
        return None
    fmt = binding.wpsd_output_format(ident, output.data_format)
    if prop in ("file", "url"):
        path = Path(output.file) if prop == "file" else _download(output.url, context)
        if fmt == context.output_formats.get(ident):
            return path  # kept as a file: a large output is never read into memory
        return ComplexValue(path.read_bytes(), fmt)
    data = output.data  # set as data, or a stream PyWPS reads
    if data is None:
        return None
    return ComplexValue(_complex_bytes(data, fmt), fmt)


def _complex_bytes(data: Any, fmt: Format) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    text = data if isinstance(data, str) else (
        json.dumps(data) if fmt.is_json else str(data))
    charset = fmt.encoding if fmt.encoding and not fmt.is_base64 else "utf-8"
    return text.encode(charset)


def _download(url: str, context: ExecutionContext) -> Path:
    """The resource of an output the handler gave as a URL, copied into the working
    directory: wpsd serves what it returns (PyWPS would link to it)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    target = context.workdir / (Path(parts.path).name or "output")
    with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as answer:
        answer.raise_for_status()
        with target.open("wb") as out:
            shutil.copyfileobj(answer.raw, out)
    return target


# ---------------------------------------------------------------- files PyWPS stores itself


class _Keeper:
    """Keeps the files PyWPS would put into its output storage (the files of a ``MetaLink``)
    with the execution's outputs, each under a name of its own."""

    def __init__(self, context: ExecutionContext, taken: Iterable[str]) -> None:
        self.context = context
        self.taken = {name.lower() for name in taken}

    def keep(self, path: Path, fmt: Format) -> str:
        """Keep a file; returns its URL."""
        suffix = path.suffix or fmt.extension
        stem = path.name[:-len(path.suffix)] if path.suffix else path.name
        name, n = stem, 1
        while name.lower() in self.taken:
            name, n = f"{stem}_{n}", n + 1
        self.taken.add(name.lower())
        return self.context.store_file(name, path, dataclasses.replace(fmt, extension=suffix))


class _Storage(CachedStorage):  # type: ignore[misc]
    """PyWPS's storage interface over a :class:`_Keeper`."""

    def __init__(self, keeper: _Keeper) -> None:
        super().__init__()
        self.keeper = keeper

    def _do_store(self, output: Any) -> tuple[int, str, str]:
        url = self.keeper.keep(Path(output.file), wpsd_format(output.data_format))
        return STORE_TYPE.PATH, url, url

    def write(self, data: Any, destination: str, data_format: Any = None) -> str:
        path = self.keeper.context.workdir / Path(destination).name
        path.write_bytes(data if isinstance(data, bytes) else str(data).encode("utf-8"))
        fmt = (wpsd_format(data_format) if data_format is not None
               else Format("application/octet-stream"))
        return self.keeper.keep(path, fmt)

    def url(self, destination: str) -> str:
        raise NotImplementedError("wpsd gives a stored file's URL when it stores it")

    def location(self, destination: str) -> str:
        raise NotImplementedError("wpsd keeps stored files in its own output storage")


class _StorageBuilder:
    def __init__(self, keeper: _Keeper) -> None:
        self.keeper = keeper

    def build(self) -> _Storage:
        return _Storage(self.keeper)


@contextlib.contextmanager
def _files_kept_by(keeper: _Keeper) -> Iterator[None]:
    """While the handler runs, the outputs PyWPS stores itself (``ComplexOutput.json`` of a
    reference, which a ``MetaFile`` asks for its URL) go to wpsd's output storage instead of
    PyWPS's ``outputpath``. A job's process runs one handler at a time."""
    original = pywps_outputs.FileStorageBuilder
    pywps_outputs.FileStorageBuilder = lambda: _StorageBuilder(keeper)
    try:
        yield
    finally:
        pywps_outputs.FileStorageBuilder = original
