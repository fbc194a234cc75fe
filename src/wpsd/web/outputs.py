"""Serving outputs kept by reference: GET /wps/outputs/<job>/<name>."""

from __future__ import annotations

from flask import Response, abort, send_file

from ..ports import OutputStorage
from .headers import as_download


def serve_output(storage: OutputStorage, job: str, name: str) -> Response:
    found = storage.open(f"{job}/{name}")
    if found is None:
        abort(404)
    path, content_type = found
    return as_download(send_file(path, mimetype=content_type, conditional=True), name)
