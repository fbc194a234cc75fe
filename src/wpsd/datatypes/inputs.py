"""Input declarations: what a process accepts.

Each declaration takes its identifier and title positionally and everything else by
keyword: ``LiteralInput("delay", "Delay", data_type="float", default=1.0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from ..formats import Format
from .literals import AllowedValues, LiteralDomain, literal_type


@dataclass(frozen=True)
class Description:
    """What inputs and outputs share: identifier, title and descriptive metadata."""

    identifier: str
    title: str
    _: KW_ONLY
    abstract: str = ""
    keywords: Sequence[str] = ()
    #: (title, href) pairs rendered as ows:Metadata links
    metadata: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class _InputBase(Description):
    min_occurs: int = 1
    max_occurs: int = 1

    def __post_init__(self) -> None:
        if self.min_occurs < 0 or self.max_occurs < 1 or self.max_occurs < self.min_occurs:
            raise ValueError(f"input {self.identifier!r}: bad min_occurs/max_occurs")


@dataclass(frozen=True)
class LiteralInput(_InputBase):
    """A literal input: a number, string, date, ... converted to a Python value.

    ``allowed_values`` is an :class:`AllowedValues` or a plain list of values; leave it
    out to accept any value. The first of ``uoms`` is the default unit.
    """

    data_type: str = "string"
    allowed_values: AllowedValues | Sequence[Any] | None = None
    uoms: Sequence[str] = ()
    default: Any = None
    domain: LiteralDomain = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        allowed = self.allowed_values
        if allowed is not None and not isinstance(allowed, AllowedValues):
            allowed = AllowedValues(values=tuple(allowed))
        domain = LiteralDomain(literal_type(self.data_type), allowed, tuple(self.uoms))
        object.__setattr__(self, "domain", domain)


@dataclass(frozen=True)
class ComplexInput(_InputBase):
    """A complex input: a document or file in one of ``formats`` (the first is the default)."""

    formats: Sequence[Format] = ()
    #: largest accepted size in megabytes; None means the server-wide limit
    max_megabytes: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.formats:
            raise ValueError(f"complex input {self.identifier!r} needs at least one format")


@dataclass(frozen=True)
class BoundingBoxInput(_InputBase):
    """A bounding box input; the first of ``crss`` is the default CRS."""

    crss: Sequence[str] = ("EPSG:4326",)
    dimensions: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.crss:
            raise ValueError(f"bounding box input {self.identifier!r} needs at least one CRS")


Input = LiteralInput | ComplexInput | BoundingBoxInput
