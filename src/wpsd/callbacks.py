"""Job callbacks of OGC API - Processes (the callback conformance class).

A client that gives a ``subscriber`` with an asynchronous execute request is told by HTTP POST:
``inProgressUri`` gets the job's statusInfo when it starts, ``successUri`` its results document,
``failedUri`` its statusInfo when it fails. A callback that cannot be delivered is logged; it never
changes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import requests

from .jobs.job import Job, JobStatus
from .protocol.ogcapi import encode
from .results import OutputValue

logger = logging.getLogger("wpsd")


def _post(job: Job, uri: str, document: Any, timeout: float) -> None:
    try:
        response = requests.post(uri, json=document, timeout=timeout)
        if response.status_code >= 400:
            logger.warning("job %s: callback %s answered HTTP %d", job.id, uri,
                           response.status_code)
    except requests.RequestException as exc:
        logger.warning("job %s: callback %s failed: %s", job.id, uri, type(exc).__name__)


def _base(job: Job) -> str:
    # Jobs record the WPS endpoint they were submitted to; the API root is its parent.
    return job.service_url.rsplit("/", 1)[0]


def job_started(job: Job, timeout: float) -> None:
    uri = dict(job.request.subscriber).get("inProgressUri")
    if uri:
        _post(job, uri, encode.status_info(job, _base(job), JobStatus.RUNNING), timeout)


def job_ended(job: Job, outputs: Sequence[OutputValue] | None, timeout: float) -> None:
    subscriber = dict(job.request.subscriber)
    if job.status is JobStatus.SUCCEEDED and subscriber.get("successUri"):
        _post(job, subscriber["successUri"], encode.results(outputs or []), timeout)
    elif job.status is JobStatus.FAILED and subscriber.get("failedUri"):
        _post(job, subscriber["failedUri"], encode.status_info(job, _base(job)), timeout)
