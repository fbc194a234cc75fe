"""Progress bars of jobs in a terminal: ``wpsd jobs watch`` and ``wpsd jobs list --follow``.

The jobs come from the job store or, given a server's URL, from its OGC API - Processes
``/jobs`` documents, so a user can follow a remote server's jobs as well as their own.
On a terminal the bars are redrawn in place; into a file or a pipe, a line is written only
when a job's state, percentage or message changes, so logs stay readable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import IO, Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

#: states in which a job changes no more
ENDED = ("successful", "failed", "dismissed")
WIDTH = 30


@dataclass(frozen=True)
class JobView:
    id: str
    process: str
    status: str
    progress: int
    message: str

    @classmethod
    def from_status_info(cls, info: dict[str, Any]) -> JobView:
        """From an OGC API - Processes statusInfo document."""
        return cls(str(info.get("jobID", "")), str(info.get("processID", "")),
                   str(info.get("status", "")), int(info.get("progress") or 0),
                   str(info.get("message") or ""))


def line(job: JobView) -> str:
    filled = WIDTH * max(0, min(job.progress, 100)) // 100
    bar = "#" * filled + "-" * (WIDTH - filled)
    return (f"{job.id[:8]}  {job.process[:16]:16} [{bar}] {job.progress:3d}%  "
            f"{job.status:10} {job.message[:50]}")


def over_http(base_url: str, job_ids: Sequence[str], token: str | None = None
              ) -> Callable[[], list[JobView]]:
    """Jobs read from a server's OGC API: the given ones, or its running and queued ones."""
    get = _getter(base_url, token)

    def fetch() -> list[JobView]:
        if job_ids:
            return [JobView.from_status_info(get(f"/jobs/{job_id}")) for job_id in job_ids]
        listed = get("/jobs?status=running&status=accepted&limit=100")
        return [JobView.from_status_info(info) for info in listed.get("jobs", [])]

    return fetch


def list_over_http(base_url: str, statuses: Sequence[str], process_id: str | None,
                   limit: int, token: str | None = None) -> list[dict[str, Any]]:
    """The statusInfo documents of a server's jobs (OGC API ``/jobs``), newest first."""
    query = [("limit", str(limit)), *(("status", s) for s in statuses)]
    if process_id:
        query.append(("processID", process_id))
    listed = _getter(base_url, token)("/jobs?" + urlencode(query))
    return [info for info in listed.get("jobs", []) if isinstance(info, dict)]


def _getter(base_url: str, token: str | None) -> Callable[[str], Any]:
    """GET a JSON document of the server at ``base_url``; errors as WatchError."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def get(path: str) -> Any:
        url = base_url.rstrip("/") + path
        try:
            with urlopen(Request(url, headers=headers), timeout=30) as answer:
                return json.load(answer)
        except HTTPError as exc:
            raise WatchError(f"{url}: HTTP {exc.code}, {_problem(exc)}") from None
        except URLError as exc:
            raise WatchError(f"{url}: {exc.reason}") from None
        except (OSError, ValueError, HTTPException) as exc:
            # a dropped connection, an answer cut short or not JSON
            raise WatchError(f"{url}: {exc}") from None

    return get


class WatchError(Exception):
    """The jobs could not be read (the server refused, or could not be reached)."""


def _problem(error: HTTPError) -> str:
    """What an HTTP error answer says: an OGC API exception's title or detail, else the
    reason phrase."""
    try:
        document = json.load(error)
    except (OSError, ValueError):
        document = None
    if isinstance(document, dict):
        said = document.get("detail") or document.get("title")
        if said:
            return str(said)
    return str(error.reason)


def watch(fetch: Callable[[], list[JobView]], out: IO[str], tty: bool, interval: float = 0.5,
          follow: bool = False, sleep: Callable[[float], None] = time.sleep) -> list[JobView]:
    """Show the jobs until all have ended (``follow``: until interrupted); returns the last
    views seen."""
    drawn = 0
    last: dict[str, str] = {}
    seen: list[JobView] = []
    while True:
        seen = fetch()
        lines = [line(job) for job in seen] or ["(no running or queued job)"]
        if tty:
            # Back to the first line drawn last time, draw over it, and clear what is left
            # below (the list may have shrunk).
            out.write((f"\x1b[{drawn}F" if drawn else "") + "".join(
                text + "\x1b[K\n" for text in lines) + "\x1b[J")
            drawn = len(lines)
        else:
            for job, text in zip(seen, lines, strict=False):
                state = f"{job.status} {job.progress} {job.message}"
                if last.get(job.id) != state:
                    last[job.id] = state
                    out.write(text + "\n")
        out.flush()
        if not follow and seen and all(job.status in ENDED for job in seen):
            return seen
        sleep(interval)
