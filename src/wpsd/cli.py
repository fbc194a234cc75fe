"""The ``wpsd`` command: serve processes from your own modules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from . import progress
from .backends.notify import notifier_for
from .backends.outputs import open_storage
from .backends.sql import SQLJobStore
from .backends.users import SQLUserStore
from .config import Settings, load_settings
from .core import codec
from .core.execution import ExecutionRequest, Outcome
from .core.job import Job, JobStatus
from .core.service import Service
from .datatypes.values import BoundingBox
from .fetch import environment
from .logs import configure_logging
from .processes.registry import ProcessRegistry, load_processes
from .protocol.ogcapi.encode import STATUS_CODES
from .protocol.requests import ComplexData, LiteralData, ReferenceData
from .web.app import create_app, run_development_server, serving_on
from .worker.channel import BroadcastNotifier


@click.group()
@click.version_option(package_name="wpsd")
def main() -> None:
    """wpsd: an OGC Web Processing Service server."""


@main.command()
@click.argument("modules", nargs=-1)
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              envvar="WPSD_CONFIG", help="TOML settings file (also WPSD_CONFIG).")
@click.option("--host", default="localhost", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Flask debug mode: reloader and debugger.")
@click.option("--pywps", "pywps_modules", multiple=True, metavar="MODULE",
              help="A module of PyWPS processes (repeatable; MODULES may hold them too).")
@click.option("--pywps-config", type=click.Path(exists=True, dir_okay=False),
              help="A pywps.cfg: its keys with a wpsd meaning are the default settings.")
def serve(modules: tuple[str, ...], config_path: str | None, host: str, port: int,
          debug: bool, pywps_modules: tuple[str, ...], pywps_config: str | None) -> None:
    """Serve the processes of MODULES (dotted names or .py files) with Flask's server.

    For production, use a WSGI server with the ``wpsd.wsgi:application`` entry point.
    """
    level = logging.DEBUG if debug else logging.INFO
    configure_logging("text", level)
    settings = load_settings(config_path, _environ(pywps_config))
    configure_logging(settings.log_format, level)
    modules = (*modules, *pywps_modules)
    if modules:
        settings = dataclasses.replace(settings, processes=settings.processes + modules)
    if not settings.processes:
        raise click.UsageError("name at least one module of processes, or a config file that does")
    try:
        app = create_app(serving_on(settings, host))
    except (ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wpsd: http://{host}:{port}/wps?service=WPS&request=GetCapabilities")
    run_development_server(app, host, port, debug)


def _environ(pywps_config: str | None) -> dict[str, str]:
    """The environment settings are read from, with the --pywps-config option's file."""
    environ = dict(os.environ)
    if pywps_config:
        environ["WPSD_PYWPS_CONFIG"] = pywps_config
    return environ


@main.command()
@click.argument("modules", nargs=-1)
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              envvar="WPSD_CONFIG", help="TOML settings file (also WPSD_CONFIG).")
@click.option("--pywps-config", type=click.Path(exists=True, dir_okay=False),
              help="A pywps.cfg: its keys with a wpsd meaning are the default settings.")
def worker(modules: tuple[str, ...], config_path: str | None,
           pywps_config: str | None) -> None:
    """Run the executions of a server's processes on this host.

    For servers behind gunicorn or mod_wsgi: run one per host, with the same settings as the
    web processes and ``embedded_worker = false``. It runs jobs and the host's synchronous
    executions until it gets SIGTERM; running jobs then finish on their own.
    """
    from .worker.main import run_worker

    configure_logging()
    settings = load_settings(config_path, _environ(pywps_config))
    configure_logging(settings.log_format)
    sources = [*settings.processes, *modules]
    if not sources:
        raise click.UsageError("name at least one module of processes, or a config file that does")
    try:
        code = run_worker(settings, sources)
    except (ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if code:
        raise click.ClickException("another worker serves these processes on this host")


@main.group()
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              envvar="WPSD_CONFIG", help="TOML settings file (also WPSD_CONFIG).")
@click.pass_context
def jobs(ctx: click.Context, config_path: str | None) -> None:
    """Inspect and manage the jobs in the job store.

    The store is the server's: give its config file (whose processes decide the default
    data_dir), or set data_dir or database_url.
    """
    if ctx.invoked_subcommand in ("watch", "list"):
        ctx.obj = config_path  # they may read a server over HTTP: they open what they need
        return
    ctx.obj = _local_service(ctx, config_path)


