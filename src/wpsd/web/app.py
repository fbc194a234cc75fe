"""create_app(): the Flask application, wired from settings."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import signal
import socket
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from flask import Flask, Response, abort

from .. import metrics
from ..backends.notify import notifier_for
from ..backends.outputs import open_storage
from ..backends.sql import SQLJobStore
from ..backends.users import SQLUserStore
from ..config import Settings
from ..core.service import Service
from ..fetch import environment
from ..ports import Notifier
from ..processes.process import Process
from ..processes.registry import ProcessRegistry, load_processes
from ..worker.channel import Channel
from ..worker.channel import Notifier as LocalNotifier
from ..worker.embedded import EmbeddedNotifier, EmbeddedWorker
from ..worker.main import in_worker_process
from ..worker.sync import SyncClient
from .auth import authenticator_for, current_caller, install_guard
from .errors import register_error_handlers
from .headers import secure
from .health import install_health
from .metrics import install_metrics, install_request_ids
from .ogcapi import create_blueprint
from .outputs import serve_output
from .wps import WPSEndpoint

logger = logging.getLogger("wpsd")


def create_app(settings: Settings | None = None, processes: Iterable[Process] = ()) -> Flask:
    """Build the WSGI application.

    Executions run in this host's worker (see :mod:`wpsd.worker`), which this process starts
    when ``embedded_worker`` is on and none runs yet.

    :param settings: the configuration; defaults suit a local demo.
    :param processes: processes to serve besides those of the modules named in
        ``settings.processes``.
    """
    settings = settings or Settings()
    loaded = (load_processes(module) for module in settings.processes)
    registry = ProcessRegistry(itertools.chain(processes, *loaded))
    if not len(registry):
        logger.warning("wpsd: no processes to serve; name modules in the `processes` setting "
                       "(WPSD_PROCESSES or the config file)")
    settings = settings.resolved([p.identifier for p in registry], registry.sources())
    if settings.metrics:
        # Before the worker starts: it inherits the folder, as gunicorn's workers do.
        metrics.enable(settings.data_path / "metrics")
    storage = open_storage(settings)
    store = SQLJobStore(settings.job_database_url)
    channel = Channel.for_server(settings.job_database_url, [p.identifier for p in registry])
    env = environment(settings, storage)
    worker = None
    notifier: Notifier
    if settings.embedded_worker and not in_worker_process():
        worker = EmbeddedWorker(settings, registry.sources(), channel)
        notifier = EmbeddedNotifier(channel, worker)
        # Started now, not at the first execution: that one must not wait for the imports,
        # and jobs accepted before a restart start at once.
        worker.ensure()
    else:
        notifier = LocalNotifier(channel)
    notifier = notifier_for(settings, notifier)
    executor = SyncClient(channel, settings.work_path,
                          worker.ensure if worker is not None else None)
    service = Service(settings, registry, store, storage, executor, env, notifier)
    endpoint = WPSEndpoint(service)
    authenticator = authenticator_for(settings, SQLUserStore(store))

    app = Flask("wpsd", static_folder=str(Path(__file__).with_name("static")),
                static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # Documents keep the order things are declared in: a process's first input comes first
    # (the CITE suite builds its requests from it).
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if not settings.url:
        # Every link is built from the Host header then: honour only the names we serve on,
        # so that a client cannot put its own host into documents (or their caches).
        app.config["TRUSTED_HOSTS"] = list(settings.trusted_hosts or default_trusted_hosts())
    app.after_request(secure)
    install_guard(app, authenticator, settings)
    install_request_ids(app)
    install_health(app, store, channel, worker)
    if settings.metrics:
        # With metrics_listen the host's worker serves them: one address per host, which
        # gunicorn's several web processes could not all hold.
        install_metrics(app, store, serve=settings.metrics_listen is None)
    app.extensions["wpsd"] = service
    app.extensions["wpsd.worker"] = worker
    app.add_url_rule("/wps", "wps", endpoint.handle, methods=["GET", "POST"])

    def stored_output(job: str, name: str) -> Response:
        if not service.may_read_outputs(job, caller=current_caller()):
            abort(404)  # as for outputs that do not exist
        return serve_output(storage, job, name)

    app.add_url_rule("/wps/outputs/<job>/<name>", "output", stored_output)
    app.add_url_rule("/wps/jobs/<job_id>", "job_status", endpoint.job_status)
    app.register_blueprint(create_blueprint(service))
    register_error_handlers(app)
    return app


def close_app(app: Flask, kill_jobs: bool = False) -> None:
    """Release what an app holds: its store connections, and the worker it started (whose
    running jobs go on unless ``kill_jobs``)."""
    app.extensions["wpsd"].close()
    worker = app.extensions.get("wpsd.worker")
    if worker is not None:
        worker.close(kill_jobs=kill_jobs)


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


def run_development_server(app: Flask, host: str, port: int, debug: bool = False) -> None:
    """Serve ``app`` with Flask's own server (``wpsd serve``, the demo) until Ctrl-C or
    SIGTERM. SIGTERM ends it as Ctrl-C does, in order, so that what runs at exit runs
    (the metrics of this process are folded, its worker is told to stop)."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    app.run(host=host, port=port, debug=debug, threaded=True)


def serving_on(settings: Settings, host: str) -> Settings:
    """The settings of a server started on ``host``: that name is trusted in Host headers too."""
    if settings.url or settings.trusted_hosts or host in ("", "0.0.0.0", "::"):
        return settings
    return dataclasses.replace(settings, trusted_hosts=(*default_trusted_hosts(), host))
