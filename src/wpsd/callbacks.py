"""Job callbacks of OGC API - Processes (the callback conformance class).

A client that gives a ``subscriber`` with an asynchronous execute request is told by HTTP POST:
``inProgressUri`` gets the job's statusInfo when it starts, ``successUri`` its results document,
``failedUri`` its statusInfo when it fails. Callbacks go through the outbound-request policy
(:mod:`wpsd.outbound`), like input references: the client chose where the server posts. A
callback that is refused or cannot be delivered is logged; it never changes the job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .core.job import Job, JobStatus
from .core.results import OutputValue
from .outbound import OutboundError, OutboundFailed, OutboundPolicy, OutboundTooLarge
from .protocol.ogcapi import encode

if TYPE_CHECKING:
    from .config import Settings

logger = logging.getLogger("wpsd")
#: bytes of a subscriber's answer that are read (and ignored)
REPLY_BYTES = 64 * 1024


def _post(job: Job, uri: str, document: Any, settings: Settings) -> None:
    body = json.dumps(document).encode("utf-8")
    try:
        policy = OutboundPolicy.from_settings(settings)
        policy.fetch(uri, method="POST", body=body, headers=[("Content-Type", "application/json")],
                     max_bytes=REPLY_BYTES)
    except OutboundTooLarge:
        pass  # delivered; what the subscriber answers is of no interest
    except OutboundFailed as exc:
        logger.warning("job %s: callback failed: %s", job.id, exc)
    except OutboundError as exc:  # the policy refused it: it was never sent
        logger.warning("job %s: callback refused: %s", job.id, exc)
    except ValueError as exc:  # allowed_reference_hosts cannot be read: send nothing
        logger.warning("job %s: callback not sent: %s", job.id, exc)


def _base(job: Job) -> str:
    # Jobs record the WPS endpoint they were submitted to; the API root is its parent.
    return job.service_url.rsplit("/", 1)[0]


def job_started(job: Job, settings: Settings) -> None:
    uri = dict(job.request.subscriber).get("inProgressUri")
    if uri:
        _post(job, uri, encode.status_info(job, _base(job), JobStatus.RUNNING), settings)


def job_ended(job: Job, outputs: Sequence[OutputValue] | None, settings: Settings) -> None:
    subscriber = dict(job.request.subscriber)
    if job.status is JobStatus.SUCCEEDED and subscriber.get("successUri"):
        _post(job, subscriber["successUri"], encode.results(outputs or []), settings)
    elif job.status is JobStatus.FAILED and subscriber.get("failedUri"):
        _post(job, subscriber["failedUri"], encode.status_info(job, _base(job)), settings)
