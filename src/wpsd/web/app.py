"""create_app(): the Flask application, wired from settings."""

from __future__ import annotations

import dataclasses
import itertools
import socket
from collections.abc import Iterable
from functools import cache
from pathlib import Path

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
from .headers import as_download, secure
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

    app = Flask("wpsd", static_folder=str(Path(__file__).with_name("static")),
                static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    if not settings.url:
        # Every link is built from the Host header then: honour only the names we serve on,
        # so that a client cannot put its own host into documents (or their caches).
        app.config["TRUSTED_HOSTS"] = list(settings.trusted_hosts or default_trusted_hosts())
    app.after_request(secure)
    app.extensions["wpsd"] = service
    app.add_url_rule("/wps", "wps", endpoint.handle, methods=["GET", "POST"])

    def stored_output(job: str, name: str) -> Response:
        found = storage.open(f"{job}/{name}")
        if found is None:
            abort(404)
        path, content_type = found
        return as_download(send_file(path, mimetype=content_type, conditional=True), name)

    app.add_url_rule("/wps/outputs/<job>/<name>", "output", stored_output)
    app.add_url_rule("/wps/jobs/<job_id>", "job_status", endpoint.job_status)
    app.register_blueprint(create_blueprint(service))
    register_error_handlers(app)
    return app


@cache
def default_trusted_hosts() -> tuple[str, ...]:
    """The names a server on this machine is reached by: loopback and the machine's own."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    try:
        name, aliases, addresses = socket.gethostbyname_ex(socket.gethostname())
        names += [name, *aliases, *addresses]
    except OSError:
        pass  # no resolvable name: loopback only
    return tuple(dict.fromkeys(names))


def serving_on(settings: Settings, host: str) -> Settings:
    """The settings of a server started on ``host``: that name is trusted in Host headers too."""
    if settings.url or settings.trusted_hosts or host in ("", "0.0.0.0", "::"):
        return settings
    return dataclasses.replace(settings, trusted_hosts=(*default_trusted_hosts(), host))
