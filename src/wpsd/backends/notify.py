"""Choosing how web nodes wake workers, from the settings."""

from __future__ import annotations

from ..config import Settings
from ..ports import Notifier
from ..worker.channel import Channel
from ..worker.channel import Notifier as LocalNotifier
from .pgnotify import PgNotifier, channel_name, is_postgresql


def notifier_for(settings: Settings, local: Notifier) -> Notifier:
    """The notifier of a web node: ``local`` (this host's workers), and on PostgreSQL the
    workers of every host too (:class:`~.pgnotify.PgNotifier`)."""
    url = settings.job_database_url
    if not is_postgresql(url):
        return local
    server = local.channel if isinstance(local, LocalNotifier) else None
    # A notifier of no one server (the jobs CLI knows no processes) speaks on the store's
    # channel, which every worker of the store also listens to (see Supervisor.run).
    channel = server if server is not None else Channel.for_server(url, ())
    return PgNotifier(url, channel_name(channel.key), local)
