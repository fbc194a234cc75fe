"""Wake-ups between hosts through PostgreSQL: ``NOTIFY`` from web nodes, ``LISTEN`` in workers.

A web node wakes its own host's worker with a datagram (:mod:`wpsd.worker.channel`); a worker
on another host sharing the store would otherwise see a new job only at its next poll, and a
dismissal only through the job's heartbeat. With PostgreSQL the web node also sends a
``NOTIFY`` with the same payloads (``job``, ``cancel <job id>``), and every worker of the
server LISTENs, so all of them hear it at once.

NOTIFY reaches every session of the *database*, whatever its schema or search_path, so a
channel is named after a hash of the whole store URL (options included) and the server's
processes (:attr:`wpsd.worker.channel.Channel.key`): servers of other processes, or on other
schemas of the same database, hear nothing of each other.

Notifications are a hint, never the truth: one lost (no listener connected at that moment)
costs a poll interval, as a lost datagram does.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..ports import Notifier

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("wpsd")
#: seconds between attempts to reconnect a listener: doubling from the first to the last
RETRY_FIRST, RETRY_LAST = 0.5, 30.0
_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


def is_postgresql(url: str) -> bool:
    return sa.make_url(url).get_backend_name() == "postgresql"


def channel_name(key: str) -> str:
    """The notification channel of a server key (a hex digest: a valid, lower-case name)."""
    return f"wpsd_{key}"


class PgNotifier:
    """Tells the workers of every host (NOTIFY) and this host's (``local``) about a job.

    The NOTIFY is one autocommit statement on a pooled connection of its own engine (the
    store's engine is not at hand where notifiers are chosen); a pooled connection that the
    server dropped is replaced once. It never raises: the job is stored, and workers poll.
    """

    def __init__(self, url: str, channel: str, local: Notifier) -> None:
        self.channel = channel
        self.local = local
        # One idle connection per web process is enough for a statement this short; a burst
        # of threads borrows a few more, closed when returned.
        self._engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1,
                                        max_overflow=8)
        self._pid = os.getpid()

    def _notify(self, payload: str) -> None:
        if self._pid != os.getpid():
            # Forked (a pre-loading WSGI server): the parent's connections are not ours.
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        for attempt in (1, 2):
            try:
                with self._engine.connect() as conn:
                    conn.execute(_NOTIFY, {"channel": self.channel, "payload": payload})
                return
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    continue  # a pooled connection the server had closed: once more, anew
                logger.warning("could not notify the workers (%s); they will poll", exc)
            except Exception as exc:  # whatever it is, the request must not fail for it
                logger.warning("could not notify the workers (%s); they will poll", exc)
            return

    def job_submitted(self) -> None:
        self.local.job_submitted()
        self._notify("job")

    def job_dismissed(self, job_id: str) -> None:
        self.local.job_dismissed(job_id)
        self._notify(f"cancel {job_id}")

    def close(self) -> None:
        self.local.close()
        self._engine.dispose()


class PgListener:
    """A worker's LISTEN connection: a selectable descriptor, and the payloads received.

    It has a psycopg connection of its own (autocommit, never pooled, never shared with the
    store): LISTEN belongs to a session. When the connection drops, :meth:`drain` reconnects
    at once and then with a growing delay, never raising; after a reconnect it reports
    ``b"job"``, since whatever was announced in between is lost. The descriptor changes with
    each connection: :attr:`generation` counts them, so a selector can follow.
    """

    def __init__(self, url: str, channels: Sequence[str]) -> None:
        self.url = url
        self.channels = list(channels)
        self._conn: psycopg.Connection[Any] | None = None
        self._delay = RETRY_FIRST
        self._retry_at = 0.0
        self.generation = 0
        self._connect()

    def _connect_args(self) -> tuple[Sequence[Any], dict[str, Any]]:
        # The store's URL, whatever its driver, read by SQLAlchemy's psycopg dialect into the
        # arguments of psycopg.connect: host, database, options (the search_path)... Here,
        # not in __init__: without psycopg installed, this fails like a connection does.
        engine = sa.create_engine(sa.make_url(self.url).set(drivername="postgresql+psycopg"),
                                  poolclass=sa.pool.NullPool)
        args, given = engine.dialect.create_connect_args(engine.url)
        engine.dispose()
        kwargs = dict(given)
        kwargs.pop("context", None)  # SQLAlchemy's adapters: LISTEN needs none
        # Bounded waits in the worker's loop, and a dead peer noticed within about a minute
        # (a silently lost connection would leave the worker to its polls).
        for name, value in (("connect_timeout", 5), ("keepalives", 1),
                            ("keepalives_idle", 30), ("keepalives_interval", 10),
                            ("keepalives_count", 3)):
            kwargs.setdefault(name, value)
        return args, kwargs

    def fileno(self) -> int:
        """The connection's descriptor (readable when something arrived), or -1 if none."""
        return self._conn.fileno() if self._conn is not None else -1

    def drain(self) -> list[bytes]:
        """The payloads received so far, without waiting; reconnects when it is time to."""
        if self._conn is None:
            if time.monotonic() >= self._retry_at and self._connect():
                return [b"job"]
            return []
        import psycopg

        try:
            pgconn = self._conn.pgconn
            pgconn.consume_input()  # what the socket holds, without blocking
            payloads = []
            while (notify := pgconn.notifies()) is not None:
                payloads.append(notify.extra)
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("the connection is closed")
            return payloads
        except Exception as exc:  # psycopg's errors, mostly; none may reach the loop
            logger.warning("worker: lost the PostgreSQL notification connection (%s); "
                           "reconnecting", str(exc).strip())
            self._drop()
            return self.drain()  # at once: the server is likely still there

    def _connect(self) -> bool:
        try:
            import psycopg
            from psycopg import sql

            args, kwargs = self._connect_args()
            conn = psycopg.connect(*args, **kwargs, autocommit=True)
            try:
                for channel in self.channels:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            except BaseException:
                conn.close()
                raise
        except Exception as exc:
            self._retry_at = time.monotonic() + self._delay
            logger.warning("worker: no PostgreSQL notifications (%s); polling, and trying "
                           "again in %g s", str(exc).strip(), self._delay)
            self._delay = min(self._delay * 2, RETRY_LAST)
            return False
        self._conn, self._delay = conn, RETRY_FIRST
        self.generation += 1
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass  # broken already: only the descriptor had to go
            self._conn = None
        self._retry_at = 0.0

    def close(self) -> None:
        self._drop()
