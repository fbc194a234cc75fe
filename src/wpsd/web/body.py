"""Reading request bodies within ``max_request_bytes``, chunked or not."""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

_CHUNK = 64 * 1024


def body_chunks() -> Iterator[bytes]:
    """The request body in chunks; 413 as soon as it passes the limit.

    Werkzeug refuses a Content-Length over the limit at once, but a chunked body that goes on
    past it is only cut short there, which would reach the parser as a truncated (400)
    document after the server held the whole limit: count it here instead.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    seen = 0
    while True:
        chunk = request.stream.read(_CHUNK)  # werkzeug raises 413 past a chunked body's limit
        if not chunk:
            return
        seen += len(chunk)
        if limit is not None and seen > limit:
            raise RequestEntityTooLarge()
        yield chunk


def body_bytes() -> bytes:
    """The whole request body, within the limit."""
    return b"".join(body_chunks())
