"""Settings: typed configuration read from a TOML file and ``WPSD_*`` environment variables.

Nothing is read at import time; :func:`load_settings` builds a :class:`Settings` that
:func:`wpsd.create_app` takes.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import json
import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "WPSD_"
#: the values of the ``log_format`` setting
LOG_FORMATS = ("text", "json")
#: WPSD_* variables that wpsd or its tests read and that are no settings
OTHER_VARIABLES = frozenset({"CONFIG", "WORKER_SOURCES", "IN_WORKER", "SCHEMAS", "SCHEMA_CACHE",
                             "REQUIRE_BROWSER", "COMPANIONS", "TOKEN"})
#: prefixes of such variables (tests, fuzzing, benchmarks)
OTHER_PREFIXES = ("TEST_", "FUZZ_", "BENCH_")
#: the values of the ``auth`` setting
AUTH_MODES = ("none", "tokens", "oidc", "proxy")
_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
               "ES512", "EdDSA"}
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}


def default_data_dir(process_ids: Sequence[str], sources: Sequence[str]) -> Path:
    """Where a server keeps its jobs when ``data_dir`` is not set: a folder of its own per
    set of processes, under ``$XDG_STATE_HOME/wpsd`` (``~/.local/state/wpsd``).

    Servers of different processes never share a job store by default, so neither claims
    nor lists the other's jobs; the demo started as ``python3 demo.py`` or by gunicorn is
    one server (same processes, same folder).
    """
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    stem = Path(sources[0]).stem.rsplit(".", 1)[-1] if sources else "wpsd"
    digest = hashlib.sha256("\n".join(sorted(process_ids)).encode()).hexdigest()[:8]
    return Path(state) / "wpsd" / f"{stem}-{digest}"


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
    #: where jobs, outputs and working directories live unless set apart below; by default
    #: a folder per set of served processes (see :func:`default_data_dir`)
    data_dir: Path | None = None
    #: parent of each job's private working directory (default: data_dir/work)
    workdir: Path | None = None
    #: where outputs requested as references are kept (default: data_dir/outputs)
    output_dir: Path | None = None
    #: public URL of output_dir; when unset, outputs are served by wpsd under /wps/outputs/
    output_url: str | None = None
    #: where outputs live instead of output_dir, as an fsspec URL (``s3://bucket/prefix``),
    #: shared by every node of a deployment
    output_storage: str | None = None
    #: options of the output_storage's filesystem, as a JSON object (a table in the TOML
    #: file), e.g. ``{"endpoint_url": "http://s3.internal:8333"}`` for s3fs
    output_storage_options: str | None = None
    #: whether references to outputs in object storage are the store's own presigned URLs
    #: (clients download from it directly) rather than wpsd's /wps/outputs/ links
    output_presigned_urls: bool = False
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
    #: synchronous executions at once on a host: the worker's warm sync processes, shared by
    #: all web processes of the host; more wait up to 30 s for a free one, then ServerBusy
    max_sync_executions: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    #: the Capabilities updateSequence; by default derived from the process descriptions
    update_sequence: str | None = None
    #: whether a web process starts this host's worker when none runs (``python3 demo.py``,
    #: ``wpsd serve``); turn it off where ``wpsd worker`` runs as a service of its own
    embedded_worker: bool = True
    #: SQLAlchemy URL of the job store; by default a SQLite file in data_dir
    database_url: str | None = None
    #: where asynchronous jobs run: ``local`` (forked by this host's worker) or ``dask``
    #: (each job a task on the Dask cluster of ``dask_scheduler``)
    executor: str = "local"
    #: address of the Dask scheduler, e.g. ``tcp://scheduler:8786``, when executor is dask
    dask_scheduler: str | None = None
    #: asynchronous jobs a worker runs at once, each in its own OS process: one per core,
    #: since more CPU-bound jobs only slow each other down; raise it for jobs that wait
    max_parallel_jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    #: jobs allowed to wait in the store for a free slot; one more is refused with ServerBusy
    max_queued_jobs: int = 10_000
    #: seconds a job may run before it is stopped, unless its process sets its own limit
    job_time_limit: float = 3600.0
    #: seconds finished jobs and their outputs are kept
    job_retention: float = 7 * 24 * 3600.0
    #: seconds between a running job's signs of life; five missed ones (at least 3 s) fail it
    heartbeat_interval: float = 2.0
    #: who is calling: ``none`` (one anonymous tenant, for trusted networks only), ``tokens``
    #: (API tokens issued with ``wpsd users add``), ``oidc`` (JWTs of an OpenID Connect
    #: issuer) or ``proxy`` (the user named by a trusted reverse proxy)
    auth: str = "none"
    #: users who are admins (see and dismiss every job), in any mode
    admin_users: tuple[str, ...] = ()
    #: a role whose holders are admins (OIDC roles claim, proxy roles header, token roles)
    admin_role: str | None = None
    #: the roles each process needs (any one of them), as a JSON object ``{"id": ["role"]}``
    #: (a table in the TOML file); replaces the process's own ``roles``
    process_roles: str | None = None
    #: the ``iss`` every JWT must carry, e.g. ``https://login.example.org/realms/geo``
    oidc_issuer: str | None = None
    #: the ``aud`` every JWT must carry: this service's client id at the issuer
    oidc_audience: str | None = None
    #: the issuer's JSON Web Key Set (its ``jwks_uri``); keys are fetched from here only
    oidc_jwks_url: str | None = None
    #: the claim that names the user
    oidc_user_claim: str = "sub"
    #: the claim that holds the user's roles (a list, or a string of space-separated
    #: names); a dotted path reaches into objects, e.g. ``realm_access.roles``
    oidc_roles_claim: str | None = None
    #: the signature algorithms accepted (asymmetric ones only)
    oidc_algorithms: tuple[str, ...] = ("RS256",)
    #: where a trusted proxy names the user: an HTTP header, or ``REMOTE_USER`` (the WSGI
    #: variable a server in front of wpsd sets after its own authentication, as Apache does)
    proxy_user_header: str = "X-Forwarded-User"
    #: an HTTP header in which the trusted proxy lists the user's roles, comma-separated
    proxy_roles_header: str | None = None
    #: addresses or networks (``10.0.0.5``, ``10.0.0.0/24``) of the proxies whose headers
    #: are honoured; the headers of any other client are ignored
    trusted_proxies: tuple[str, ...] = ()
    #: whether /metrics serves Prometheus metrics (counted across the host's web, worker,
    #: sync and job processes in PROMETHEUS_MULTIPROC_DIR, by default data_dir/metrics)
    metrics: bool = True
    #: ``host:port`` (``[::1]:9464`` for IPv6) where the host's worker serves the metrics
    #: instead of /metrics, to no one but who reaches that address (keep it on loopback or
    #: an internal network); unset: /metrics of the web app
    metrics_listen: str | None = None
    #: how log lines look: ``text`` or ``json`` (one object a line); ``wpsd serve`` and
    #: ``wpsd worker`` (and gunicorn through wpsd.wsgi) use it
    log_format: str = "text"
    #: tile URL template of the HTML pages' maps, e.g.
    #: "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"; empty: no base layer
    map_tiles: str = ""
    #: the credit shown for those tiles (OpenStreetMap's terms require one)
    map_attribution: str = ""
    #: a PyWPS configuration file (pywps.cfg): its keys that have a wpsd meaning are the
    #: defaults of the settings they map to (see "Coming from PyWPS" in the README)
    pywps_config: Path | None = None
    metadata: ServiceMetadata = field(default_factory=ServiceMetadata)

    def __post_init__(self) -> None:
        if self.executor not in ("local", "dask"):
            raise ValueError(f"setting 'executor': {self.executor!r} is neither local nor dask")
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError("setting 'dask_scheduler' is needed when executor is dask")
        if self.metrics_listen is not None:
            _host_and_port(self.metrics_listen)  # raises unless it parses
            if not self.metrics:
                raise ValueError("setting 'metrics_listen' serves metrics, which "
                                 "'metrics = false' turns off: set one or the other")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"setting 'log_format': {self.log_format!r} is neither text nor json")
        if self.output_storage_options is not None:
            try:
                options = json.loads(self.output_storage_options)
            except ValueError:
                options = None
            if not isinstance(options, dict):
                raise ValueError("setting 'output_storage_options' must be a JSON object")
        self._check_auth()

    def _check_auth(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ValueError(f"setting 'auth': {self.auth!r} is none of {', '.join(AUTH_MODES)}")
        _process_roles(self.process_roles)  # raises unless it parses
        if self.auth == "oidc":
            for name in ("oidc_issuer", "oidc_audience", "oidc_jwks_url"):
                if not getattr(self, name):
                    raise ValueError(f"setting {name!r} is needed when auth is oidc")
            assert self.oidc_jwks_url is not None
            parts = urlsplit(self.oidc_jwks_url)
            loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
                # Whoever can change the keys in transit can sign tokens for any user.
                raise ValueError("setting 'oidc_jwks_url' must be an https URL")
            weak = set(self.oidc_algorithms) - _ASYMMETRIC
            if weak or not self.oidc_algorithms:
                raise ValueError(f"setting 'oidc_algorithms': use asymmetric algorithms "
                                 f"({', '.join(sorted(_ASYMMETRIC))}), not {sorted(weak)}")
        if self.auth == "proxy":
            if not self.trusted_proxies and self.proxy_user_header != "REMOTE_USER":
                raise ValueError("setting 'trusted_proxies' is needed when auth is proxy: "
                                 "the addresses whose user header is honoured")
            for address in self.trusted_proxies:
                try:
                    ipaddress.ip_network(address, strict=False)
                except ValueError:
                    raise ValueError(f"setting 'trusted_proxies': {address!r} is no address "
                                     "or network") from None

    @property
    def roles_of_processes(self) -> dict[str, tuple[str, ...]]:
        """process_roles, parsed: process id -> the roles it needs."""
        return _process_roles(self.process_roles)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """metrics_listen, parsed: (host, port), brackets of an IPv6 address removed."""
        return _host_and_port(self.metrics_listen) if self.metrics_listen else None

    @property
    def storage_options(self) -> dict[str, Any]:
        """output_storage_options, parsed."""
        return json.loads(self.output_storage_options) if self.output_storage_options else {}

    @property
    def data_path(self) -> Path:
        if self.data_dir is None:
            raise RuntimeError("data_dir is not resolved: use Settings.resolved()")
        return self.data_dir

    @property
    def work_path(self) -> Path:
        return self.workdir or self.data_path / "work"

    @property
    def output_path(self) -> Path:
        return self.output_dir or self.data_path / "outputs"

    @property
    def job_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'jobs.sqlite'}"

    def resolved(self, process_ids: Sequence[str], sources: Sequence[str]) -> Settings:
        """These settings with ``data_dir`` decided, for a server of these processes."""
        if self.data_dir is not None:
            return self
        return dataclasses.replace(self, data_dir=default_data_dir(process_ids, sources))

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


def _host_and_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    # An IPv6 address needs its brackets, or "::1:9464" would be read as host ::1, port 9464.
    if (not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536
            or (":" in host and not bracketed) or any(c.isspace() or c in "[]/" for c in host)):
        raise ValueError(f"setting 'metrics_listen': {text!r} is no host:port address, such "
                         "as 127.0.0.1:9464 or [::1]:9464")
    return host, int(port)


def _process_roles(raw: str | None) -> dict[str, tuple[str, ...]]:
    if not raw:
        return {}
    try:
        table = json.loads(raw)
    except ValueError:
        table = None
    if not isinstance(table, dict) or not all(
            isinstance(roles, list) and all(isinstance(r, str) for r in roles)
            for roles in table.values()):
        raise ValueError("setting 'process_roles' must map process ids to lists of roles")
    return {str(ident): tuple(roles) for ident, roles in table.items()}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None, *,
    warn_unknown: bool = True,
) -> Settings:
    """Read settings from a TOML file (optional), then apply ``WPSD_*`` environment overrides.

    Unknown keys are errors, so a typo does not go unnoticed; unknown ``WPSD_*`` variables are
    warned of (``warn_unknown``: a process started by a server that warned already does not).
    """
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
        base = Path(path).resolve().parent
        # Relative paths in a config file are relative to that file, like imports.
        for key in ("data_dir", "workdir", "output_dir", "pywps_config"):
            if key in values:
                values[key] = base / values[key]
        for key in ("output_storage_options", "process_roles"):
            if isinstance(values.get(key), dict):
                values[key] = json.dumps(values[key])
        # `pywps` names modules of PyWPS processes: `processes` finds them as well.
        values["processes"] = [
            str(base / p) if str(p).endswith(".py") else p
            for p in [*values.get("processes", []), *values.pop("pywps", [])]
        ]
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if warn_unknown:
        _warn_unknown_variables(env, fields)
    for name in fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and name != "metadata":
            values[name] = raw
    meta = values.pop("metadata", {})
    if values.get("pywps_config"):
        _apply_pywps_config(Path(values["pywps_config"]), values, meta)
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


def _apply_pywps_config(path: Path, values: dict[str, Any], meta: dict[str, Any]) -> None:
    """Fill in, from a pywps.cfg, the settings that neither the file nor the environment
    set, and say which of its keys mean nothing to wpsd."""
    from .compat.pywps.config import read_pywps_config

    found = read_pywps_config(path)
    for key, value in found.settings.items():
        values.setdefault(key, value)
    for key, value in found.metadata.items():
        meta.setdefault(key, value)
    if found.ignored:
        logging.getLogger("wpsd").warning("%s: ignored, having no wpsd meaning: %s", path,
                                          ", ".join(found.ignored))
    # Processes that read pywps.configuration themselves find the same file, here and in the
    # worker and jobs this process starts (they inherit its environment).
    os.environ.setdefault("PYWPS_CFG", str(path.resolve()))


def _warn_unknown_variables(env: Mapping[str, str], fields: Mapping[str, Any]) -> None:
    """Warn of WPSD_* variables that name no setting: a typo would go unnoticed otherwise."""
    names = [n for n in fields if n != "metadata"]
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX):
            continue
        rest = variable[len(ENV_PREFIX):]
        if (rest.lower() in names or rest in OTHER_VARIABLES
                or rest.startswith(OTHER_PREFIXES)):
            continue
        close = difflib.get_close_matches(rest.lower(), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]} ({ENV_PREFIX}{close[0].upper()})?" if close else ""
        logging.getLogger("wpsd").warning(
            "environment variable %s names no wpsd setting and is ignored%s", variable, hint)


def _cast(type_name: Any, value: Any, name: str) -> Any:
    # Field types are strings under `from __future__ import annotations`.
    kind = str(type_name)
    try:
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(v).strip() for v in items if str(v).strip())
        if kind in ("Path", "Path | None"):
            return Path(value) if value not in ("", None) else None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() not in _BOOLEANS:
                raise ValueError(value)
            return _BOOLEANS[str(value).strip().lower()]
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str | None":
            return str(value) if value not in ("", None) else None
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name!r}: cannot use {value!r}") from None
