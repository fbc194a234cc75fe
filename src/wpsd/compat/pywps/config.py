"""The keys of a PyWPS configuration file (``pywps.cfg``) that have a wpsd meaning.

:func:`read_pywps_config` reads the file as PyWPS does (``${VAR}`` and ``%(VAR)s`` take
environment variables) and returns wpsd setting names with their values, the service
metadata, and the keys it ignores. Only keys the file sets count: PyWPS's built-in defaults
(``/tmp`` directories, a 1 MB input limit) are not carried over. Needs no PyWPS.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SIZE = re.compile(r"([0-9]*\.?[0-9]+)\s*(g|m|k|gb|mb|kb|b)?")
_MEGABYTES = {"g": 1024.0, "gb": 1024.0, "m": 1.0, "mb": 1.0, None: 1.0,
              "k": 1 / 1024, "kb": 1 / 1024, "b": 1 / 1024**2}


@dataclass(frozen=True)
class PyWPSConfig:
    """What a pywps.cfg says in wpsd's terms."""

    #: wpsd setting name -> value (as a settings file would give it)
    settings: dict[str, Any] = field(default_factory=dict)
    #: ServiceMetadata field -> value, from ``[metadata:main]``
    metadata: dict[str, Any] = field(default_factory=dict)
    #: ``section.key`` of every key set in the file that has no wpsd meaning
    ignored: list[str] = field(default_factory=list)


def megabytes(text: str) -> float:
    """A PyWPS size (``3mb``, ``1gb``, ``200kb``, ``1024b``; megabytes without a unit)."""
    match = _SIZE.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is no size")
    return float(match[1]) * _MEGABYTES[match[2]]


def _request_bytes(text: str) -> int:
    return int(megabytes(text) * 1024 * 1024)


def _count(text: str) -> int | None:
    """A PyWPS process count; -1 (no limit) keeps wpsd's default."""
    value = int(text)
    return None if value < 0 else value


def _url(text: str) -> str | None:
    return text.strip() or None


def _output_url(text: str) -> str | None:
    """PyWPS's outputurl; wpsd appends keys to it. A file:// URL (PyWPS's default, for
    outputs on a shared disk) is none a client can use."""
    value = text.strip()
    if not value or value.startswith("file:"):
        return None
    return value if value.endswith("/") else value + "/"


def _database(text: str) -> str | None:
    """PyWPS's logging database as wpsd's job store: not an in-memory one, and PostgreSQL
    through psycopg 3 (SQLAlchemy's postgresql:// means psycopg2)."""
    value = text.strip()
    if not value or value.startswith("sqlite://") and ":memory:" in value:
        return None
    for scheme in ("postgresql://", "postgres://"):
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value[len(scheme):]
    return value


def _languages(text: str) -> str:
    return ",".join(lang.strip() for lang in text.split(",") if lang.strip())


Convert = Callable[[str], Any]
#: (section, key) -> (wpsd setting, conversion)
_SETTINGS: dict[tuple[str, str], tuple[str, Convert]] = {
    ("server", "url"): ("url", _url),
    ("server", "outputurl"): ("output_url", _output_url),
    ("server", "outputpath"): ("output_dir", str),
    ("server", "workdir"): ("workdir", str),
    ("server", "maxsingleinputsize"): ("max_input_megabytes", megabytes),
    ("server", "maxrequestsize"): ("max_request_bytes", _request_bytes),
    ("server", "parallelprocesses"): ("max_parallel_jobs", _count),
    ("server", "maxprocesses"): ("max_queued_jobs", _count),
    ("server", "language"): ("languages", _languages),
    ("logging", "database"): ("database_url", _database),
}
#: [metadata:main] key -> ServiceMetadata field
_METADATA = {
    "identification_title": "title",
    "identification_abstract": "abstract",
    "identification_keywords": "keywords",
    "identification_fees": "fees",
    "identification_accessconstraints": "access_constraints",
    "provider_name": "provider_name",
    "provider_url": "provider_site",
    "contact_name": "contact_name",
    "contact_email": "contact_email",
}
#: [s3] keys read when [server] storagetype is s3
_S3 = ("bucket", "prefix", "region")


class _EnvInterpolation(configparser.BasicInterpolation):
    """PyWPS's interpolation: ``%(VAR)s`` (environment variables are the defaults) and then
    ``${VAR}``."""

    def before_get(self, parser: Any, section: str, option: str, value: str,
                   defaults: Any) -> str:
        return os.path.expandvars(super().before_get(parser, section, option, value, defaults))


def read_pywps_config(path: str | Path) -> PyWPSConfig:
    """The wpsd settings, service metadata and ignored keys of a PyWPS configuration file."""
    # Environment variables are the parser's defaults (for %(VAR)s), so the keys the file
    # itself sets come from a second parser that has none.
    keys = configparser.RawConfigParser()
    if not keys.read(path, encoding="utf-8"):
        raise ValueError(f"cannot read the PyWPS configuration {path}")
    environ = {k: v.replace("%", "%%") for k, v in os.environ.items()}
    parser = configparser.ConfigParser(environ, interpolation=_EnvInterpolation())
    parser.read(path, encoding="utf-8")
    found = PyWPSConfig()
    storage = (keys.get("server", "storagetype", fallback="file") or "file").strip().lower()
    for section in keys.sections():
        for key in keys.options(section):
            value = parser.get(section, key)
            where = f"{section}.{key}"
            if (section, key) in _SETTINGS:
                name, convert = _SETTINGS[(section, key)]
                try:
                    converted = convert(value)
                except ValueError:
                    raise ValueError(f"{path}: {where} = {value!r} is not usable") from None
                if converted is None:
                    found.ignored.append(where)
                else:
                    found.settings[name] = converted
            elif section == "metadata:main" and key in _METADATA:
                found.metadata[_METADATA[key]] = value
            elif section == "s3" and key in _S3 and storage == "s3":
                continue
            elif (section, key) == ("server", "storagetype") and storage == "s3":
                continue
            else:
                found.ignored.append(where)
    if storage == "s3":
        _s3(parser, found)
    return found


def _s3(parser: configparser.ConfigParser, found: PyWPSConfig) -> None:
    """PyWPS's S3 output storage as wpsd's ``output_storage``."""
    bucket = parser.get("s3", "bucket", fallback="").strip()
    if not bucket:
        raise ValueError("storagetype = s3 needs an [s3] bucket")
    prefix = parser.get("s3", "prefix", fallback="").strip().strip("/")
    found.settings["output_storage"] = f"s3://{bucket}/{prefix}".rstrip("/")
    region = parser.get("s3", "region", fallback="").strip()
    if region:
        found.settings["output_storage_options"] = json.dumps(
            {"client_kwargs": {"region_name": region}})
