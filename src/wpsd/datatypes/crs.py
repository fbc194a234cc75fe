"""Coordinate reference system names: the many spellings of one CRS compared as one code."""

from __future__ import annotations

import re

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
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
