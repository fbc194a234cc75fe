"""What an execution produces, before any encoding: selected outputs, values, results."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

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
    #: the last lines of what the job's handler logged, and where all of it is served
    log: str = ""
    log_url: str | None = None


@dataclass(frozen=True)
class StoredOutput:
    """An output kept by reference, as its storage hands it out to be served.

    Never its bytes (an output may be gigabytes): a local file (``path``), which the web
    layer sends as it is, or a way to open the stored object for reading (``opener``).
    """

    content_type: str
    size: int
    path: Path | None = None
    opener: Callable[[], IO[bytes]] | None = None
    #: validators for conditional requests, where the storage has them at no extra cost
    etag: str | None = None
    modified: dt.datetime | None = None

    def open(self) -> IO[bytes]:
        """The stored bytes as a binary file object, to read in chunks; the caller closes it."""
        if self.path is not None:
            return self.path.open("rb")
        if self.opener is None:
            raise ValueError("a StoredOutput needs a path or an opener")
        return self.opener()


#: the storage's own URL of a stored output (a presigned URL), or None for a wpsd link
Link = Callable[[str], str | None]


def output_values(
    produced: Sequence[ProducedOutput], selected: Sequence[SelectedOutput], output_url: str,
    link: Link | None = None,
) -> list[OutputValue]:
    """Produced outputs paired with what the client selected, ready to encode.

    Stored outputs become links under ``output_url``, or the URL ``link`` gives for their
    key (``OutputStorage.url``: presigned URLs of object storage), decided when the answer
    is encoded rather than when the output was written: presigned URLs expire, documents
    are built anew for every request.
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
        href = None
        if item.key:
            href = (link(item.key) if link is not None else None) or output_url + item.key
        values.append(OutputValue(choice, text=item.text, data=item.data, bbox=item.bbox,
                                  href=href))
    return values
