"""Serving outputs kept by reference: GET /wps/outputs/<job>/<name>."""

from __future__ import annotations

from flask import Response, abort, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from ..ports import OutputStorage
from .headers import as_download


def serve_output(storage: OutputStorage, job: str, name: str) -> Response:
    """Stream a stored output in chunks, whatever its size; conditional and range requests
    are answered from its size, ETag and modification time.

    When the storage gives its own (presigned) URLs, the client is sent there: the bytes then
    never pass through this node, even for a document built with wpsd's links.
    """
    key = f"{job}/{name}"
    found = storage.open(key)
    if found is None:
        abort(404)
    direct = storage.url(key)
    if direct is not None:
        # 307, not 302: the client repeats its request as it was (a HEAD stays a HEAD).
        return Response(status=307, headers={"Location": direct})
    if found.path is not None:
        return as_download(send_file(found.path, mimetype=found.content_type, conditional=True),
                           name)
    stream = found.open()
    try:
        response = send_file(stream, mimetype=found.content_type, conditional=False,
                             etag=found.etag or False, last_modified=found.modified)
        # A file object has no size to send_file; the storage knows it.
        response.content_length = found.size
        response.make_conditional(request.environ, accept_ranges=True,
                                  complete_length=found.size)  # changes it in place
    except RequestedRangeNotSatisfiable:
        stream.close()
        raise
    return as_download(response, name)
