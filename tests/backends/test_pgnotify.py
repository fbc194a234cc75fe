"""Wake-ups through PostgreSQL (NOTIFY / LISTEN), on the test PostgreSQL of
WPSD_TEST_POSTGRES_URL: skipped when it is unset, failed when it is set but unreachable."""

from __future__ import annotations

import os
import selectors
import time
import uuid
import warnings
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from helpers import postgres_schema
from wpsd import Settings
from wpsd.backends.notify import notifier_for
from wpsd.backends.pgnotify import PgListener, PgNotifier, channel_name
from wpsd.worker.channel import BroadcastNotifier, Channel
from wpsd.worker.channel import Notifier as LocalNotifier

POSTGRES_VARIABLE = "WPSD_TEST_POSTGRES_URL"


class Recorder:
    """A local notifier that remembers what it was told."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def job_submitted(self) -> None:
        self.told.append("job")

    def job_dismissed(self, job_id: str) -> None:
        self.told.append(f"cancel {job_id}")

    def close(self) -> None:
        self.told.append("closed")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema of the test PostgreSQL, as its URL (search_path in the options), with
    an application_name of its own so that a test can find its sessions."""
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        pytest.skip(f"{POSTGRES_VARIABLE} is not set")
    with postgres_schema(base, tagged=True) as url:
        yield url


def receive(listener: PgListener, count: int = 1, timeout: float = 5.0) -> list[bytes]:
    """Wait on the listener's descriptor, as the worker's selector does, for ``count`` payloads."""
    received: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        with selectors.DefaultSelector() as selector:
            if listener.fileno() >= 0:
                selector.register(listener.fileno(), selectors.EVENT_READ)
                selector.select(max(0.0, deadline - time.monotonic()))
            else:
                time.sleep(0.05)
        received += listener.drain()
    return received


def terminate_sessions(url: str, *, query_like: str) -> int:
    """End the test's sessions (its application_name) whose last query matches."""
    name = sa.make_url(url).query["application_name"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ended = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :name AND pid <> pg_backend_pid() AND query LIKE :q"),
            {"name": name, "q": query_like}).scalar_one()
    engine.dispose()
    return int(ended)


def test_a_notification_is_drained_at_once(pg_url):
    channel = channel_name(Channel.for_server(pg_url, ["p"]).key)
    listener = PgListener(pg_url, [channel])
    local = Recorder()
    notifier = PgNotifier(pg_url, channel, local)
    try:
        assert listener.fileno() >= 0 and listener.drain() == []
        started = time.monotonic()
        notifier.job_submitted()
        assert receive(listener) == [b"job"]
        latency = time.monotonic() - started
        notifier.job_dismissed("5d3c")
        assert receive(listener) == [b"cancel 5d3c"]
        assert local.told == ["job", "cancel 5d3c"], "the host's own worker is told too"
        print(f"\nNOTIFY -> drained: {latency * 1000:.1f} ms")
        assert latency < 2
        assert listener.drain() == []
    finally:
        notifier.close()
        listener.close()
    assert local.told[-1] == "closed" and listener.fileno() == -1


def test_channels_keep_process_sets_and_schemas_apart(pg_url):
    other_schema = sa.make_url(pg_url).update_query_dict(
        {"options": "-csearch_path=somewhere_else"}).render_as_string(hide_password=False)
    keys = {
        "mine": Channel.for_server(pg_url, ["a", "b"]).key,
        "other processes": Channel.for_server(pg_url, ["a"]).key,
        "other schema": Channel.for_server(other_schema, ["a", "b"]).key,
    }
    assert len(set(keys.values())) == 3
    store_wide = channel_name(Channel.for_server(pg_url, ()).key)
    listeners = {name: PgListener(pg_url, [channel_name(key), store_wide])
                 for name, key in keys.items()}
    # The web node's notifier, chosen from the settings as create_app chooses it.
    local = LocalNotifier(Channel.for_server(pg_url, ["b", "a"]))
    notifier = notifier_for(Settings(database_url=pg_url), local)
    tool = notifier_for(Settings(database_url=pg_url), BroadcastNotifier())
    try:
        assert isinstance(notifier, PgNotifier) and notifier.local is local
        notifier.job_submitted()
        notifier.job_dismissed("j1")
        assert receive(listeners["mine"], 2) == [b"job", b"cancel j1"]
        # The jobs CLI knows no processes: it speaks to every worker of the store.
        tool.job_dismissed("j2")
        assert receive(listeners["mine"]) == [b"cancel j2"]
        time.sleep(0.2)
        assert listeners["other processes"].drain() == [b"cancel j2"]
        assert listeners["other schema"].drain() == [b"cancel j2"]
    finally:
        notifier.close()
        tool.close()
        for listener in listeners.values():
            listener.close()


def test_sqlite_keeps_the_local_notifier(tmp_path):
    local = Recorder()
    assert notifier_for(Settings(data_dir=tmp_path), local) is local


def test_the_listener_reconnects_when_its_session_is_killed(pg_url):
    channel = channel_name(uuid.uuid4().hex[:16])
    listener = PgListener(pg_url, [channel])
    notifier = PgNotifier(pg_url, channel, Recorder())
    try:
        first = listener.fileno()
        assert terminate_sessions(pg_url, query_like="LISTEN%") == 1
        # The server's goodbye makes the descriptor readable; draining reconnects, and
        # says "job" since what was sent in between is lost.
        assert receive(listener) == [b"job"]
        assert listener.generation == 2 and listener.fileno() >= 0
        notifier.job_dismissed("after")
        assert receive(listener) == [b"cancel after"]
        # The notifier's pooled connection was killed too: it connects anew, once.
        assert terminate_sessions(pg_url, query_like="SELECT pg_notify%") == 1
        notifier.job_submitted()
        assert receive(listener) == [b"job"]
        print(f"\nlistener descriptor {first} -> {listener.fileno()}")
    finally:
        notifier.close()
        listener.close()


def test_an_unreachable_server_is_retried_with_backoff_never_raised():
    listener = PgListener("postgresql+psycopg://nobody@127.0.0.1:1/none", ["wpsd_x"])
    assert listener.fileno() == -1 and listener.generation == 0
    assert listener.drain() == []  # too early to try again: no connection attempt
    listener._retry_at = 0.0  # due now
    assert listener.drain() == [] and listener.fileno() == -1
    assert listener._delay > 1.0, "each failure waits longer"
    listener.close()


def test_a_forked_child_closing_the_descriptor_leaves_the_session_alone(pg_url):
    # What a job process forked from the worker does (Supervisor._fork closes _owned).
    channel = channel_name(uuid.uuid4().hex[:16])
    listener = PgListener(pg_url, [channel])
    notifier = PgNotifier(pg_url, channel, Recorder())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded pytest
            pid = os.fork()
        if pid == 0:
            os.close(listener.fileno())
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        notifier.job_submitted()
        assert receive(listener) == [b"job"]
        assert listener.generation == 1, "the session survived the child"
    finally:
        notifier.close()
        listener.close()
