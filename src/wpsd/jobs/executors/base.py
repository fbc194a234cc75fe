"""The executor interface: something that runs queued jobs somewhere."""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    """Runs jobs from the job store; shaped like :class:`concurrent.futures.Executor`."""

    def submit(self, job_id: str) -> None:
        """A job was stored as accepted: run it when there is room."""
        ...

    def cancel(self, job_id: str) -> None:
        """End the job's execution now if it runs here (the store already says dismissed)."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...
