"""Fetching input references through the outbound-request policy, as WPS errors.

:mod:`wpsd.outbound` decides where a reference may lead; this module turns what it says into
errors located at the input: a destination it refuses or a server that does not deliver is
DataNotAccessible (WPS 1.0.0 reports it as InvalidParameterValue), a malformed request is
InvalidParameterValue, an answer over the size limit FileSizeExceeded.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import metrics
from .config import Settings
from .core.execution import Environment, OutputStore
from .exceptions import DataNotAccessible, FileSizeExceeded, InvalidParameterValue
from .outbound import (
    OutboundFailed,
    OutboundInvalid,
    OutboundPolicy,
    OutboundRefused,
    OutboundTooLarge,
)
from .protocol.requests import ReferenceData


def fetch_reference(
    reference: ReferenceData, identifier: str, *, policy: OutboundPolicy, max_bytes: int
) -> bytes:
    """Download what an input reference points at, or raise a WPS error located at the input.

    A ``BodyReference`` is fetched first, through the same policy, and becomes the body that
    is posted to ``href``.
    """
    body = reference.body
    if reference.body_reference:
        body = fetch_url(reference.body_reference, identifier, policy=policy,
                         max_bytes=max_bytes)
    return fetch_url(reference.href, identifier, reference.method, body, reference.headers,
                     policy=policy, max_bytes=max_bytes)


def fetch_url(
    url: str,
    identifier: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Sequence[tuple[str, str]] = (),
    *,
    policy: OutboundPolicy,
    max_bytes: int,
) -> bytes:
    """The body that ``url`` answers with, or a WPS error located at input ``identifier``."""
    try:
        with metrics.counting_fetch() as size:
            data = policy.fetch(url, method=method, body=body, headers=headers,
                                max_bytes=max_bytes)
            size.append(len(data))
        return data
    except OutboundTooLarge:
        raise FileSizeExceeded(
            f"Input {identifier!r} is larger than the limit of {max_bytes} bytes", identifier
        ) from None
    except OutboundInvalid as exc:
        raise InvalidParameterValue(f"Input {identifier!r}: {exc}", identifier) from None
    except (OutboundRefused, OutboundFailed) as exc:
        raise DataNotAccessible(f"Input {identifier!r}: {exc}", identifier) from None


def environment(settings: Settings, storage: OutputStore) -> Environment:
    """The execution environment of this host's settings: working directories, output
    storage, and references fetched through the outbound policy."""
    policy = OutboundPolicy.from_settings(settings)  # refuses a malformed allow-list now

    def fetch(reference: ReferenceData, identifier: str, max_bytes: int) -> bytes:
        return fetch_reference(reference, identifier, policy=policy, max_bytes=max_bytes)

    def check(url: str, identifier: str) -> None:
        check_url(url, identifier, policy=policy)

    return Environment(settings.work_path, storage, fetch,
                       int(settings.max_input_megabytes * 1024 * 1024), check)


def check_url(url: str, identifier: str, *, policy: OutboundPolicy) -> None:
    """Refuse, as fetch_url would, a URL the policy would not fetch; connects to nothing.

    For the web node, so that a client learns at once that a reference or a callback is not
    allowed, before a job exists; the fetch itself checks again (the name may resolve
    differently by then, and that resolution is the one connected to).
    """
    try:
        policy.check(url)
    except OutboundInvalid as exc:
        raise InvalidParameterValue(f"Input {identifier!r}: {exc}", identifier) from None
    except (OutboundRefused, OutboundFailed) as exc:
        raise DataNotAccessible(f"Input {identifier!r}: {exc}", identifier) from None
