"""SQLJobStore: job records through SQLAlchemy Core; a SQLite file by default, PostgreSQL for
several hosts.

SQLite is set up for several processes and threads of one host: WAL journal (readers never
wait for the writer), a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction so
that two writers queue up instead of failing with "database is locked" when a read lock
would have to be upgraded. Reads use a second engine with ordinary deferred transactions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..core.codec import dump_execute, load_execute
from ..core.job import ACTIVE, Job, JobError, JobStatus, now

metadata = sa.MetaData()

jobs = sa.Table(
    "wpsd_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("process_id", sa.String(255), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("request", sa.LargeBinary, nullable=False),
    sa.Column("service_url", sa.Text, nullable=False),
    sa.Column("output_url", sa.Text, nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("started", sa.DateTime(timezone=True)),
    sa.Column("finished", sa.DateTime(timezone=True)),
    sa.Column("updated", sa.DateTime(timezone=True)),
    sa.Column("heartbeat", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("outputs", sa.LargeBinary),
    sa.Column("error", sa.Text),
    sa.Column("owner", sa.String(255), nullable=False, server_default=""),
    #: what the handler wrote through context.logger, bounded (see jobprocess.JobLog)
    sa.Column("log", sa.Text, nullable=False, server_default=""),
    # Each user's job list, newest first, without a scan of everybody's jobs.
    sa.Index("ix_wpsd_jobs_owner_created", "owner", "created"),
)

#: the users of ``auth = "tokens"``: only a hash of each token is kept
users = sa.Table(
    "wpsd_users",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),  # a JSON list
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)

#: who ran a synchronous execution whose outputs are kept by reference (jobs say it
#: themselves): the outputs' folder is the execution's id
output_owners = sa.Table(
    "wpsd_output_owners",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False, index=True),
)

schema_version = sa.Table(
    "wpsd_schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)


def _v1(conn: Connection) -> None:
    # The table as version 1 made it: migrations are history, the definitions above today.
    sa.Table(
        "wpsd_jobs",
        sa.MetaData(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("process_id", sa.String(255), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("request", sa.LargeBinary, nullable=False),
        sa.Column("service_url", sa.Text, nullable=False),
        sa.Column("output_url", sa.Text, nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("started", sa.DateTime(timezone=True)),
        sa.Column("finished", sa.DateTime(timezone=True)),
        sa.Column("updated", sa.DateTime(timezone=True)),
        sa.Column("heartbeat", sa.DateTime(timezone=True)),
        sa.Column("worker", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("outputs", sa.LargeBinary),
        sa.Column("error", sa.Text),
    ).create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    """Jobs belong to whoever started them (existing ones to the anonymous tenant); users."""
    conn.execute(sa.text(
        "ALTER TABLE wpsd_jobs ADD COLUMN owner VARCHAR(255) DEFAULT '' NOT NULL"))
    for index in jobs.indexes:
        if index.name == "ix_wpsd_jobs_owner_created":
            index.create(conn)
    # A later change to these tables is a migration of its own, and this one then creates
    # them as they are now, as _v1 does.
    users.create(conn, checkfirst=True)
    output_owners.create(conn, checkfirst=True)


#: the columns a Job is made of: not the log, which status polls must not read each time
_RECORD = tuple(c for c in jobs.c if c.name != "log")


def _v3(conn: Connection) -> None:
    """Each job keeps what its handler logged."""
    conn.execute(sa.text("ALTER TABLE wpsd_jobs ADD COLUMN log TEXT DEFAULT '' NOT NULL"))


#: schema migrations, applied in order; the store records how many have run
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]
_ADVISORY_LOCK = 0x77707364  # "wpsd": serialises migrations of several PostgreSQL clients


def _sqlite_engine(url: sa.URL, immediate: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, not the driver, start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # journal_mode=WAL is a property of the file, set once (SQLJobStore.__init__).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _WriteQueue:
    """Writers of one SQLite file queue here, on a kernel lock, before BEGIN IMMEDIATE.

    SQLite makes a writer that finds the database locked sleep and retry (1, 2, 5, 10 ms...),
    so under a burst of jobs most of the time went to sleeping; on this lock a writer is woken
    the moment the previous one is done. SQLite's own lock still decides: this only queues.
    flock belongs to an open file, which a forked child shares, so each process opens its
    own; threads of a process queue on a thread lock first.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self._pid = 0
        self._thread_lock = threading.Lock()

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._pid != os.getpid():
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0