def _local_service(ctx: click.Context, config_path: str | None) -> Service:
    """The jobs of the job store of the server the command is about."""
    settings, registry, store = _open_store(ctx, config_path, "jobs")
    storage = open_storage(settings)
    # No worker runs here: dismissals reach every worker of this user on this host.
    return Service(settings, registry, store, storage, _NoExecutions(),
                   environment(settings, storage), notifier_for(settings, BroadcastNotifier()))


def _open_store(ctx: click.Context, config_path: str | None, what: str
                ) -> tuple[Settings, ProcessRegistry, SQLJobStore]:
    """The settings, processes and job store of the server the command is about."""
    settings = load_settings(config_path, os.environ)
    registry = ProcessRegistry()
    if settings.data_dir is None and settings.database_url is None:
        if not settings.processes:
            raise click.UsageError(f"which server's {what}? give its --config, or set "
                                   "WPSD_DATA_DIR or WPSD_DATABASE_URL")
        registry = ProcessRegistry(itertools.chain(*map(load_processes, settings.processes)))
    settings = settings.resolved([p.identifier for p in registry], registry.sources())
    store = SQLJobStore(settings.job_database_url)
    ctx.call_on_close(store.close)
    return settings, registry, store


class _NoExecutions:
    def run(self, request: ExecutionRequest, limit: float) -> Outcome:
        raise NotImplementedError("the jobs command runs no executions")

    def close(self) -> None:
        pass


#: job states by the names the CLI uses: OGC API's (``successful``), and wpsd's own too
_STATES = {**{name: status for status, name in STATUS_CODES.items()},
           **{status.value: status for status in JobStatus}}


def _state(status: JobStatus) -> str:
    """A job state as the CLI shows it: in OGC API - Processes' words, as the web pages."""
    return STATUS_CODES[status]


@jobs.command("list")
@click.option("--status", type=click.Choice(list(_STATES)), multiple=True)
@click.option("--process", "process_id", help="Only jobs of this process.")
@click.option("--owner", help="Only jobs of this user ('' for the anonymous tenant's).")
@click.option("--limit", default=50, show_default=True)
@click.option("--follow", is_flag=True,
              help="Show the running and queued jobs' progress live, until interrupted.")
@click.option("--url", help="The jobs of the server at this URL (its OGC API /jobs), not of "
                            "the local job store: yours, or all for an admin.")
@click.option("--token", envvar="WPSD_TOKEN", help="Bearer token for --url (also WPSD_TOKEN).")
@click.pass_context
def list_jobs(ctx: click.Context, status: tuple[str, ...], process_id: str | None,
              owner: str | None, limit: int, follow: bool, url: str | None,
              token: str | None) -> None:
    """The newest jobs first."""
    if url and owner is not None:
        raise click.UsageError("--owner reads the local store; over --url a server shows "
                               "its caller's jobs")
    if follow:
        _watch(progress.over_http(url, (), token) if url
               else _from_store(_local_service(ctx, ctx.obj), ()), follow=True)
        return
    states = list(dict.fromkeys(_STATES[s] for s in status))
    rows: list[tuple[str, str, str, int, str, str, str]]
    if url:
        try:
            listed = progress.list_over_http(url, [STATUS_CODES[s] for s in states],
                                             process_id, limit, token)
        except progress.WatchError as exc:
            raise click.ClickException(str(exc)) from None
        rows = [(i.get("jobID", ""), i.get("processID", ""), i.get("status", ""),
                 int(i.get("progress") or 0), str(i.get("created", ""))[:19].replace("T", " "),
                 "-", i.get("message") or "") for i in listed]
    else:
        service = _local_service(ctx, ctx.obj)
        rows = [(j.id, j.process_id, _state(j.status), j.progress,
                 f"{j.created:%Y-%m-%d %H:%M:%S}", j.owner or "-", j.message)
                for j in service.store.list_jobs(
                    statuses=states, process_ids=[process_id] if process_id else [],
                    limit=limit, owner=owner)]
    click.echo(f"{'id':36}  {'process':20} {'status':10} {'%':>3}  {'created':19}  "
               f"{'owner':16} message")
    for job_id, process, state, percent, created, who, message in rows:
        click.echo(f"{job_id:36}  {process[:20]:20} {state:10} {percent:3d}  {created:19}  "
                   f"{who[:16]:16} {message[:60]}")


