"""wpsd: publish plain Python functions as OGC Web Processing Service processes."""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from .config import ServiceMetadata as ServiceMetadata
from .config import Settings as Settings
from .config import load_settings as load_settings
from .datatypes import AllowedValues as AllowedValues
from .datatypes import BoundingBox as BoundingBox
from .datatypes import BoundingBoxInput as BoundingBoxInput
from .datatypes import BoundingBoxOutput as BoundingBoxOutput
from .datatypes import ComplexInput as ComplexInput
from .datatypes import ComplexOutput as ComplexOutput
from .datatypes import ComplexValue as ComplexValue
from .datatypes import LiteralInput as LiteralInput
from .datatypes import LiteralOutput as LiteralOutput
from .datatypes import Range as Range
from .datatypes import RangeClosure as RangeClosure
from .formats import Format as Format
from .processes import ExecutionContext as ExecutionContext
from .processes import Process as Process
from .processes import ProcessRegistry as ProcessRegistry
from .processes import process as process

__version__ = "0.1.0"

if _TYPE_CHECKING:
    from .web import create_app as create_app


def __getattr__(name: str) -> _Any:
    # The web layer (Flask, the templates) is imported on first use: worker processes import
    # user modules that say ``from wpsd import process`` and never serve a page.
    if name == "create_app":
        from .web import create_app

        return create_app
    raise AttributeError(f"module 'wpsd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(n for n in [*globals(), "create_app"] if n != "annotations")
