"""Starting a worker: ``wpsd worker``, ``python -m wpsd.worker``, or embedded by a web process.

The lock comes first, before the process modules are imported (when the settings already say
where the store is, as an embedded worker's do): a duplicate leaves at once and costs little.
Then the worker imports the processes, opens the store and supervises.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..config import Settings, load_settings
from ..processes.registry import ProcessRegistry, load_processes
from .channel import Channel
from .embedded import SOURCES_VARIABLE

logger = logging.getLogger("wpsd")
#: set in worker processes, so that a user module that builds an app when imported does not
#: start a worker of its own
IN_WORKER_VARIABLE = "WPSD_IN_WORKER"


def in_worker_process() -> bool:
    return bool(os.environ.get(IN_WORKER_VARIABLE))


def run_worker(settings: Settings, sources: Sequence[str], lifeline: int | None = None,
               channel: Channel | None = None) -> int:
    """Serve the executions of ``settings``' job store on this host until stopped.

    An embedded worker is given its ``channel`` by the web process, so it takes the lock
    before importing anything; a worker started by hand finds its channel from its processes.
    """
    os.environ[IN_WORKER_VARIABLE] = "1"
    registry = None
    if channel is None:
        registry = load_registry(sources)
        ids = [p.identifier for p in registry]
        settings = settings.resolved(ids, list(sources))
        channel = Channel.for_server(settings.job_database_url, ids)
    channel.make()
    lock = os.open(channel.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        logger.info("another worker serves these processes of %s on this host",
                    settings.job_database_url)
        return 0 if lifeline is not None else 1
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    if registry is None:
        registry = load_registry(sources)
        settings = settings.resolved([p.identifier for p in registry], list(sources))

    from ..backends.outputs import open_storage
    from ..backends.sql import SQLJobStore
    from ..fetch import environment
    from .supervisor import Supervisor

    store = SQLJobStore(settings.job_database_url)
    storage = open_storage(settings)
    try:
        Supervisor(settings, registry, store, storage, environment(settings, storage), channel,
                   lifeline, lock).run()
    finally:
        store.close()
        os.close(lock)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wpsd worker", description=__doc__)
    parser.add_argument("modules", nargs="*", help="modules of processes (dotted or .py)")
    parser.add_argument("-c", "--config", default=os.environ.get("WPSD_CONFIG"))
    parser.add_argument("--lifeline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from ..logs import configure_logging

    configure_logging()
    # A worker its server started (and gave its sources) is not to warn of what that
    # server warned of already.
    settings = load_settings(args.config, os.environ,
                             warn_unknown=SOURCES_VARIABLE not in os.environ)
    configure_logging(settings.log_format)
    given = os.environ.get(SOURCES_VARIABLE)
    sources = json.loads(given) if given else [*settings.processes, *args.modules]
    if not sources:
        parser.error("name at least one module of processes, or a config file that does")
    channel = Channel(Path(args.channel)) if args.channel else None
    return run_worker(settings, sources, args.lifeline, channel)


def load_registry(sources: Sequence[str]) -> ProcessRegistry:
    """The processes of these modules (the first of two with one identifier wins)."""
    registry = ProcessRegistry()
    for source in sources:
        for found in load_processes(source):
            if found.identifier not in registry:
                registry.add(found)
    return registry
