"""The users of API tokens and the owners of jobs in the job store, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from wpsd.backends.sql import MIGRATIONS, SQLJobStore, jobs, schema_version
from wpsd.backends.users import TOKEN_PREFIX, SQLUserStore
from wpsd.core.codec import dump_execute
from wpsd.core.job import Job, JobStatus, now
from wpsd.protocol.requests import Execute

REQUEST = Execute("say_hello", "1.0.0")


def job(owner: str = "") -> Job:
    return Job(str(uuid.uuid4()), "say_hello", REQUEST, "http://h/wps", "http://h/wps/outputs/",
               "en-US", owner=owner)


@pytest.fixture
def store(store_url):
    store = SQLJobStore(store_url)
    yield store
    store.close()


def test_tokens_are_shown_once_and_kept_as_hashes(store, store_url):
    users = SQLUserStore(store)
    token = users.add("alice", roles=("staff", "staff", "gis"))
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    found = users.by_token(token)
    assert (found.name, found.admin, found.roles) == ("alice", False, ("gis", "staff"))
    assert users.by_token(token + "x") is None and users.by_token("") is None
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM wpsd_users")).all()
    engine.dispose()
    assert len(rows) == 1 and token not in repr(rows)  # only its hash


def test_users_are_added_renewed_and_removed(store):
    users = SQLUserStore(store)
    first = users.add("bob", admin=True)
    with pytest.raises(ValueError, match="already"):
        users.add("bob")
    for bad in ("", "two words", "a:b", "x" * 256, "tab\there"):
        with pytest.raises(ValueError, match="no user name"):
            users.add(bad)
    second = users.new_token("bob")
    assert users.by_token(first) is None and users.by_token(second).admin
    assert users.new_token("nobody") is None
    assert [u.name for u in users.list_users()] == ["bob"]
    assert users.remove("bob") and not users.remove("bob")
    assert users.by_token(second) is None


def test_tokens_survive_a_restart(store_url):
    first = SQLJobStore(store_url)
    token = SQLUserStore(first).add("carol")
    first.close()
    again = SQLJobStore(store_url)
    try:
        assert SQLUserStore(again).by_token(token).name == "carol"
    finally:
        again.close()


def test_jobs_are_listed_per_owner(store):
    alices = [job("alice") for _ in range(3)]
    for one in [*alices, job("bob"), job()]:
        store.create(one)
    assert {j.id for j in store.list_jobs(owner="alice")} == {j.id for j in alices}
    assert len(store.list_jobs(owner="alice", limit=2)) == 2
    assert [j.owner for j in store.list_jobs(owner="")] == [""]
    assert len(store.list_jobs()) == 5
    assert store.get(alices[0].id).owner == "alice"
    assert store.owner_of(alices[0].id) == "alice" and store.owner_of("nothing") is None


def test_owners_of_synchronous_outputs(store):
    store.record_owner("exec-1", "alice")
    store.record_owner("exec-2", "bob")
    assert store.owner_of("exec-1") == "alice"
    store.delete("exec-1")
    assert store.owner_of("exec-1") is None
    store.forget_owners(now() - dt.timedelta(hours=1))
    assert store.owner_of("exec-2") == "bob"
    store.forget_owners(now() + dt.timedelta(seconds=1))
    assert store.owner_of("exec-2") is None


def test_a_version_1_store_is_migrated(store_url):
    """Jobs of a store made before there were owners belong to the anonymous tenant."""
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        MIGRATIONS[0](conn)
        schema_version.create(conn)
        conn.execute(schema_version.insert().values(version=1))
        conn.execute(sa.text(
            "INSERT INTO wpsd_jobs (id, process_id, status, progress, message, request, "
            "service_url, output_url, language, created) VALUES ('old', 'say_hello', "
            "'succeeded', 100, 'finished', :request, 'http://h/wps', 'http://h/o/', 'en-US', "
            ":created)"), {"request": dump_execute(REQUEST), "created": now()})
    engine.dispose()
    store = SQLJobStore(store_url)
    try:
        old = store.get("old")
        assert (old.owner, old.status) == ("", JobStatus.SUCCEEDED)
        store.create(job("alice"))
        assert [j.id for j in store.list_jobs(owner="")] == ["old"]
        assert SQLUserStore(store).add("dave")
        with store.connection() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == \
                len(MIGRATIONS) == 3
            assert "owner" in {c.name for c in jobs.columns}
    finally:
        store.close()
