"""OGC literal data types, allowed values and units of measure.

A literal value travels as text; each data type knows how to turn that text into a
Python value and back. Names are the XML Schema built-in type names that WPS uses
in ``ows:DataType`` (OGC 05-007r7 table 29, OGC 14-065 section 7.3).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import WrongInputData
from ..protocol.xml import NOT_XML

XSD_REFERENCE = "http://www.w3.org/TR/xmlschema-2/#"


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true, false, 1 or 0)")


def _format_bool(value: Any) -> str:
    return "true" if value else "false"


def _parse_float(text: str) -> float:
    value = float(text.strip())
    return value


def _format_float(value: Any) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "INF" if number > 0 else "-INF"
    return repr(number)


def _parse_int(text: str) -> int:
    # int() also accepts "1_000" and unicode digits; XML Schema does not.
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", stripped):
        raise ValueError(f"{text!r} is not an integer")
    return int(stripped)


def _bounded_int(low: int | None, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _parse_int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{value} is out of range")
        return value

    return parse


def _parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a decimal number")
    return value


def _parse_datetime(text: str) -> dt.datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return dt.datetime.fromisoformat(value)


def _parse_uri(text: str) -> str:
    value = text.strip()
    urlsplit(value)  # raises ValueError on malformed IPv6 literals and the like
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{text!r} is not a URI")
    return value


def _isoformat(value: Any) -> str:
    return str(value.isoformat())


@dataclass(frozen=True)
class LiteralType:
    """One literal data type: its name and its text conversions."""

    name: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str

    @property
    def reference(self) -> str:
        return XSD_REFERENCE + self.name


_TYPES = [
    LiteralType("string", str),
    LiteralType("boolean", _parse_bool, _format_bool),
    LiteralType("integer", _parse_int),
    LiteralType("int", _bounded_int(-(2**31), 2**31 - 1)),
    LiteralType("long", _bounded_int(-(2**63), 2**63 - 1)),
    LiteralType("short", _bounded_int(-(2**15), 2**15 - 1)),
    LiteralType("byte", _bounded_int(-128, 127)),
    LiteralType("nonNegativeInteger", _bounded_int(0, None)),
    LiteralType("positiveInteger", _bounded_int(1, None)),
    LiteralType("nonPositiveInteger", _bounded_int(None, 0)),
    LiteralType("negativeInteger", _bounded_int(None, -1)),
    LiteralType("unsignedInt", _bounded_int(0, 2**32 - 1)),
    LiteralType("float", _parse_float, _format_float),
    LiteralType("double", _parse_float, _format_float),
    LiteralType("decimal", _parse_decimal),
    LiteralType("date", lambda t: dt.date.fromisoformat(t.strip()), _isoformat),
    LiteralType("time", lambda t: dt.time.fromisoformat(t.strip().removesuffix("Z")), _isoformat),
    LiteralType("dateTime", _parse_datetime, _isoformat),
    LiteralType("anyURI", _parse_uri),
]

LITERAL_TYPES: dict[str, LiteralType] = {t.name: t for t in _TYPES}


def literal_type(name: str) -> LiteralType:
    """Look up a data type by name; ``xs:`` prefixes and reference URLs are accepted."""
    key = name.rsplit("#", 1)[-1].rsplit(":", 1)[-1]
    try:
        return LITERAL_TYPES[key]
    except KeyError:
        raise ValueError(f"unknown literal data type {name!r}") from None


class RangeClosure(Enum):
    CLOSED = "closed"
    OPEN = "open"
    OPEN_CLOSED = "open-closed"
    CLOSED_OPEN = "closed-open"


@dataclass(frozen=True)
class Range:
    """A range of allowed values, optionally with a spacing between them."""

    minimum: float | int | None = None
    maximum: float | int | None = None
    spacing: float | int | None = None
    closure: RangeClosure = RangeClosure.CLOSED

    def contains(self, value: Any) -> bool:
        if value != value:  # NaN compares false with everything, so no bound would catch it
            return False
        low_open = self.closure in (RangeClosure.OPEN, RangeClosure.OPEN_CLOSED)
        high_open = self.closure in (RangeClosure.OPEN, RangeClosure.CLOSED_OPEN)
        if self.minimum is not None:
            if value < self.minimum or (low_open and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (high_open and value == self.maximum):
                return False
        if self.spacing and self.minimum is not None:
            steps = (value - self.minimum) / self.spacing
            if not math.isclose(steps, round(steps), abs_tol=1e-9):
                return False
        return True


@dataclass(frozen=True)
class AllowedValues:
    """The values a literal input accepts: single values and ranges."""

    values: Sequence[Any] = ()
    ranges: Sequence[Range] = ()

    def contains(self, value: Any) -> bool:
        return value in self.values or any(r.contains(value) for r in self.ranges)


@dataclass(frozen=True)
class LiteralDomain:
    """Everything a literal input or output declares about its values."""

    data_type: LiteralType
    allowed_values: AllowedValues | None = None  # None is ows:AnyValue
    uoms: Sequence[str] = field(default_factory=tuple)

    def convert(self, text: str, identifier: str) -> Any:
        """Parse and check one value from a request, or raise InvalidParameterValue."""
        # Whatever the type: no WPS document could hold the value, and number parsers take
        # some of these characters (U+001F, U+000B) for white space and would let them by.
        if NOT_XML.search(text):
            raise WrongInputData(
                f"Input {identifier!r}: {text!r} holds characters that XML cannot carry",
                identifier,
            )
        try:
            value = self.data_type.parse(text)
        except (ValueError, TypeError, OverflowError) as exc:
            raise WrongInputData(
                f"Input {identifier!r}: {text!r} is not a valid {self.data_type.name} ({exc})",
                identifier,
            ) from None
        if self.allowed_values is not None and not self.allowed_values.contains(value):
            raise WrongInputData(
                f"Input {identifier!r}: {text!r} is not one of the allowed values", identifier
            )
        return value
