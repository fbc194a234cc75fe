"""Runtime values that handlers receive and return: complex data and bounding boxes."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..formats import Format
from ..protocol.xml import NOT_XML


@dataclass
class ComplexValue:
    """Complex data, received inline or fetched from a reference.

    The handler picks the view it needs: :attr:`data` (bytes), :attr:`text`,
    :meth:`json` (parsed JSON, e.g. GeoJSON) or :attr:`path` (a file in the job's
    working directory, written on first use).
    """

    data: bytes
    format: Format
    #: where the data was fetched from, when it came by reference
    href: str | None = None
    workdir: Path | None = field(default=None, repr=False)
    name: str = "data"
    _path: Path | None = field(default=None, init=False, repr=False)

    @property
    def text(self) -> str:
        charset = self.format.encoding
        if not charset or charset.lower() == "base64":
            charset = "utf-8"
        return self.data.decode(charset)

    def json(self) -> Any:
        """The data parsed as JSON (GeoJSON is JSON)."""
        return json.loads(self.data)

    @property
    def path(self) -> Path:
        """A file holding the data, written once into the working directory."""
        if self._path is None:
            if self.workdir is None:
                raise RuntimeError("this value has no working directory to write its file into")
            self.workdir.mkdir(parents=True, exist_ok=True)  # made when first needed
            self._path = self.workdir / f"{self.name}{self.format.extension}"
            self._path.write_bytes(self.data)
        return self._path


@dataclass(frozen=True)
class BoundingBox:
    """A bounding box: lower and upper corners in a coordinate reference system."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    crs: str | None = None

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError("lower and upper corners need the same, non-zero number of values")
        if not all(math.isfinite(v) for v in (*self.lower, *self.upper)):
            raise ValueError("corner coordinates must be finite numbers")
        if self.crs is not None and NOT_XML.search(self.crs):
            # CRS names compare with surrounding white space stripped, so "EPSG:4326\x1f"
            # would pass as EPSG:4326 and then fail every XML document it is written into.
            raise ValueError("the CRS name holds characters that XML cannot carry")

    @property
    def dimensions(self) -> int:
        return len(self.lower)

    @classmethod
    def from_values(cls, values: Sequence[float], crs: str | None = None) -> BoundingBox:
        """Build from ``[minx, miny, ..., maxx, maxy, ...]``, the form KVP and JSON use."""
        if len(values) % 2 or not values:
            raise ValueError("a bounding box needs an even, non-zero number of coordinates")
        half = len(values) // 2
        return cls(tuple(values[:half]), tuple(values[half:]), crs)
