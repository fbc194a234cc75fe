"""Settings: typed configuration read from a TOML file and ``WPSD_*`` environment variables.

Nothing is read at import time; :func:`load_settings` builds a :class:`Settings` that
:func:`wpsd.create_app` takes.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "WPSD_"


def _default_dir(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"wpsd-{os.getuid()}" / name


@dataclass(frozen=True)
class ServiceMetadata:
    """What GetCapabilities says about the service and who runs it."""

    title: str = "wpsd"
    abstract: str = "Web Processing Service powered by wpsd"
    keywords: tuple[str, ...] = ("WPS", "processing")
    fees: str = "NONE"
    access_constraints: str = "NONE"
    provider_name: str = "wpsd"
    provider_site: str = ""
    contact_name: str = ""
    contact_email: str = ""


@dataclass(frozen=True)
class Settings:
    """Every setting of a wpsd server, with the defaults a local demo needs."""

    #: public URL of the WPS endpoint; when unset it is taken from each request's Host header
    url: str | None = None
    #: host names a request's Host header may carry when ``url`` is unset (a leading dot
    #: admits subdomains); default: localhost and this machine's names and addresses
    trusted_hosts: tuple[str, ...] = ()
    #: modules (dotted names or .py paths) whose processes are served
    processes: tuple[str, ...] = ()
    #: languages offered; the first is the default
    languages: tuple[str, ...] = ("en-US",)
    #: parent of each job's private working directory
    workdir: Path = field(default_factory=lambda: _default_dir("work"))
    #: where outputs requested as references are kept
    output_dir: Path = field(default_factory=lambda: _default_dir("outputs"))
    #: public URL of output_dir; when unset, outputs are served by wpsd under /wps/outputs/
    output_url: str | None = None
    #: largest request body accepted, in bytes
    max_request_bytes: int = 64 * 1024 * 1024
    #: size limit of a complex input (inline or fetched) that declares none itself
    max_input_megabytes: float = 32.0
    #: seconds to wait for a server that holds an input reference
    reference_timeout: float = 30.0
    #: URL schemes input references and callbacks may use
    reference_schemes: tuple[str, ...] = ("http", "https")
    #: hosts that references and callbacks may reach although they are not public: host
    #: names, CIDR networks (``10.1.0.0/16``) or ``host:port``; empty: public addresses only
    allowed_reference_hosts: tuple[str, ...] = ()
    #: synchronous executions at once, each in a warm worker process; one more gets ServerBusy
    max_sync_executions: int = 4
    #: the Capabilities updateSequence; by default derived from the process descriptions
    update_sequence: str | None = None
    #: SQLAlchemy URL of the job store; by default a SQLite file beside the outputs
    database_url: str | None = None
    #: asynchronous jobs running at once on this host (each in its own OS process)
    max_parallel_jobs: int = 2
    #: jobs allowed to wait for a free slot; one more is refused with ServerBusy
    max_queued_jobs: int = 100
    #: seconds a job may run before it is stopped, unless its process sets its own limit
    job_time_limit: float = 3600.0
    #: seconds finished jobs and their outputs are kept
    job_retention: float = 7 * 24 * 3600.0
    #: seconds between a running job's signs of life; five missed ones (at least 3 s) fail it
    heartbeat_interval: float = 2.0
    metadata: ServiceMetadata = field(default_factory=ServiceMetadata)

    @property
    def job_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.output_dir.parent / 'jobs.sqlite'}"

    def to_environ(self) -> dict[str, str]:
        """These settings as WPSD_* variables, for a child process (see load_settings)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "metadata" or value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            env[ENV_PREFIX + f.name.upper()] = str(value)
        return env


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read settings from a TOML file (optional), then apply ``WPSD_*`` environment overrides.

    Unknown keys are errors, so a typo does not go unnoticed.
    """
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
        base = Path(path).resolve().parent
        # Relative paths in a config file are relative to that file, like imports.
        for key in ("workdir", "output_dir"):
            if key in values:
                values[key] = base / values[key]
        values["processes"] = [
            str(base / p) if str(p).endswith(".py") else p for p in values.get("processes", [])
        ]
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name in fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and name != "metadata":
            values[name] = raw
    meta = values.pop("metadata", {})
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    kwargs = {name: _cast(fields[name].type, value, name) for name, value in values.items()}
    meta_fields = {f.name: f for f in dataclasses.fields(ServiceMetadata)}
    unknown_meta = set(meta) - set(meta_fields)
    if unknown_meta:
        raise ValueError(f"unknown metadata settings: {', '.join(sorted(unknown_meta))}")
    metadata = ServiceMetadata(
        **{k: _cast(meta_fields[k].type, v, k) for k, v in meta.items()}
    )
    return Settings(metadata=metadata, **kwargs)


def _cast(type_name: Any, value: Any, name: str) -> Any:
    # Field types are strings under `from __future__ import annotations`.
    kind = str(type_name)
    try:
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(v).strip() for v in items if str(v).strip())
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str | None":
            return str(value) if value not in ("", None) else None
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name!r}: cannot use {value!r}") from None
