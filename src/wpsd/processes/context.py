"""The context object a handler receives: working directory, progress and logging."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..formats import Format

ProgressCallback = Callable[[int, str], None]
#: keeps a file beside the execution's outputs: (name, bytes or a file, format) -> its URL
StoreFile = Callable[[str, bytes | Path, Format], str]


def _ignore_progress(percent: int, message: str) -> None:
    pass


@dataclass
class ExecutionContext:
    """What a running handler may use besides its inputs."""

    #: where the job's private directory is; made on first use of :attr:`workdir`
    _workdir: Path = field(repr=False)
    job_id: str
    logger: logging.LoggerAdapter[logging.Logger]
    #: the format the client asked for, per complex output
    output_formats: Mapping[str, Format] = field(default_factory=dict)
    #: the unit of measure the client gave, per literal input
    input_uoms: Mapping[str, str] = field(default_factory=dict)
    _progress: ProgressCallback = field(default=_ignore_progress, repr=False)
    _store: StoreFile | None = field(default=None, repr=False)

    @property
    def workdir(self) -> Path:
        """The job's private directory, removed when the job ends."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        return self._workdir

    def report_progress(self, percent: float, message: str = "") -> None:
        """Tell the client how far the job has got (0-100) and what it is doing."""
        value = int(max(0, min(100, percent)))
        self.logger.info("job %s: progress %d%% %s", self.job_id, value, message)
        self._progress(value, message)

    def store_file(self, name: str, data: bytes | Path, fmt: Format) -> str:
        """Keep a file with the execution's outputs and return the URL it is served at.

        For documents that link to files of their own, such as a metalink: the file is kept,
        served and deleted as outputs asked for by reference are. ``name`` is the file name
        without its extension (the format's ``extension`` is added).
        """
        if self._store is None:
            raise RuntimeError("this execution keeps no files")
        return self._store(name, data, fmt)
