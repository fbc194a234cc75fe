"""Health checks for load balancers and orchestrators, outside authentication.

- ``/health/live``: 200 while the process answers.
- ``/health/ready``: 200 when the job store answers and this host's worker runs (it holds
  the worker lock of the server's channel); 503 with a JSON ``reason`` otherwise.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify

from ..core.job import JobStatus
from ..ports import JobStore
from ..worker.channel import Channel
from ..worker.embedded import EmbeddedWorker, worker_running

logger = logging.getLogger("wpsd")
#: the endpoints the authentication guard lets through
ENDPOINTS = ("health_live", "health_ready")


def install_health(app: Flask, store: JobStore, channel: Channel,
                   worker: EmbeddedWorker | None) -> None:
    def live() -> Response:
        return _answer(200, "live")

    def ready() -> Response:
        try:
            store.count([JobStatus.ACCEPTED])
        except Exception as exc:  # any driver's error: the store is what is unreachable
            logger.warning("health: the job store does not answer: %s", exc)
            return _answer(503, "not ready", "the job store does not answer")
        if not worker_running(channel):
            if worker is not None:
                worker.ensure()  # an embedded worker that died: the next probe finds it
            return _answer(503, "not ready", "no worker runs for this server on this host "
                           "(start `wpsd worker`, or set embedded_worker = true)")
        return _answer(200, "ready")

    app.add_url_rule("/health/live", ENDPOINTS[0], live)
    app.add_url_rule("/health/ready", ENDPOINTS[1], ready)


def _answer(code: int, status: str, reason: str | None = None) -> Response:
    body: dict[str, str] = {"status": status}
    if reason:
        body["reason"] = reason
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response
