"""Response headers that keep what clients and processes send from running in our origin.

Outputs and raw results hold whatever a process produced, often a client's own input echoed
back. Served from the server's origin, an XHTML or SVG document with a ``<script>`` would run
with the server's cookies and could drive its HTML pages (dismiss jobs, read results). So
every response that is not one of our own HTML pages is sandboxed by its CSP, and the active
types are also sent as downloads. Our pages load scripts and styles from ``/static`` only, so
their CSP can forbid inline code and framing.
"""

from __future__ import annotations

from flask import Response, g

#: our own HTML pages: scripts and styles from this server only, never framed
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: everything else (XML and JSON documents, outputs): no script, no plugin, no same origin
CONTENT_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
#: media types a browser would render as a document able to run script
_ACTIVE = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
           "text/javascript", "application/javascript", "application/ecmascript",
           "text/ecmascript", "application/x-javascript", "text/xsl", "application/xslt+xml"}


def is_active(media_type: str) -> bool:
    """Whether a browser could run script from a document of this type (all XML is)."""
    kind = media_type.split(";", 1)[0].strip().lower()
    return kind in _ACTIVE or kind.endswith("+xml")


def mark_page() -> None:
    """The response of this request is one of our HTML pages."""
    g.wpsd_page = True


def as_download(response: Response, filename: str) -> Response:
    """Send process output of an active type as an attachment, never rendered inline."""
    if is_active(response.mimetype or ""):
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def secure(response: Response) -> Response:
    """The headers every response gets (an ``after_request`` hook)."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    page = g.get("wpsd_page", False) and response.mimetype == "text/html"
    headers.setdefault("Content-Security-Policy", PAGE_CSP if page else CONTENT_CSP)
    return response
