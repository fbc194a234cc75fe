"""Coordinate reference system names: the many spellings of one CRS compared as one code."""

from __future__ import annotations

import re

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
_PATTERNS = [
    # http://www.opengis.net/def/crs/EPSG/0/4326
    re.compile(r"^https?://www\.opengis\.net/def/crs/(?P<auth>[A-Za-z]+)/[^/]*/(?P<code>[^/]+)$"),
    # urn:ogc:def:crs:EPSG::4326, urn:ogc:def:crs:EPSG:6.6:4326, urn:ogc:def:crs:OGC:1.3:CRS84
    re.compile(r"^urn:ogc:def:crs:(?P<auth>[A-Za-z]+):[^:]*:(?P<code>[^:]+)$", re.IGNORECASE),
    # EPSG:4326
    re.compile(r"^(?P<auth>[A-Za-z]+):(?P<code>[^:]+)$"),
]


def crs_code(name: str) -> str:
    """``AUTHORITY:CODE`` for any common spelling of a CRS; other strings are returned as-is."""
    value = name.strip()
    for pattern in _PATTERNS:
        match = pattern.match(value)
        if match:
            return f"{match['auth'].upper()}:{match['code'].upper()}"
    return value


def same_crs(a: str, b: str) -> bool:
    return crs_code(a) == crs_code(b)


def crs_uri(name: str) -> str:
    """The http://www.opengis.net/def/crs/ URI of a CRS name (as-is when it is not a code)."""
    auth, sep, code = crs_code(name).partition(":")
    if not sep or "://" in name:
        return name
    if auth == "OGC":
        return {"CRS84": CRS84, "CRS84H": CRS84H}.get(code,
                                                      f"http://www.opengis.net/def/crs/OGC/0/{code}")
    return f"http://www.opengis.net/def/crs/{auth}/0/{code}"
