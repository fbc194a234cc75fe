"""PyWPS declarations read into wpsd's: a PyWPS ``Process`` becomes a :class:`wpsd.Process`.

Everything is read from the PyWPS objects' attributes after PyWPS has normalised them (its
``allowed_values`` are ``AllowedValue`` objects, its ``uoms`` ``UOM`` objects, its booleans
the strings ``"true"``/``"false"``), so whatever PyWPS accepts as a declaration is read the
way PyWPS itself reads it. The PyWPS process is kept, with the PyWPS format behind each wpsd
one, for :mod:`.runtime`, which runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pywps.inout.inputs import BoundingBoxInput as PyWPSBoundingBoxInput
from pywps.inout.inputs import ComplexInput as PyWPSComplexInput
from pywps.inout.inputs import LiteralInput as PyWPSLiteralInput
from pywps.inout.literaltypes import AllowedValue
from pywps.inout.outputs import BoundingBoxOutput as PyWPSBoundingBoxOutput
from pywps.inout.outputs import ComplexOutput as PyWPSComplexOutput
from pywps.inout.outputs import LiteralOutput as PyWPSLiteralOutput
from pywps.validator.allowed_value import ALLOWEDVALUETYPE

from ...datatypes.inputs import BoundingBoxInput, ComplexInput, Input, LiteralInput
from ...datatypes.literals import AllowedValues, Range, RangeClosure, literal_type
from ...datatypes.outputs import BoundingBoxOutput, ComplexOutput, LiteralOutput, Output
from ...formats import Format
from ...processes.context import ExecutionContext
from ...processes.process import Handler, Process

logger = logging.getLogger("wpsd")

#: PyWPS data types that are no XML Schema type: served as the type their values have
_DATA_TYPES = {"scale": "double", "angle": "double"}
_INTEGER_TYPES = {"integer", "nonNegativeInteger", "positiveInteger"}
#: maxOccurs of a PyWPS input declared with max_occurs=None (any number)
UNBOUNDED = 2**31 - 1


@dataclass(frozen=True)
class Binding:
    """A PyWPS process as declared, and what running it needs besides.

    ``input_formats`` and ``output_formats`` pair each wpsd format of a complex input or
    output with the PyWPS format it was read from, in the declared order.
    """

    template: Any
    input_formats: dict[str, tuple[tuple[Format, Any], ...]]
    output_formats: dict[str, tuple[tuple[Format, Any], ...]]
    #: inputs that may occur more than once (the wpsd handler gets a list for them)
    multiple: frozenset[str]

    def pywps_input_format(self, identifier: str, fmt: Format) -> Any:
        return _pywps_format(self.input_formats[identifier], fmt)

    def pywps_output_format(self, identifier: str, fmt: Format) -> Any:
        return _pywps_format(self.output_formats[identifier], fmt)

    def wpsd_output_format(self, identifier: str, pywps_format: Any) -> Format:
        """The wpsd format of the PyWPS one a handler chose (or left) for an output."""
        pairs = self.output_formats[identifier]
        for ours, theirs in pairs:
            if theirs is pywps_format:
                return ours
        for ours, theirs in pairs:
            if pywps_format is not None and theirs.same_as(pywps_format):
                return ours
        return pairs[0][0]


def _pywps_format(pairs: tuple[tuple[Format, Any], ...], fmt: Format) -> Any:
    for ours, theirs in pairs:
        if ours == fmt:
            return theirs
    return pairs[0][1]


def from_pywps(process: Any, module: str | None = None) -> Process:
    """A PyWPS ``Process`` as a wpsd :class:`~wpsd.Process` whose handler runs the PyWPS one.

    ``module`` is where a worker finds the process again; by default the module that defines
    its class (for subclasses of ``pywps.Process``) or its handler.
    """
    identifier = process.identifier
    where = f"PyWPS process {identifier!r}"
    if getattr(process, "grass_location", None):
        logger.warning("%s: grass_location is not supported; its handler runs without a "
                       "GRASS session", where)
    if getattr(process, "translations", None):
        logger.info("%s: its translations are not served (every language gets the default "
                    "texts)", where)
    inputs = [_input(i, where) for i in process.inputs]
    outputs = [_output(o, where) for o in process.outputs]
    binding = Binding(
        template=process,
        input_formats={i.identifier: tuple(zip(d.formats, i.supported_formats, strict=True))
                       for i, d in zip(process.inputs, inputs, strict=True)
                       if isinstance(d, ComplexInput)},
        output_formats={o.identifier: tuple(zip(d.formats, o.supported_formats, strict=True))
                        for o, d in zip(process.outputs, outputs, strict=True)
                        if isinstance(d, ComplexOutput)},
        multiple=frozenset(d.identifier for d in inputs if d.max_occurs > 1),
    )
    if module is None:
        cls = type(process)
        module = (cls.__module__ if cls.__module__.split(".")[0] != "pywps"
                  else getattr(process.handler, "__module__", None) or "__main__")
    version = process.version
    return Process(
        _handler(binding, module),
        identifier,
        process.title or identifier,
        abstract=process.abstract or "",
        keywords=tuple(process.keywords or ()),
        metadata=_metadata(process.metadata),
        version=str(version) if version not in (None, "None", "") else "1.0.0",
        inputs=inputs,
        outputs=outputs,
        # PyWPS keeps the flag as the string "true" or "false"
        asynchronous=str(process.store_supported).lower() == "true",
    )


def _handler(binding: Binding, module: str) -> Handler:
    def run_pywps(context: ExecutionContext, **inputs: Any) -> dict[str, Any]:
        from .runtime import run

        return run(binding, context, inputs)

    # The worker imports the module of a process's handler to find the process again.
    run_pywps.__module__ = module
    run_pywps.__qualname__ = f"pywps.{binding.template.identifier}"
    return run_pywps


def _metadata(items: Sequence[Any] | None) -> tuple[tuple[str, str], ...]:
    """(title, href) pairs of PyWPS ``Metadata`` (their role and type have no place here)."""
    return tuple((str(m.title), str(m.href or "")) for m in items or ()
                 if getattr(m, "title", None) is not None)


def _described(item: Any) -> dict[str, Any]:
    return {"abstract": item.abstract or "", "keywords": tuple(item.keywords or ()),
            "metadata": _metadata(getattr(item, "metadata", None))}


def wpsd_format(fmt: Any) -> Format:
    """A PyWPS ``Format`` as a wpsd one. PyWPS's ``binary`` encoding (of LAS point clouds)
    is what WPS calls base64: binary data travels base64-encoded in XML."""
    encoding = fmt.encoding or None
    if encoding and encoding.lower() == "binary":
        encoding = "base64"
    return Format(fmt.mime_type, encoding, fmt.schema or None, fmt.extension or "")


def data_type(name: str) -> str:
    return _DATA_TYPES.get(name, name)


def typed(kind_name: str, value: Any) -> Any:
    """A declared value (a default, an allowed value, a bound) as the Python value wpsd's
    data type has: PyWPS takes ``"1.5"`` for a float, and so does its describer."""
    kind = literal_type(kind_name)
    if isinstance(value, str):
        return kind.parse(value)
    if isinstance(value, bool):
        return value
    if kind.name in ("float", "double") and isinstance(value, int | float):
        return float(value)
    if kind.name in _INTEGER_TYPES and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _occurs(item: Any) -> tuple[int, int]:
    max_occurs = item.max_occurs if item.max_occurs is not None else UNBOUNDED
    return int(item.min_occurs), int(max_occurs)


def _input(item: Any, where: str) -> Input:
    ident = item.identifier
    if ident == "context":
        # wpsd passes the inputs as keyword arguments next to one named context.
        raise ValueError(f"{where}: an input named 'context' cannot be served by wpsd")
    title = item.title or ident
    least, most = _occurs(item)
    if isinstance(item, PyWPSLiteralInput):
        kind = data_type(item.data_type)
        default = item._default
        return LiteralInput(
            ident, title, **_described(item), min_occurs=least, max_occurs=most,
            data_type=kind, allowed_values=_allowed_values(item, kind),
            uoms=tuple(u.uom for u in item.uoms),
            default=typed(kind, default) if default is not None else None,
        )
    if isinstance(item, PyWPSComplexInput):
        return ComplexInput(ident, title, **_described(item), min_occurs=least, max_occurs=most,
                            formats=tuple(wpsd_format(f) for f in item.supported_formats))
    if isinstance(item, PyWPSBoundingBoxInput):
        return BoundingBoxInput(ident, title, **_described(item), min_occurs=least,
                                max_occurs=most, crss=tuple(item.crss),
                                dimensions=int(item.dimensions or 2))
    raise ValueError(f"{where}: input {ident!r} is no PyWPS input ({type(item).__name__})")


def _allowed_values(item: Any, kind: str) -> AllowedValues | None:
    """The values a PyWPS literal input allows; None (ows:AnyValue) for ``AnyValue``, and for
    ``ValuesReference`` and ``NoValue``, which PyWPS does not check either."""
    if item.any_value or item.values_reference is not None:
        return None
    values: list[Any] = []
    ranges: list[Range] = []
    for allowed in item.allowed_values:
        if not isinstance(allowed, AllowedValue):
            continue  # NoValue
        if allowed.allowed_type == ALLOWEDVALUETYPE.RANGE:
            ranges.append(Range(
                minimum=typed(kind, allowed.minval) if allowed.minval is not None else None,
                maximum=typed(kind, allowed.maxval) if allowed.maxval is not None else None,
                spacing=typed(kind, allowed.spacing) if allowed.spacing else None,
                closure=RangeClosure(allowed.range_closure),
            ))
        else:
            values.append(typed(kind, allowed.value))
    if not values and not ranges:
        return None
    return AllowedValues(values=tuple(values), ranges=tuple(ranges))


def _output(item: Any, where: str) -> Output:
    ident = item.identifier
    title = item.title or ident
    if isinstance(item, PyWPSLiteralOutput):
        return LiteralOutput(ident, title, **_described(item), data_type=data_type(item.data_type),
                             uoms=tuple(u.uom for u in item.uoms))
    if isinstance(item, PyWPSComplexOutput):
        return ComplexOutput(ident, title, **_described(item),
                             formats=tuple(wpsd_format(f) for f in item.supported_formats),
                             as_reference=bool(item.as_reference))
    if isinstance(item, PyWPSBoundingBoxOutput):
        return BoundingBoxOutput(ident, title, **_described(item), crss=tuple(item.crss),
                                 dimensions=int(item.dimensions or 2))
    raise ValueError(f"{where}: output {ident!r} is no PyWPS output ({type(item).__name__})")