class SQLJobStore:
    """Job records in a relational database through SQLAlchemy Core."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._write, self._read = self._engines()
        parsed = sa.make_url(url)
        self._queue: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "",
                                                                              ":memory:"):
            self._queue = _WriteQueue(Path(f"{parsed.database}-queue"))
        if self._write.dialect.name == "sqlite":
            raw = self._write.raw_connection()
            try:
                raw.cursor().execute("PRAGMA journal_mode=WAL")  # outside any transaction
            finally:
                raw.close()
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _engines(self) -> tuple[Engine, Engine]:
        parsed = sa.make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, True), _sqlite_engine(parsed, False)
        engine = sa.create_engine(parsed, pool_pre_ping=True)
        return engine, engine

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, after the writers queued before it."""
        with self._queue, self._write.begin() as conn:
            yield conn

    def transaction(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction on this database, for its other tables (the users)."""
        return self._writing()

    def connection(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for reading, for this database's other tables (the users)."""
        return self._read.connect()

    def migrate(self) -> None:
        """Create or upgrade the schema to the version this code knows."""
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(schema_version.c.version)).scalar()
            if current is None:
                conn.execute(schema_version.insert().values(version=0))
                current = 0
            if current > len(MIGRATIONS):
                raise RuntimeError(
                    f"the job database is at schema version {current}, newer than this wpsd "
                    f"({len(MIGRATIONS)}); upgrade wpsd"
                )
            for migration in MIGRATIONS[current:]:
                migration(conn)
            conn.execute(schema_version.update().values(version=len(MIGRATIONS)))

    # ------------------------------------------------------------ reading

    def get(self, job_id: str, log_tail: int | None = None) -> Job | None:
        columns = _RECORD if log_tail is None else (*_RECORD, _log_end(log_tail).label("tail"))
        with self._read.connect() as conn:
            row = conn.execute(sa.select(*columns).where(jobs.c.id == job_id)).first()
        if row is None:
            return None
        job = _job(row)
        if log_tail is not None:
            job.log_tail = row.tail or ""
        return job

    def list_jobs(
        self,
        *,
        statuses: Sequence[JobStatus] = (),
        process_ids: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
        owner: str | None = None,
    ) -> list[Job]:
        query = sa.select(*_RECORD).order_by(jobs.c.created.desc(), jobs.c.id).limit(limit)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        if statuses:
            query = query.where(jobs.c.status.in_([s.value for s in statuses]))
        if process_ids:
            query = query.where(jobs.c.process_id.in_(process_ids))
        with self._read.connect() as conn:
            return [_job(row) for row in conn.execute(query.offset(offset))]

    def count(self, statuses: Sequence[JobStatus], worker: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(jobs).where(
            jobs.c.status.in_([s.value for s in statuses]))
        if worker is not None:
            query = query.where(jobs.c.worker == worker)
        with self._read.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def owner_of(self, job_id: str) -> str | None:
        """Who started a job, or ran the synchronous execution whose outputs have this id;
        None when the store knows neither."""
        with self._read.connect() as conn:
            found = conn.execute(sa.select(jobs.c.owner).where(jobs.c.id == job_id)).first()
            if found is None:
                found = conn.execute(sa.select(output_owners.c.owner)
                                     .where(output_owners.c.id == job_id)).first()
        return None if found is None else str(found[0])

    def expired(self, finished_before: dt.datetime) -> list[str]:
        ended = [s.value for s in JobStatus if s.finished]
        query = sa.select(jobs.c.id).where(jobs.c.status.in_(ended),
                                           jobs.c.finished < finished_before)
        with self._read.connect() as conn:
            return list(conn.execute(query).scalars())

    # ------------------------------------------------------------ writing

    def create(self, job: Job) -> None:
        with self._writing() as conn:
            conn.execute(jobs.insert().values(
                id=job.id,
                process_id=job.process_id,
                status=job.status.value,
                progress=job.progress,
                message=job.message,
                request=dump_execute(job.request),
                service_url=job.service_url,
                output_url=job.output_url,
                language=job.language,
                created=job.created,
                updated=job.created,
                owner=job.owner,
            ))

    def record_owner(self, execution_id: str, owner: str) -> None:
        """Record who runs a synchronous execution whose outputs are kept by reference."""
        with self._writing() as conn:
            conn.execute(output_owners.insert().values(id=execution_id, owner=owner,
                                                       created=now()))

    def forget_owners(self, before: dt.datetime) -> None:
        """Forget the owners of synchronous executions recorded before ``before``."""
        with self._writing() as conn:
            conn.execute(output_owners.delete().where(output_owners.c.created < before))

    def claim(self, worker: str, process_ids: Sequence[str], limit: int = 1) -> list[Job]:
        # Whoever flips accepted -> running owns the job: the guarded UPDATE makes that
        # exactly one claimer on SQLite and PostgreSQL, from any number of processes and
        # hosts; RETURNING tells which rows this claimer flipped. Only jobs of the claimer's
        # processes: workers of other servers may share the store.
        if not process_ids or limit < 1:
            return []
        candidates = (sa.select(jobs.c.id)
                      .where(jobs.c.status == JobStatus.ACCEPTED.value,
                             jobs.c.process_id.in_(process_ids))
                      .order_by(jobs.c.created, jobs.c.id).limit(limit))
        stamp = now()
        claim = jobs.update().values(status=JobStatus.RUNNING.value, worker=worker,
                                     started=stamp, heartbeat=stamp, updated=stamp,
                                     message="started")
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":
                # Claimers on other connections skip the rows this one is taking. The
                # candidates are a materialized CTE: as an IN (subquery), PostgreSQL may
                # evaluate the locking LIMIT subquery again while it rechecks rows that a
                # concurrent claimer changed, and flip more rows than were asked for.
                taken = (candidates.with_for_update(skip_locked=True)
                         .cte("taken").prefix_with("MATERIALIZED"))
                claim = claim.where(jobs.c.id == taken.c.id)
            else:
                # SQLite runs one writer at a time (and the write queue orders them).
                claim = claim.where(jobs.c.id.in_(candidates.scalar_subquery()))
            rows = conn.execute(
                claim.where(jobs.c.status == JobStatus.ACCEPTED.value).returning(*_RECORD)
            ).all()
        return sorted((_job(row) for row in rows), key=lambda job: (job.created, job.id))

    def reassign(self, job_id: str, from_worker: str, to_worker: str) -> bool:
        """Hand a running job from one worker to another, only if ``from_worker`` holds it:
        of two attempts to run a job (a Dask task run again after its worker died), only
        one takes it over."""
        with self._writing() as conn:
            return bool(conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value,
                       jobs.c.worker == from_worker)
                .values(worker=to_worker, heartbeat=now())
            ).rowcount)

    def append_log(self, job_id: str, text: str) -> None:
        """Add lines to a job's log (its own process is the only writer)."""
        with self._writing() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id)
                         .values(log=jobs.c.log + text))

    def job_log(self, job_id: str, tail: int | None = None) -> str | None:
        """What the job's handler logged (or its last ``tail`` characters), or None for an
        unknown job."""
        column = jobs.c.log if tail is None else _log_end(tail)
        with self._read.connect() as conn:
            return conn.execute(sa.select(column).where(jobs.c.id == job_id)).scalar()

    def update_progress(self, job_id: str, progress: int, message: str) -> bool:
        with self._writing() as conn:
            stamp = now()
            return bool(conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(progress=progress, message=message, updated=stamp, heartbeat=stamp)
            ).rowcount)

    def heartbeat(self, job_id: str, pid: int) -> bool:
        with self._writing() as conn:
            return bool(conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(heartbeat=now(), pid=pid)
            ).rowcount)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        outputs: list[dict[str, Any]] | None = None,
        error: JobError | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": status.value, "finished": now(), "updated": now()}
        if status is JobStatus.SUCCEEDED:
            values.update(progress=100, message="finished",
                          outputs=json.dumps(outputs or []).encode("utf-8"))
        elif error is not None:
            values.update(message=error.text, error=json.dumps(vars(error)))
        else:
            values.update(message=status.value)
        with self._writing() as conn:
            return bool(conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_([s.value for s in ACTIVE]))
                .values(**values)
            ).rowcount)

    def mark_dismissed(self, job_id: str) -> bool:
        """Dismiss an ended job (its outputs are being removed); False if already dismissed."""
        with self._writing() as conn:
            return bool(conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status != JobStatus.DISMISSED.value)
                .values(status=JobStatus.DISMISSED.value, updated=now())
            ).rowcount)

    def fail_stale(self, silent_since: dt.datetime, message: str) -> list[str]:
        error = json.dumps(vars(JobError("NoApplicableCode", message)))
        with self._writing() as conn:
            stale = list(conn.execute(
                sa.select(jobs.c.id).where(jobs.c.status == JobStatus.RUNNING.value,
                                           jobs.c.heartbeat < silent_since)
            ).scalars())
            if stale:
                stamp = now()
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(stale), jobs.c.status == JobStatus.RUNNING.value,
                           jobs.c.heartbeat < silent_since)
                    .values(status=JobStatus.FAILED.value, message=message, error=error,
                            finished=stamp, updated=stamp)
                )
        return stale

    def delete(self, job_id: str) -> None:
        with self._writing() as conn:
            conn.execute(jobs.delete().where(jobs.c.id == job_id))
            conn.execute(output_owners.delete().where(output_owners.c.id == job_id))

    def warm_up(self, process_ids: Sequence[str]) -> None:
        """Run, on no job, each statement a forked job process runs, so that SQLAlchemy has
        compiled them here, once, rather than in every child (milliseconds each)."""
        nobody = ""
        self.claim(nobody, [nobody], 1)
        self.claim(nobody, process_ids, 0)
        self.get(nobody)
        self.heartbeat(nobody, 0)
        self.update_progress(nobody, 0, nobody)
        self.finish(nobody, JobStatus.SUCCEEDED, outputs=[])
        self.finish(nobody, JobStatus.FAILED, error=JobError("NoApplicableCode", nobody))

    def before_fork(self) -> None:
        """Close every connection of this process, so that a child forked now inherits none.

        A child must not inherit an open connection: SQLite keeps per-process lock state that
        the child would trust (its "locks" would not be held, another process could reset
        the WAL under it, and its writes would be lost), and a PostgreSQL connection closed in
        a child ends the parent's session. Both sides then connect anew on the same engines.
        """
        self._write.dispose()
        self._read.dispose()

    def after_fork(self) -> None:
        # Nothing was inherited (before_fork); forget the pools' bookkeeping all the same.
        self._write.dispose(close=False)
        self._read.dispose(close=False)

    def close(self) -> None:
        self._write.dispose()
        self._read.dispose()
        if isinstance(self._queue, _WriteQueue):
            self._queue.close()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _log_end(characters: int) -> sa.ColumnElement[str]:
    """The last characters of a job's log, cut in the database: a status poll reads a few
    lines, not up to 64 KiB. With length() and substr(), which SQLite and PostgreSQL share."""
    size = sa.func.length(jobs.c.log)
    return sa.case((size > characters, sa.func.substr(jobs.c.log, size - characters + 1)),
                   else_=jobs.c.log)


def _job_error(text: str | None) -> JobError | None:
    if not text:
        return None
    # Only the fields this version knows: a newer one may have written more.
    known = {f.name for f in dataclasses.fields(JobError)}
    return JobError(**{k: v for k, v in json.loads(text).items() if k in known})


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        process_id=row.process_id,
        request=load_execute(row.request),
        service_url=row.service_url,
        output_url=row.output_url,
        language=row.language,
        status=JobStatus(row.status),
        progress=row.progress,
        message=row.message,
        created=_utc(row.created) or now(),
        started=_utc(row.started),
        finished=_utc(row.finished),
        updated=_utc(row.updated),
        heartbeat=_utc(row.heartbeat),
        worker=row.worker,
        pid=row.pid,
        outputs=json.loads(row.outputs) if row.outputs is not None else None,
        error=_job_error(row.error),
        owner=row.owner,
    )
