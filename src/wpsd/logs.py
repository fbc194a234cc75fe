"""Logging setup shared by ``wpsd serve``, ``wpsd worker`` and ``wpsd.wsgi``: text or JSON
lines, each carrying the id of the request (``request_id``) or job (``job_id``) it is about.

The request id lives in a context variable that the web layer sets for each request
(:mod:`wpsd.web.app`); a filter copies it onto every record, so a line logged anywhere while
a request is served names it, and the JSON formatter adds it as a field.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Any

#: the id of the request being served in this context, or None
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wpsd_request_id", default=None)
#: the stdlib's default layout (``INFO:wpsd:...``) after a time stamp, the ids at the end
_TEXT = "%(asctime)s %(levelname)s:%(name)s:%(message)s%(context)s"
#: the attributes every LogRecord has; anything else was passed as ``extra``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Puts ``request_id`` (when a request is being served) and ``context`` (the id in
    brackets, for text lines) on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = getattr(record, "request_id", None) or request_id.get()
        record.request_id = current
        ids = [f"request={current}"] if current else []
        # The server's job lines name their job already ("job <id>: ..."); what a handler
        # writes through context.logger does not, so its text line gets the id (JSON lines
        # carry job_id either way).
        job = getattr(record, "job_id", None)
        if str(record.msg).startswith("job %s"):
            if job is None and isinstance(record.args, tuple) and record.args:
                # The server's own job lines: their first argument is the id, which JSON
                # lines give as job_id. (The job's own log, a handler on the "wpsd" logger,
                # has seen the record before this root handler: it keeps only lines that
                # carried job_id from the start.)
                record.job_id = str(record.args[0])
        elif job:
            ids.append(f"job={job}")
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, job_id, and the
    ``extra`` fields of the call; a traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "context" and value is not None:
                entry[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send the log of this process to stderr as text or JSON lines, with request and job ids.

    Replaces the handlers of the root logger (as ``logging.basicConfig(force=True)``), so it
    may be called again, e.g. once the settings are known.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    _plain_werkzeug_lines()


def _plain_werkzeug_lines() -> None:
    # Werkzeug colours its request lines with ANSI codes, which a log file shows as
    # garbage: keep them for a terminal only.
    if not sys.stderr.isatty():
        try:
            from werkzeug import serving
        except ImportError:  # the worker runs without the web layer installed
            return
        serving._log_add_style = False
