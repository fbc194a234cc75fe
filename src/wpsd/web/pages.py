"""What the HTML pages need besides their templates: the map library, the icon, map settings.

Leaflet is a dependency (the XStatic-Leaflet package), served from its package directory, so
the pages work without internet and the repository holds none of its code. A page with a map
may show tiles of one operator-chosen server (the ``map_tiles`` URL template); its CSP then
allows images from that origin, and only those. Images of outputs by reference are shown
inline, so the CSP also allows images from where outputs are served when that is another
origin (:func:`output_origins`). A complex input gets a map when one of its formats is GeoJSON
or GML (:func:`format_options` tells the form which).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, send_from_directory

from ..datatypes.crs import crs_code, crs_uri
from ..datatypes.inputs import BoundingBoxInput
from ..processes.process import Process
from .headers import PAGE_CSP

if TYPE_CHECKING:
    from ..config import Settings

logger = logging.getLogger("wpsd")
_STATIC = Path(__file__).with_name("static")
#: a key of the form stored outputs have, signed only to learn the origin of presigned URLs
_PROBE_KEY = "wpsd-probe/output.png"
#: a host (name, IPv4 or bracketed IPv6) with an optional port: all an origin in a CSP may be
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
#: a tile server's host: as _HOST, or with a wildcard first label, or any host
_TILE_HOST = re.compile(r"(?:\*|(?:\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _leaflet_dir() -> str | None:
    try:
        from xstatic.pkg import leaflet  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a dependency; the forms work without their maps
        return None
    return str(leaflet.BASE_DIR)


def add_page_routes(bp: Blueprint) -> None:
    """``/vendor/leaflet/...`` (the map library), ``/favicon.ico``, and the template filter
    ``format_options`` of the process form."""
    bp.add_app_template_filter(format_options, "format_options")

    @bp.get("/vendor/leaflet/<path:filename>")
    def leaflet(filename: str) -> Response:
        folder = _leaflet_dir()
        if folder is None:
            abort(404)
        return send_from_directory(folder, filename, max_age=86400)

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        return send_from_directory(_STATIC, "favicon.svg", mimetype="image/svg+xml",
                                   max_age=86400)


def map_tiles(settings: Any) -> str:
    """The tile URL template of the maps ('' for none: shapes on a blank map)."""
    value = getattr(settings, "map_tiles", "") or ""
    return value if urlsplit(value).scheme in ("http", "https") else ""


def page_csp(tiles: str, outputs: Iterable[str] = ()) -> str:
    """The CSP of our pages; with tiles, their origin may serve images too, and so may the
    ``outputs`` origins (see :func:`output_origins`)."""
    sources = [source for source in (_tile_source(tiles),) if source]
    sources.extend(outputs)
    if not sources:
        return PAGE_CSP
    return PAGE_CSP.replace("img-src 'self' data:",
                            "img-src 'self' data: " + " ".join(dict.fromkeys(sources)))


def output_origins(settings: Settings, sign: Callable[[str], str | None] | None = None
                   ) -> tuple[str, ...]:
    """The origins that references to outputs may point to besides the server's own: that of
    ``output_url``, and with ``output_presigned_urls`` that of the object store.

    The store's origin is that of a URL it presigns with ``sign`` (the storage's ``url``):
    whether the bucket is in the host name or the path, which region's endpoint serves it,
    only the client library knows. Signing is computed here (with static credentials it asks
    nobody; without, the library may first fetch credentials from the instance's metadata):
    the caller computes this once. When no URL can be signed, the ``endpoint_url`` of the
    storage options is taken as it is written.
    Only the pages' images come from these origins: results.js fetches the data of its maps
    from the server's own origin only, so ``connect-src`` stays ``'self'``.
    """
    found = [_origin(settings.output_url or "")]
    if settings.output_storage and settings.output_presigned_urls:
        signed = None
        if sign is not None:
            try:
                signed = sign(_PROBE_KEY)
            except Exception as exc:  # no credentials yet: references cannot be made either
                logger.debug("No presigned URL to learn the output origin from: %s", exc)
        options = settings.storage_options
        client = options.get("client_kwargs")
        endpoint = options.get("endpoint_url") or (
            client.get("endpoint_url") if isinstance(client, Mapping) else None)
        found.append(_origin(signed or (endpoint if isinstance(endpoint, str) else "")))
    return tuple(dict.fromkeys(origin for origin in found if origin))


def _tile_source(tiles: str) -> str:
    """The CSP source of the tile server, or '' when the template's host is not one a source
    can name (a character there could end the directive and add others)."""
    return _source(tiles, _TILE_HOST, template=True) if tiles else ""


def _origin(url: str) -> str:
    """The origin of an http(s) URL as a CSP source, or '' (also for anything that would not
    be one host: a wildcard or a character that ends the directive)."""
    return _source(url, _HOST)


def _source(url: str, host_pattern: re.Pattern[str], template: bool = False) -> str:
    """``scheme://host[:port]`` of an http(s) URL whose host the pattern takes, else ''.
    ``template``: a tile URL template, whose placeholders in the host become wildcards."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "https://[::1/x": no URL at all
        return ""
    host = parts.netloc.rpartition("@")[2]  # never the credentials of a URL
    if template:
        # {s} subdomains ({s}.tile.openstreetmap.org) become a wildcard label; a placeholder
        # elsewhere in the host, any host of the scheme
        host = host.replace("{s}", "*")
        if "{" in host:
            host = "*"
    if parts.scheme.lower() not in ("http", "https") or not host_pattern.fullmatch(host):
        return ""
    return f"{parts.scheme.lower()}://{host.lower()}"


def bbox_crss(process: Process) -> dict[str, list[tuple[str, str]]]:
    """For each bounding-box input, the CRSs it takes (URI and short name), its default first."""
    return {i.identifier: [(crs_uri(c), crs_code(c)) for c in i.crss]
            for i in process.inputs if isinstance(i, BoundingBoxInput)}


_GEOJSON_TYPES = frozenset({"application/geo+json", "application/vnd.geo+json"})
# application/vnd.ogc.gml is what WMS and WFS 1.0 servers called GML
_GML_TYPES = frozenset({"application/gml+xml", "application/vnd.ogc.gml"})


class FormatOption(NamedTuple):
    """One media type of a complex input's format picker."""

    media_type: str
    #: how the map reads and writes it: "geojson", "gml", or "" (no map)
    map_format: str
    selected: bool


def map_format(schema: Mapping[str, Any]) -> str:
    """How a map reads and writes values of one format (a member of the ``oneOf`` of an OGC API
    input schema): ``"geojson"``, ``"gml"``, or ``""`` when it cannot.

    GML is ``application/gml+xml`` with any parameters (``; version=3.2``), or XML that says it
    is GML: a ``subtype=gml/3.1.1`` parameter (as GeoServer writes it) or a GML
    ``contentSchema``.
    """
    base, _, parameters = str(schema.get("contentMediaType") or "").partition(";")
    base = base.strip().lower()
    if base in _GEOJSON_TYPES:
        return "geojson"
    if base in _GML_TYPES:
        return "gml"
    if base in ("text/xml", "application/xml"):
        named = schema.get("contentSchema")
        if "gml" in parameters.lower() or (isinstance(named, str) and "gml" in named.lower()):
            return "gml"
    return ""


def format_options(schema: Mapping[str, Any]) -> list[FormatOption]:
    """The media types of a complex input's schema, for its picker.

    The first one a map can show is selected (the default format when it can), so that
    drawing on the map fills the field in a format the process takes.
    """
    members = schema.get("oneOf") or [schema]
    kinds = [map_format(member) for member in members]
    first = next((index for index, kind in enumerate(kinds) if kind), None)
    return [FormatOption(str(member.get("contentMediaType") or ""), kind, index == first)
            for index, (member, kind) in enumerate(zip(members, kinds, strict=True))]