@jobs.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.pass_obj
def show(service: Service, job_id: str, as_json: bool) -> None:
    """A job's inputs, outputs, timing and log: everything the store knows of it."""
    job = service.get_job(job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    record = _job_record(service, job)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
        return
    width = 9
    for key in ("id", "process", "owner", "status", "message", "created", "started",
                "finished", "worker", "error"):
        if record[key] not in (None, ""):
            click.echo(f"{key.capitalize():{width}} {record[key]}")
    for part in ("inputs", "outputs"):
        click.echo(part.capitalize())
        for ident, value in record[part]:
            click.echo(f"  {ident} = {value}")
        if not record[part]:
            click.echo("  (none)")
    click.echo("Log")
    click.echo(_indented(record["log"] or "(empty)"), nl=False)
    if record["traceback"]:
        click.echo("Traceback (for the operator: clients never see it)")
        click.echo(_indented(record["traceback"]), nl=False)


def _indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _job_record(service: Service, job: Job) -> dict[str, Any]:
    """What `wpsd jobs show` prints, as plain values: inputs and outputs as short texts
    (data is summarised, never dumped), times with how long the job waited and ran."""
    def stamp(value: dt.datetime | None, since: dt.datetime | None, what: str) -> str | None:
        if value is None:
            return None
        text = f"{value:%Y-%m-%d %H:%M:%S}"
        if since is not None:
            text += f" ({what} {(value - since).total_seconds():.2f} s)"
        return text

    outputs = []
    for produced in codec.outputs_from_json(job.outputs or []):
        if produced.key:
            href = service.storage.url(produced.key) or job.output_url + produced.key
            outputs.append((produced.identifier, href))
        else:
            outputs.append((produced.identifier, _summary(
                produced.text, produced.data, produced.bbox,
                produced.format.mime_type if produced.format else None)))
    inputs = []
    for given in job.request.inputs:
        value = given.value
        if isinstance(value, LiteralData):
            shown = value.text + (f" {value.uom}" if value.uom else "")
        elif isinstance(value, ComplexData):
            shown = _summary(None, value.data, None, value.mime_type)
        elif isinstance(value, ReferenceData):
            shown = f"{value.method} {value.href}"
        else:
            shown = _summary(None, None, value.bbox, None)
        inputs.append((given.identifier, shown))
    error = job.error
    return {
        "id": job.id, "process": job.process_id, "owner": job.owner,
        "status": f"{_state(job.status)} ({job.progress}%)", "message": job.message,
        "created": stamp(job.created, None, ""),
        "started": stamp(job.started, job.created, "queued"),
        "finished": stamp(job.finished, job.started or job.created, "ran"),
        "worker": (job.worker or "") + (f" pid {job.pid}" if job.pid else "") or None,
        "error": f"{error.code}: {error.text}" if error else None,
        "inputs": inputs, "outputs": outputs,
        "log": service.store.job_log(job.id) or "",
        "traceback": error.trace if error else None,
    }


def _summary(text: str | None, data: bytes | None, bbox: BoundingBox | None,
             media_type: str | None, limit: int = 80) -> str:
    """A value on one line: text (cut at ``limit``), a bounding box, or data as its type
    and size, with its start when it is text."""
    if bbox is not None:
        corners = " ".join(f"{v:g}" for v in (*bbox.lower, *bbox.upper))
        return f"bbox {corners}" + (f" ({bbox.crs})" if bbox.crs else "")
    if data is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"({media_type or 'data'}, {len(data)} bytes)"
        prefix = f"({media_type or 'text'}, {len(data)} bytes) "
    else:
        prefix = ""
    text = " ".join((text or "").split())
    return prefix + (text if len(text) <= limit else text[:limit - 1] + "…")


@jobs.command()
@click.argument("job_id")
@click.pass_obj
def log(service: Service, job_id: str) -> None:
    """What the job's handler logged (its traceback, if it failed, is in the worker's log)."""
    job = service.get_job(job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    click.echo(service.store.job_log(job.id) or "", nl=False)


@jobs.command()
@click.argument("job_ids", nargs=-1)
@click.option("--url", help="Follow the jobs of the server at this URL (its OGC API), "
                            "not of the local job store.")
@click.option("--token", envvar="WPSD_TOKEN", help="Bearer token for --url (also WPSD_TOKEN).")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between looks.")
@click.pass_context
def watch(ctx: click.Context, job_ids: tuple[str, ...], url: str | None, token: str | None,
          interval: float) -> None:
    """Progress bars of JOB_IDS until they end; with none, of every running and queued
    job, live, until Ctrl-C. Exits 1 unless every job watched succeeded."""
    fetch = progress.over_http(url, job_ids, token) if url \
        else _from_store(_local_service(ctx, ctx.obj), job_ids)
    _watch(fetch, follow=not job_ids, interval=interval)


def _from_store(service: Service, job_ids: tuple[str, ...]
                ) -> Callable[[], list[progress.JobView]]:
    def view(job: Job) -> progress.JobView:
        return progress.JobView(job.id, job.process_id, _state(job.status), job.progress,
                                job.message)

    def fetch() -> list[progress.JobView]:
        if not job_ids:
            active = service.store.list_jobs(statuses=[JobStatus.RUNNING, JobStatus.ACCEPTED],
                                             limit=100)
            return [view(job) for job in active]
        found = []
        for job_id in job_ids:
            job = service.get_job(job_id)
            if job is None:
                raise click.ClickException(f"no job {job_id}")
            found.append(view(job))
        return found

    return fetch


def _watch(fetch: Callable[[], list[progress.JobView]], follow: bool,
           interval: float = 0.5) -> None:
    out = sys.stdout
    try:
        ended = progress.watch(fetch, out, out.isatty(), interval, follow)
    except KeyboardInterrupt:
        return
    except progress.WatchError as exc:
        raise click.ClickException(str(exc)) from None
    if any(job.status != "successful" for job in ended):
        raise SystemExit(1)  # a script can tell a failed or dismissed job


@jobs.command()
@click.argument("job_id")
@click.pass_obj
def cancel(service: Service, job_id: str) -> None:
    """Dismiss a job: a queued one never starts, a running one's process is ended."""
    job = service.dismiss(job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    click.echo(f"{job.id} {_state(job.status)}")


@jobs.command()
@click.pass_obj
def cleanup(service: Service) -> None:
    """Delete ended jobs older than the retention time, and their outputs."""
    removed = service.cleanup()
    click.echo(f"removed {len(removed)} jobs")


@main.group()
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              envvar="WPSD_CONFIG", help="TOML settings file (also WPSD_CONFIG).")
@click.pass_context
def users(ctx: click.Context, config_path: str | None) -> None:
    """Manage the users of auth = "tokens" and their API tokens.

    They are kept in the job store's database (only a hash of each token): give the
    server's config file, or set data_dir or database_url, as for ``wpsd jobs``.
    """
    settings, _, store = _open_store(ctx, config_path, "users")
    if settings.auth != "tokens":
        click.echo(f"note: the server's auth is {settings.auth!r}; its tokens are used with "
                   "auth = 'tokens' only", err=True)
    ctx.obj = SQLUserStore(store)


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="The user sees and dismisses every job.")
@click.option("--role", "roles", multiple=True, help="A role the user holds (repeatable).")
@click.pass_obj
def add_user(store: SQLUserStore, name: str, admin: bool, roles: tuple[str, ...]) -> None:
    """Add a user and print its token, which is shown this once and kept nowhere."""
    try:
        token = store.add(name, admin=admin, roles=roles)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


@users.command("token")
@click.argument("name")
@click.pass_obj
def user_token(store: SQLUserStore, name: str) -> None:
    """Give a user a new token and print it; the old one stops working at once."""
    token = store.new_token(name)
    if token is None:
        raise click.ClickException(f"no user {name}")
    click.echo(token)


@users.command("list")
@click.pass_obj
def list_users(store: SQLUserStore) -> None:
    """The users, their roles and whether they are admins."""
    click.echo(f"{'name':24} {'admin':5}  {'created':19}  roles")
    for user in store.list_users():
        click.echo(f"{user.name[:24]:24} {'yes' if user.admin else 'no':5}  "
                   f"{user.created:%Y-%m-%d %H:%M:%S}  {', '.join(user.roles)}")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def remove_user(store: SQLUserStore, name: str) -> None:
    """Remove a user; its token stops working at once (its jobs stay, for admins)."""
    if not store.remove(name):
        raise click.ClickException(f"no user {name}")
    click.echo(f"removed {name}")


if __name__ == "__main__":
    main()
