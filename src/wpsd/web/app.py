"""create_app(): the Flask application, wired from settings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from flask import Flask, Response, abort, send_file

from ..config import Settings
from ..jobs.executors.local import LocalExecutor
from ..jobs.pool import SyncPool, in_worker_process
from ..jobs.store.sql import SQLJobStore
from ..processes.process import Process
from ..processes.registry import ProcessRegistry, load_processes
from ..service import Service
from ..storage.filesystem import FileStorage
from .errors import register_error_handlers
from .ogcapi import create_blueprint
from .wps import WPSEndpoint


def create_app(settings: Settings | None = None, processes: Iterable[Process] = ()) -> Flask:
    """Build the WSGI application.

    :param settings: the configuration; defaults suit a local demo.
    :param processes: processes to serve besides those of the modules named in
        ``settings.processes``.
    """
    settings = settings or Settings()
    loaded = (load_processes(module) for module in settings.processes)
    registry = ProcessRegistry(itertools.chain(processes, *loaded))
    storage = FileStorage(settings.output_dir)
    store = SQLJobStore(settings.job_database_url)
    if in_worker_process():
        # A worker process imported a module that builds an app: it must not run jobs itself.
        service = Service(settings, registry, storage, store)
    else:
        executor = LocalExecutor(settings, store, registry, registry.sources())
        pool = SyncPool(settings, registry.sources())
        service = Service(settings, registry, storage, store, executor, pool)
        executor.start()
    endpoint = WPSEndpoint(service)

    app = Flask("wpsd")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["wpsd"] = service
    app.add_url_rule("/wps", "wps", endpoint.handle, methods=["GET", "POST"])

    def stored_output(job: str, name: str) -> Response:
        found = storage.open(f"{job}/{name}")
        if found is None:
            abort(404)
        path, content_type = found
        return send_file(path, mimetype=content_type, conditional=True)

    app.add_url_rule("/wps/outputs/<job>/<name>", "output", stored_output)
    app.add_url_rule("/wps/jobs/<job_id>", "job_status", endpoint.job_status)
    app.register_blueprint(create_blueprint(service))
    register_error_handlers(app)
    return app
