"""Output declarations: what a process produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..formats import Format
from .inputs import Description
from .literals import LiteralDomain, literal_type


@dataclass(frozen=True)
class LiteralOutput(Description):
    """A literal output; the handler returns a Python value of ``data_type``."""

    data_type: str = "string"
    uoms: Sequence[str] = ()
    domain: LiteralDomain = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        domain = LiteralDomain(literal_type(self.data_type), None, tuple(self.uoms))
        object.__setattr__(self, "domain", domain)


@dataclass(frozen=True)
class ComplexOutput(Description):
    """A complex output in one of ``formats`` (the first is the default).

    The handler returns bytes, text, a JSON-serialisable object, a
    :class:`pathlib.Path` or a :class:`~wpsd.ComplexValue`.
    """

    formats: Sequence[Format] = ()
    #: whether it is returned by reference when the client does not say (names no outputs)
    as_reference: bool = False

    def __post_init__(self) -> None:
        if not self.formats:
            raise ValueError(f"complex output {self.identifier!r} needs at least one format")


@dataclass(frozen=True)
class BoundingBoxOutput(Description):
    """A bounding box output; the handler returns a :class:`~wpsd.BoundingBox`."""

    crss: Sequence[str] = ("EPSG:4326",)
    dimensions: int = 2


Output = LiteralOutput | ComplexOutput | BoundingBoxOutput
