"""What an execution produces, before any encoding: selected outputs, values, results."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..datatypes.outputs import Output
from ..datatypes.values import BoundingBox
from ..exceptions import WPSError
from ..formats import Format
from ..processes.process import Process
from ..protocol.requests import Execute, OutputRequest

if TYPE_CHECKING:  # execution imports this module
    from .execution import ProducedOutput


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
    #: accepted, running, succeeded or failed; only asynchronous jobs show the first two
    status: str = "succeeded"
    progress: int = 0
    message: str = ""
    #: where the stored response document of an asynchronous job is served
    status_location: str | None = None


def output_values(
    produced: Sequence[ProducedOutput], selected: Sequence[SelectedOutput], output_url: str
) -> list[OutputValue]:
    """Produced outputs paired with what the client selected, ready to encode.

    Stored outputs become links under ``output_url``, decided when the answer is encoded
    rather than when the output was written.
    """
    by_id = {s.output.identifier: s for s in selected}
    values = []
    for item in produced:
        choice = by_id.get(item.identifier)
        if choice is None:
            continue
        if item.format is not None and item.format != choice.format:
            # The handler's value chose another of the output's formats.
            choice = dataclasses.replace(choice, format=item.format)
        values.append(OutputValue(choice, text=item.text, data=item.data, bbox=item.bbox,
                                  href=output_url + item.key if item.key else None))
    return values
