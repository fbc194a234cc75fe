"""Validate documents against the official OGC schemas, never copied into this project.

The schema folder comes from WPSD_SCHEMAS (default: ../shared/schemas beside the clone).
Without it, the same files are fetched from schemas.opengis.net into a cache folder.
"""

from __future__ import annotations

import os
import urllib.request
from functools import cache
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("WPSD_SCHEMA_CACHE", Path.home() / ".cache" / "wpsd-schemas"))
_REMOTE = (
    ("http://schemas.opengis.net/", "https://schemas.opengis.net/"),
    ("https://schemas.opengis.net/", "https://schemas.opengis.net/"),
    ("http://www.w3.org/", "https://www.w3.org/"),
    ("https://www.w3.org/", "https://www.w3.org/"),
)
_LOCAL = (
    ("http://schemas.opengis.net/", ""),
    ("https://schemas.opengis.net/", ""),
    ("http://www.w3.org/", "w3c/"),
    ("https://www.w3.org/", "w3c/"),
)

NS_WPS10 = "http://www.opengis.net/wps/1.0.0"
NS_OWS11 = "http://www.opengis.net/ows/1.1"
NS_WPS20 = "http://www.opengis.net/wps/2.0"
NS_OWS20 = "http://www.opengis.net/ows/2.0"
ROOT_SCHEMAS = {
    NS_WPS10: "http://schemas.opengis.net/wps/1.0.0/wpsAll.xsd",
    NS_OWS11: "http://schemas.opengis.net/ows/1.1.0/owsAll.xsd",
    NS_WPS20: "http://schemas.opengis.net/wps/2.0/wps.xsd",
    NS_OWS20: "http://schemas.opengis.net/ows/2.0/owsAll.xsd",
}


class SchemaUnavailable(RuntimeError):
    pass


def _configured_dir() -> Path:
    return Path(os.environ.get("WPSD_SCHEMAS", ROOT.parent / "shared" / "schemas"))


def schema_dir() -> Path | None:
    folder = _configured_dir()
    return folder if (folder / "wps").is_dir() else None


def _local_path(url: str) -> Path:
    folder = schema_dir()
    if folder is not None:
        for prefix, sub in _LOCAL:
            if url.startswith(prefix):
                return folder / sub / url[len(prefix):]
    for prefix, remote in _REMOTE:
        if url.startswith(prefix):
            rel = url[len(prefix):]
            target = CACHE / ("w3c/" if "w3.org" in prefix else "") / rel
            if not target.is_file():
                _download(remote + rel, target)
            return target
    raise SchemaUnavailable(f"no mapping for schema {url}")


def _download(url: str, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
    except OSError as exc:
        raise SchemaUnavailable(
            f"The OGC schemas are needed to validate responses. Set WPSD_SCHEMAS to a copy "
            f"of schemas.opengis.net (none at {_configured_dir()}), "
            f"or allow downloads: fetching {url} failed: {exc}"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


class _Resolver(etree.Resolver):
    def resolve(self, url, pubid, context):  # type: ignore[no-untyped-def]
        if url.startswith(("http://", "https://")):
            return self.resolve_filename(str(_local_path(url)), context)
        return None


@cache
def _schema(url: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Resolver())
    path = _local_path(url)
    doc = etree.parse(str(path), parser)
    return etree.XMLSchema(doc)


def check_available() -> None:
    """Load every root schema once, so that a clone with neither the schema folder nor the
    network stops at the start with one message (raises SchemaUnavailable)."""
    for url in ROOT_SCHEMAS.values():
        _schema(url)
    _ogcapi_resource(OGCAPI_BASE + "schemas/statusInfo.yaml")


def validation_errors(document: bytes | etree._Element) -> list[str]:
    root = document if isinstance(document, etree._Element) else etree.fromstring(document)
    namespace = etree.QName(root).namespace
    if namespace not in ROOT_SCHEMAS:
        return [f"no schema for root element {root.tag}"]
    schema = _schema(ROOT_SCHEMAS[namespace])
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def assert_valid(document: bytes | etree._Element) -> None:
    errors = validation_errors(document)
    assert not errors, "document is not valid against the OGC schema:\n" + "\n".join(errors)


# ---------------------------------------------------------------- OGC API - Processes (JSON)

OGCAPI_BASE = "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi/"
_OGCAPI_LOCAL = "ogcapi-processes/part1/1.0/openapi/"


def _ogcapi_resource(uri: str):  # type: ignore[no-untyped-def]
    import yaml
    from referencing import Resource
    from referencing.jsonschema import DRAFT7

    relative = uri.removeprefix(OGCAPI_BASE).removeprefix(OGCAPI_BASE.replace("https", "http"))
    folder = schema_dir()
    if folder is not None:
        path = folder / _OGCAPI_LOCAL / relative
    else:
        path = CACHE / _OGCAPI_LOCAL / relative
        if not path.is_file():
            _download(OGCAPI_BASE + relative, path)
    return Resource.from_contents(yaml.safe_load(path.read_text()), default_specification=DRAFT7)


@cache
def _ogcapi_registry():  # type: ignore[no-untyped-def]
    from referencing import Registry

    return Registry(retrieve=_ogcapi_resource)


def ogcapi_errors(document: object, name: str) -> list[str]:
    """Errors of a JSON document against an OGC API - Processes schema (e.g. "statusInfo")."""
    from jsonschema import Draft7Validator, FormatChecker

    # results.yaml offers every string both as `type: string` and as `format: byte` inside
    # a oneOf: only a checked byte format (base64) tells them apart.
    checker = FormatChecker()

    @checker.checks("byte", raises=ValueError)
    def _base64(value: object) -> bool:
        import base64
        import binascii

        if not isinstance(value, str):
            return True
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(str(exc)) from exc
        return True

    validator = Draft7Validator({"$ref": f"{OGCAPI_BASE}schemas/{name}.yaml"},
                                registry=_ogcapi_registry(), format_checker=checker)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def assert_ogcapi_valid(document: object, name: str) -> None:
    errors = ogcapi_errors(document, name)
    assert not errors, f"not valid against {name}.yaml:\n" + "\n".join(errors)


@cache
def _ets_registry():  # type: ignore[no-untyped-def]
    """The OpenAPI document bundled in ets-ogcapi-processes10, which the suite validates with."""
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    relative = "ogcapi-processes/ets-ogcapi-processes10/api-processes10.yaml"
    folder = schema_dir()
    if folder is None:
        raise SchemaUnavailable(f"the CITE suite's OpenAPI document ({relative}) is only in the "
                                "shared schema folder; set WPSD_SCHEMAS")
    document = yaml.safe_load((folder / relative).read_text())
    return Registry().with_resource("urn:ets", Resource.from_contents(
        document, default_specification=DRAFT7))


def assert_ets_valid(document: object, component: str) -> None:
    """Valid against a schema component of the suite's bundled OpenAPI document."""
    from jsonschema import Draft7Validator

    validator = Draft7Validator({"$ref": f"urn:ets#/components/schemas/{component}"},
                                registry=_ets_registry())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, f"not valid against the suite's {component}:\n" + "\n".join(errors)
