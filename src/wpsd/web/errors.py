"""One place that turns exceptions into responses: ows:ExceptionReport for the WPS endpoint."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, SecurityError

from ..exceptions import InvalidParameterValue, NoApplicableCode, OperationNotSupported, WPSError
from ..protocol.ogcapi import encode as ogcapi_encode
from ..protocol.wps1 import encode
from ..protocol.wps2 import encode as encode2
from ..protocol.xml import to_bytes

logger = logging.getLogger("wpsd")
XML_TYPE = "text/xml; charset=utf-8"


def wps_error_response(error: WPSError) -> Response:
    """An ows:ExceptionReport in the WPS version of the request (OWS 2.0 for WPS 2.0)."""
    version2 = has_request_context() and g.get("wps_version") == "2.0.0"
    logger.error(
        "Exception: code: %s, locator: %s, exceptionCode: %s, text: %s",
        error.status, error.locator, error.code2 if version2 else error.code, error.text,
    )
    report = encode2.exception_report(error) if version2 else encode.exception_report(error)
    return Response(to_bytes(report), status=error.status, content_type=XML_TYPE)


def _from_http(exc: HTTPException) -> WPSError:
    status = exc.code or 500
    if status == 413:
        return InvalidParameterValue("The request body is too large", "request", status=413)
    if status == 405:
        return OperationNotSupported(
            "Only GET (KVP) and POST (XML) requests are accepted", "request", status=405
        )
    if isinstance(exc, SecurityError):
        # Werkzeug's text repeats the client's Host header; say it without echoing it.
        return NoApplicableCode("The Host header names a host this server does not serve",
                                status=status)
    return NoApplicableCode(exc.description or exc.name, status=status)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(WPSError, wps_error_response)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if exc.code == 404:
            return exc  # an unknown path is not a WPS request: plain 404
        if not request.path.startswith("/wps"):
            # Routing errors (405) of the OGC API paths never reach its blueprint's handlers.
            error = (_from_http(exc) if isinstance(exc, SecurityError)
                     else NoApplicableCode(exc.description or exc.name, status=exc.code or 500))
            response = jsonify(ogcapi_encode.exception(error, request.path))
            response.status_code = exc.code or 500
            if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        return wps_error_response(_from_http(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # The traceback goes to the log, never to the client.
        logger.exception("Unhandled error while serving a request")
        return wps_error_response(NoApplicableCode("Internal server error"))
