"""The SQL job store, on SQLite and on PostgreSQL (when WPSD_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import uuid

import pytest
import sqlalchemy as sa

from wpsd.backends.sql import MIGRATIONS, SQLJobStore, schema_version
from wpsd.core.job import Job, JobError, JobStatus, now
from wpsd.datatypes.values import BoundingBox
from wpsd.protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    Execute,
    LiteralData,
    OutputRequest,
    ReferenceData,
)

REQUEST = Execute(
    identifier="buffer",
    version="1.0.0",
    inputs=(
        DataInput("features", ComplexData(b"\x00{\"type\": 1}", "application/json", None, None)),
        DataInput("distance", LiteralData("1.5", uom="m")),
        DataInput("ref", ReferenceData("http://h/x", "POST", (("A", "b"),), b"body", None,
                                       "text/plain")),
        DataInput("box", BoundingBoxData(BoundingBox((1.0, 2.0), (3.0, 4.0), "EPSG:4326"))),
    ),
    outputs=(OutputRequest("buffered", as_reference=True, mime_type="application/json"),),
    lineage=True,
    status=True,
    store=True,
)


KNOWN = ["buffer", "other"]


def claim_one(store: SQLJobStore, worker: str, process_ids) -> Job | None:
    claimed = store.claim(worker, process_ids, 1)
    assert len(claimed) <= 1, f"asked for one job, flipped {len(claimed)} to running"
    return claimed[0] if claimed else None


def new_job(process_id: str = "buffer", **changes) -> Job:
    job = Job(str(uuid.uuid4()), process_id, REQUEST, "http://h/wps", "http://h/wps/outputs/",
              "en-US")
    for name, value in changes.items():
        setattr(job, name, value)
    return job


@pytest.fixture
def store(store_url):
    store = SQLJobStore(store_url)
    yield store
    store.close()


def test_round_trip(store):
    job = new_job()
    store.create(job)
    loaded = store.get(job.id)
    assert loaded.request == REQUEST
    assert (loaded.status, loaded.progress, loaded.language) == (JobStatus.ACCEPTED, 0, "en-US")
    assert loaded.created.tzinfo is not None
    assert abs(loaded.created - job.created) < dt.timedelta(milliseconds=1)
    assert store.get("nope") is None


def test_lifecycle(store):
    job = new_job()
    store.create(job)
    claimed = claim_one(store, "host-a", KNOWN)
    assert claimed.id == job.id and claimed.status is JobStatus.RUNNING
    assert claimed.worker == "host-a" and claimed.started is not None
    assert claim_one(store, "host-b", KNOWN) is None
    assert store.heartbeat(job.id, 1234) and not store.heartbeat("no-such-job", 1)
    assert store.update_progress(job.id, 40, "halfway")
    assert (store.get(job.id).progress, store.get(job.id).message, store.get(job.id).pid) == (
        40, "halfway", 1234)
    outputs = [{"identifier": "buffered", "text": None, "data": None, "bbox": None,
                "href": "http://h/x"}]
    assert store.finish(job.id, JobStatus.SUCCEEDED, outputs=outputs)
    done = store.get(job.id)
    assert (done.status, done.progress, done.outputs) == (JobStatus.SUCCEEDED, 100, outputs)
    # An ended job stays ended: late progress reports and second finishes change nothing.
    assert not store.update_progress(job.id, 50, "late")
    assert not store.finish(job.id, JobStatus.FAILED, error=JobError("NoApplicableCode", "x"))
    assert store.get(job.id).status is JobStatus.SUCCEEDED


def test_dismissed_job_is_never_claimed_or_overwritten(store):
    waiting, running = new_job(), new_job()
    store.create(running)
    claim_one(store, "h", KNOWN)
    store.create(waiting)
    assert store.finish(waiting.id, JobStatus.DISMISSED)
    assert store.finish(running.id, JobStatus.DISMISSED)
    assert claim_one(store, "h", KNOWN) is None
    assert not store.finish(running.id, JobStatus.SUCCEEDED, outputs=[])
    assert not store.heartbeat(running.id, 1) and not store.heartbeat(waiting.id, 1)
    assert store.get(running.id).status is JobStatus.DISMISSED


def test_failure_keeps_the_error(store):
    job = new_job()
    store.create(job)
    claim_one(store, "h", KNOWN)
    store.finish(job.id, JobStatus.FAILED, error=JobError("InvalidParameterValue", "bad", "x"))
    failed = store.get(job.id)
    assert failed.error == JobError("InvalidParameterValue", "bad", "x")
    assert failed.message == "bad"


def test_claims_oldest_first_and_counts(store):
    jobs = [new_job(created=now() + dt.timedelta(seconds=i)) for i in range(3)]
    for job in reversed(jobs):
        store.create(job)
    assert claim_one(store, "a", KNOWN).id == jobs[0].id
    assert claim_one(store, "b", KNOWN).id == jobs[1].id
    assert store.count([JobStatus.RUNNING]) == 2
    assert store.count([JobStatus.RUNNING], worker="a") == 1
    assert store.count([JobStatus.ACCEPTED]) == 1
    assert [j.id for j in store.list_jobs()] == [j.id for j in reversed(jobs)]
    assert [j.id for j in store.list_jobs(statuses=[JobStatus.ACCEPTED])] == [jobs[2].id]
    assert store.list_jobs(process_ids=["other"]) == []
    assert len(store.list_jobs(process_ids=["other", "buffer"])) == 3
    assert len(store.list_jobs(limit=1, offset=1)) == 1


def test_stale_jobs_fail(store):
    job = new_job()
    store.create(job)
    claim_one(store, "h", KNOWN)
    assert store.fail_stale(now() - dt.timedelta(seconds=60), "gone") == []
    assert store.fail_stale(now() + dt.timedelta(seconds=1), "gone") == [job.id]
    failed = store.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.message == "gone"
    assert failed.error.code == "NoApplicableCode"


def test_expiry_only_lists_ended_jobs(store):
    ended, running, waiting = new_job(), new_job(), new_job()
    for job in (ended, running, waiting):
        store.create(job)
    claim_one(store, "h", KNOWN)
    claim_one(store, "h", KNOWN)
    store.finish(ended.id, JobStatus.SUCCEEDED, outputs=[])
    later = now() + dt.timedelta(seconds=5)
    assert store.expired(later) == [ended.id]
    assert store.expired(now() - dt.timedelta(seconds=5)) == []
    store.delete(ended.id)
    assert store.get(ended.id) is None


def test_schema_is_versioned(store_url):
    SQLJobStore(store_url).close()
    again = SQLJobStore(store_url)  # migrating twice is harmless
    with again._write.begin() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalar() == len(MIGRATIONS)
        conn.execute(schema_version.update().values(version=len(MIGRATIONS) + 1))
    again.close()
    with pytest.raises(RuntimeError, match="newer than this wpsd"):
        SQLJobStore(store_url)


# ---------------------------------------------------------------- concurrency

JOBS_PER_PROCESS = 40
PROCESSES = 4


def _hammer(url: str, name: str, results) -> None:
    store = SQLJobStore(url)
    try:
        for _ in range(JOBS_PER_PROCESS):
            store.create(new_job(process_id=name))
        claimed = []
        while (job := claim_one(store, name, [f"p{i}" for i in range(PROCESSES)])) is not None:
            claimed.append(job.id)
            for percent in (10, 50, 90):
                assert store.update_progress(job.id, percent, f"{name} {percent}")
            store.heartbeat(job.id, os.getpid())
            assert store.finish(job.id, JobStatus.SUCCEEDED, outputs=[])
            store.get(job.id)
            store.count([JobStatus.ACCEPTED])
        results.put((name, claimed, None))
    except Exception as exc:  # reported to the test, which fails with it
        results.put((name, [], repr(exc)))
    finally:
        store.close()


def test_many_processes_never_lock_or_lose_updates(store_url):
    SQLJobStore(store_url).close()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(store_url, f"p{i}", results))
               for i in range(PROCESSES)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    results.close()
    results.join_thread()
    errors = [error for _, _, error in outcomes if error]
    assert errors == []
    claimed = [job_id for _, ids, _ in outcomes for job_id in ids]
    assert len(claimed) == len(set(claimed)) == PROCESSES * JOBS_PER_PROCESS
    store = SQLJobStore(store_url)
    jobs = store.list_jobs(limit=1000)
    assert len(jobs) == PROCESSES * JOBS_PER_PROCESS
    assert all(j.status is JobStatus.SUCCEEDED and j.progress == 100 for j in jobs)
    store.close()


def test_claims_only_jobs_of_the_claimers_processes(store):
    mine, theirs = new_job("buffer"), new_job("elsewhere")
    store.create(theirs)
    store.create(mine)
    assert claim_one(store, "w", ["buffer"]).id == mine.id
    assert claim_one(store, "w", ["buffer"]) is None
    assert claim_one(store, "w", []) is None
    assert store.get(theirs.id).status is JobStatus.ACCEPTED


def test_claims_several_at_once_oldest_first(store):
    made = [new_job() for _ in range(5)]
    base = made[0].created
    for n, job in enumerate(made):  # the first made is the newest
        job.created = base + dt.timedelta(seconds=len(made) - n)
        store.create(job)
    claimed = store.claim("w", KNOWN, 3)
    assert [j.id for j in claimed] == [j.id for j in reversed(made)][:3]
    assert all(j.status is JobStatus.RUNNING and j.worker == "w" for j in claimed)
    assert [j.id for j in store.claim("x", KNOWN, 10)] == [j.id for j in reversed(made)][3:]


def test_a_jobs_log_is_appended_and_read_whole_or_by_its_end(store):
    job = new_job()
    store.create(job)
    assert store.job_log(job.id) == "" and store.job_log(job.id, tail=10) == ""
    store.append_log(job.id, "first line\n")
    store.append_log(job.id, "zweite Zeile, ünïcode\n")
    assert store.job_log(job.id) == "first line\nzweite Zeile, ünïcode\n"
    # the tail is counted in characters, on both databases
    assert store.job_log(job.id, tail=8) == "ünïcode\n"
    assert store.job_log(job.id, tail=1000) == store.job_log(job.id)
    assert store.job_log("no-such-job") is None
    assert store.job_log("no-such-job", tail=5) is None


def test_a_record_is_read_with_the_end_of_its_log_when_asked(store):
    job = new_job()
    store.create(job)
    assert store.get(job.id).log_tail is None  # not asked: not read
    assert store.get(job.id, log_tail=5).log_tail == ""
    store.append_log(job.id, "one\ntwo\n")
    assert store.get(job.id, log_tail=4).log_tail == "two\n"
    assert store.get("no-such-job", log_tail=4) is None
