"""Fetching input references: http(s) only by default, with a size limit and a timeout."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import requests

from .exceptions import DataNotAccessible, FileSizeExceeded, InvalidParameterValue
from .protocol.requests import ReferenceData

_CHUNK = 64 * 1024


def fetch_reference(
    reference: ReferenceData,
    identifier: str,
    *,
    max_bytes: int,
    timeout: float,
    schemes: Sequence[str],
) -> bytes:
    """Download what an input reference points at, or raise a WPS error located at the input."""
    body = reference.body
    if reference.body_reference:
        body = fetch_url(reference.body_reference, identifier, "GET", None, (),
                         max_bytes=max_bytes, timeout=timeout, schemes=schemes)
    return fetch_url(reference.href, identifier, reference.method, body, reference.headers,
                     max_bytes=max_bytes, timeout=timeout, schemes=schemes)


def fetch_url(
    url: str,
    identifier: str,
    method: str,
    body: bytes | None,
    headers: Sequence[tuple[str, str]],
    *,
    max_bytes: int,
    timeout: float,
    schemes: Sequence[str],
) -> bytes:
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise InvalidParameterValue(f"Input {identifier!r}: {url!r} is not a URL",
                                    identifier) from None
    if scheme not in schemes:
        raise InvalidParameterValue(
            f"Input {identifier!r}: references with scheme {scheme or 'none'!r} are not allowed",
            identifier,
        )
    if method not in ("GET", "POST"):
        raise InvalidParameterValue(f"Input {identifier!r}: method must be GET or POST", identifier)
    try:
        with requests.request(
            method, url, data=body, headers=dict(headers), timeout=timeout, stream=True
        ) as response:
            if response.status_code >= 400:
                raise DataNotAccessible(
                    f"Input {identifier!r}: {url} answered HTTP {response.status_code}", identifier
                )
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _too_big(identifier, max_bytes)
            chunks, size = [], 0
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_big(identifier, max_bytes)
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise DataNotAccessible(
            f"Input {identifier!r}: could not fetch {url} ({type(exc).__name__})", identifier
        ) from None


def _too_big(identifier: str, max_bytes: int) -> FileSizeExceeded:
    return FileSizeExceeded(
        f"Input {identifier!r} is larger than the limit of {max_bytes} bytes", identifier
    )
