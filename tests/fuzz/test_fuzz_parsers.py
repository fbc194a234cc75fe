"""Fuzzing the sans-IO request parsers: whatever comes in, a request model or a WPSError comes out.

The property of every parser (WPS 1.0.0 KVP and XML, WPS 2.0 KVP and XML, OGC API execute
JSON, and the hardened XML parser under them): it returns a request model or raises a
:class:`~wpsd.exceptions.WPSError` with a client-error status (4xx, or the 501 that OWS Common
gives OperationNotSupported and OptionNotSupported), never any other exception. Parsed
requests must also be writable: no string in them holds a lone surrogate, which no UTF-8
response could carry. And unmutated, WPS 1.0.0 DataInputs come out as they went in.

Requests are built from valid templates (each process's own inputs with values of their
declared types) and then mutated: KVP parameters dropped, duplicated, re-cased, percent-encoded
whole or with raw ``;@=`` separators; XML elements and attributes changed, moved, renamed or
nested, then the bytes truncated or spliced with garbage; JSON members replaced by values of
the wrong shape. Most examples therefore get past the first checks and reach the code that
converts values. The strategies are shared with ``test_fuzz_http.py``, which sends the same
requests through the WSGI app.

The budget is a hypothesis profile (``tests/fuzz/conftest.py``): ``ci`` by default and
derandomized; ``HYPOTHESIS_PROFILE=dev`` or ``long`` for random runs and
``WPSD_FUZZ_EXAMPLES=N`` for more examples, e.g.
``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import demo
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from lxml import etree

from sample_processes import processes as sample_processes
from wpsd import BoundingBoxInput, ComplexInput, LiteralInput, Process
from wpsd.datatypes.literals import AllowedValues
from wpsd.exceptions import WPSError
from wpsd.processes.registry import ProcessRegistry
from wpsd.protocol import requests as models
from wpsd.protocol.ogcapi.parse import parse_execute
from wpsd.protocol.wps1 import parse as wps1
from wpsd.protocol.wps2 import parse as wps2
from wpsd.protocol.xml import parse_xml

ALL_PROCESSES: list[Process] = [*demo.processes, *sample_processes]
REGISTRY = ProcessRegistry(ALL_PROCESSES)
#: inputs that are waiting times: requests that really run processes never carry them
SLOW_INPUTS = frozenset({"pause", "delay"})

NS_WPS1 = "http://www.opengis.net/wps/1.0.0"
NS_OWS1 = "http://www.opengis.net/ows/1.1"
NS_WPS2 = "http://www.opengis.net/wps/2.0"
NS_OWS2 = "http://www.opengis.net/ows/2.0"
NS_XLINK = "http://www.w3.org/1999/xlink"
NSMAP1 = {"wps": NS_WPS1, "ows": NS_OWS1, "xlink": NS_XLINK}
NSMAP2 = {"wps": NS_WPS2, "ows": NS_OWS2, "xlink": NS_XLINK}

FUZZ = settings.get_profile("wpsd-fuzz")


def budget(share: float) -> settings:
    """The chosen profile with ``share`` times its examples: parsing is cheap, running is not."""
    return settings(FUZZ, max_examples=max(1, round(FUZZ.max_examples * share)))


# ---------------------------------------------------------------- nasty values

NUMBERS = ["0", "-0", "1", "-1", "00", "+0", "1e400", "-1e400", "1e-400", "nan", "NaN", "-nan",
           "inf", "-inf", "INF", "Infinity", "9" * 400, "9" * 5000, "1_000", "0x1f", "\uff11\uff12",
           "\u0663", "1.", ".5", "+1", "1e", "2.0e+3", "4294967296", "-9223372036854775809",
           "1,2", "1 2", "1,2,3,4,5", "0,0,1,1,EPSG:4326,x"]
WORDS = ["", " ", "true", "FALSE", "false", "1", "null", "None", "all", "ALL", "WPS", "wps",
         "1.0.0", "2.0.0", "2.0", "3.0.0", "en-US", "EN-us", "xx", "text/xml", "text/plain",
         "application/json", "application/geo+json", "image/png", "text/html", "base64",
         "BASE64", "UTF-8", "latin-1", "utf-99", "EPSG:4326", "EPSG:3857", "EPSG:",
         "urn:ogc:def:crs:EPSG::4326", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", ":",
         "metre", "foot", "string", "xs:double", "http://www.w3.org/TR/xmlschema-2/#integer",
         "value", "reference", "raw", "document", "sync", "async", "auto", "GET", "POST", "PUT"]
URLS = ["http://127.0.0.1:1/x", "https://127.0.0.1:1/x", "http://[::1]:1/x",
        "ftp://127.0.0.1:1/x", "file:///etc/passwd", "http://[::1", "http://", "//127.0.0.1:1/x",
        "127.0.0.1:1", "http://127.0.0.1:1/x?a=b&c=%00", "javascript:alert(1)",
        "data:text/plain,hi", "http://user:pw@127.0.0.1:1/x", "http://127.0.0.1:99999/x"]
UNICODE = ["\u00e9", "e\u0301", "\u202e", "\U0001f600", "\u00df", "\u0130", "\ufb01", "\ufeff",
           "\ufffd", "\u2028", "\u00a0", "\u3000", "\u03a9" * 50, "a" * 10000, "\U0010ffff"]
SEPARATORS = ["%", "%%", "%zz", "%0", "%00", "%ff", "%C3%A9", "%ED%A0%80", "%F0%9F", "%0A",
              ";", "@", "=", ",", "&", "+", "#", "?", "/", "%3B", "%40", "%3D", "%26", "%2B",
              "%25", ";;", "@@", "==", "=@;", "%3D%3B", "a=b@c=d;e"]
CONTROL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\r", "\n",
           "\r\n", "\t", "\ufffe", "\uffff"]
MARKUP = ["<a/>", "<", "]]>", "&amp;", "&", "&#0;", "&#x1;", "<![CDATA[x]]>", "<?pi?>",
          "<!--c-->", '"', "'", "{", "[1, 2]", "{}", "[]", '{"a": [1]}']
POOL = NUMBERS + WORDS + URLS + UNICODE + SEPARATORS + CONTROL + MARKUP


def xml_ok(text: str) -> bool:
    """Whether XML 1.0 can carry the text at all (lxml refuses it otherwise)."""
    return not any(ord(c) < 0x20 and c not in "\t\n\r" or c in "\ufffe\uffff"
                   or 0xD800 <= ord(c) <= 0xDFFF for c in text)


XML_POOL = [s for s in POOL if xml_ok(s)]
#: text an XML document can hold
xml_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"),
                                 exclude_characters="\ufffe\uffff") | st.sampled_from("\t\n\r"),
                   max_size=12)
#: any text, in a query string or a JSON string (no surrogates: see json_strings)
any_text = st.text(max_size=12)


def _nasty(pool: Sequence[str], text: SearchStrategy[str]) -> SearchStrategy[str]:
    one = st.sampled_from(pool) | text
    return one | st.tuples(one, one).map("".join)


nasty = _nasty(POOL, any_text)
xml_nasty = _nasty(XML_POOL, xml_text)


def recase(draw: DrawFn, text: str) -> str:
    how = draw(st.sampled_from([str.upper, str.lower, str.swapcase, str.title, str.casefold]))
    return how(text)


# ---------------------------------------------------------------- valid values

POINT = {"type": "Point", "coordinates": [1.0, 2.0]}
SQUARE = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {},
    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}}]}
_FLOATS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_TYPED: dict[str, SearchStrategy[Any]] = {
    "string": xml_text,
    "boolean": st.sampled_from([True, False]),
    "integer": st.integers(-10**6, 10**6),
    "positiveInteger": st.integers(1, 10**6),
    "double": _FLOATS,
    "float": _FLOATS,
    "decimal": st.decimals(-10**6, 10**6, allow_nan=False, places=3),
    "date": st.dates().map(lambda d: d.isoformat()),
    "dateTime": st.datetimes().map(lambda d: d.isoformat()),
    "time": st.times().map(lambda t: t.isoformat()),
    "anyURI": st.sampled_from(["http://example.org/a", "urn:x:y", "relative/path"]),
}


def literal_json(declared: LiteralInput) -> SearchStrategy[Any]:
    """A valid value of a literal input, as JSON would carry it."""
    if declared.identifier in SLOW_INPUTS:
        return st.just(0)
    allowed = declared.allowed_values
    if isinstance(allowed, AllowedValues):
        ranges = [st.integers(int(r.minimum or 0), int(r.maximum or 10)) for r in allowed.ranges]
        return st.one_of(st.sampled_from(list(allowed.values) or [0]), *ranges)
    if allowed is not None:
        return st.sampled_from(list(allowed))
    return _TYPED.get(declared.domain.data_type.name, xml_text)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@st.composite
def complex_text(draw: DrawFn, declared: ComplexInput) -> tuple[str, dict[str, str]]:
    """A valid inline complex value as text, with the attributes that say its format."""
    fmt = draw(st.sampled_from(list(declared.formats)))
    attrs = {"mimeType": fmt.mime_type} if draw(st.booleans()) else {}
    if fmt.is_base64:
        attrs["encoding"] = "base64"
        return base64.b64encode(draw(st.binary(max_size=16))).decode(), attrs
    if fmt.is_json:
        return json.dumps(draw(st.sampled_from([POINT, SQUARE, {"a": [1, None]}]))), attrs
    if fmt.is_xml:
        return draw(st.sampled_from(["<a>x</a>", "<r xmlns='urn:x'><b c='d'/></r>"])), attrs
    return draw(xml_text), attrs


@st.composite
def bbox_values(draw: DrawFn, declared: BoundingBoxInput) -> tuple[list[float], str | None]:
    lower = draw(st.lists(_FLOATS, min_size=declared.dimensions, max_size=declared.dimensions))
    upper = [v + draw(st.floats(0, 10)) for v in lower]
    crs = draw(st.none() | st.sampled_from(list(declared.crss)))
    return lower + upper, crs


def chosen_inputs(draw: DrawFn, process: Process, quick: bool) -> list[Any]:
    """The inputs a template request gives: the required ones and some optional ones."""
    inputs = [i for i in process.inputs if not (quick and i.identifier in SLOW_INPUTS)]
    return [i for i in inputs if i.min_occurs > 0 or draw(st.booleans())]


def occurrences(draw: DrawFn, declared: Any) -> int:
    return draw(st.integers(max(1, declared.min_occurs), min(declared.max_occurs, 3)))


def quick_processes() -> list[Process]:
    """The processes whose executions end at once (whatever the inputs of a request)."""
    slow = {"sleep", "crash", "forever", "limited"}
    return [p for p in ALL_PROCESSES if p.identifier not in slow]


def identifiers(processes: Sequence[Process]) -> SearchStrategy[str]:
    return st.sampled_from([p.identifier for p in processes])


# ---------------------------------------------------------------- KVP

Pairs = list[tuple[str, str | None]]  # name and value as they appear in the query (None: no =)
KVP_NAMES = ["service", "version", "request", "identifier", "DataInputs", "ResponseDocument",
             "RawDataOutput", "lineage", "status", "storeExecuteResponse", "AcceptVersions",
             "language", "lang", "updateSequence", "jobId", "AcceptFormats", "Sections"]
ATTR_KEYS = ["mimeType", "encoding", "schema", "uom", "dataType", "href", "xlink:href", "method",
             "asReference", "crs", "datatype", "MIMETYPE"]


def esc(text: str) -> str:
    """A value with every separator percent-encoded, as OGC 05-007r7 10.2.2.1 asks."""
    return quote(text, safe="")


def query(pairs: Pairs) -> str:
    return "&".join(name if value is None else f"{name}={value}" for name, value in pairs)


Record = tuple[str, str | None, list[tuple[str, str | None]]]


def records_text(records: Sequence[Record]) -> str:
    parts = []
    for ident, value, attrs in records:
        text = ident if value is None else f"{ident}={value}"
        parts.append(text + "".join(f"@{k}" if v is None else f"@{k}={v}" for k, v in attrs))
    return ";".join(parts)


@st.composite
def data_input_records(draw: DrawFn, process: Process, quick: bool) -> list[Record]:
    records: list[Record] = []
    for declared in chosen_inputs(draw, process, quick):
        for _ in range(occurrences(draw, declared)):
            attrs: dict[str, str] = {}
            if isinstance(declared, LiteralInput):
                text = as_text(draw(literal_json(declared)))
                if declared.uoms and draw(st.booleans()):
                    attrs["uom"] = draw(st.sampled_from(list(declared.uoms)))
            elif isinstance(declared, ComplexInput):
                if draw(st.integers(0, 9)) == 0:  # a reference that fails at once
                    text, attrs = "", {"xlink:href": draw(st.sampled_from(URLS))}
                else:
                    text, attrs = draw(complex_text(declared))
            else:
                values, crs = draw(bbox_values(declared))
                text = ",".join(repr(v) for v in values) + (f",{crs}" if crs else "")
            records.append((esc(declared.identifier), esc(text),
                            [(k, esc(v)) for k, v in attrs.items()]))
    return records


@st.composite
def output_records(draw: DrawFn, process: Process) -> list[Record]:
    records: list[Record] = []
    for output in process.outputs:
        if not draw(st.booleans()):
            continue
        attrs: list[tuple[str, str | None]] = []
        if draw(st.booleans()):
            attrs.append(("asReference", draw(st.sampled_from(["true", "false"]))))
        formats = getattr(output, "formats", ())
        if formats and draw(st.booleans()):
            attrs.append(("mimeType", esc(draw(st.sampled_from(formats)).mime_type)))
        records.append((esc(output.identifier), None, attrs))
    return records


@st.composite
def mutate_records(draw: DrawFn, records: list[Record], quick: bool) -> list[Record]:
    records = list(records)
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["drop", "duplicate", "ident", "value", "add_attr",
                                   "drop_attr", "no_value", "empty"]))
        if op == "empty" or not records:
            records.append(("", None, []) if draw(st.booleans()) else ("", "", []))
            continue
        i = draw(st.integers(0, len(records) - 1))
        ident, value, attrs = records[i]
        slow = ident in SLOW_INPUTS
        if op == "drop":
            del records[i]
        elif op == "duplicate":
            records.insert(draw(st.integers(0, len(records))), records[i])
        elif op == "ident":
            new = draw(nasty | st.just(recase(draw, ident)))
            if not (quick and any(s in new.lower() for s in SLOW_INPUTS)):
                records[i] = (new, value, attrs)
        elif op == "value" and not slow:
            records[i] = (ident, draw(nasty), attrs)
        elif op == "add_attr":
            key = draw(st.sampled_from(ATTR_KEYS) | nasty)
            records[i] = (ident, value, [*attrs, (key, draw(st.none() | nasty))])
        elif op == "drop_attr" and attrs:
            records[i] = (ident, value, attrs[:-1])
        elif op == "no_value" and not slow:
            records[i] = (ident, None, attrs)
    return records


@st.composite
def mutate_pairs(draw: DrawFn, pairs: Pairs) -> Pairs:
    pairs = list(pairs)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["drop", "duplicate", "recase", "value", "append", "add",
                                   "encode", "plus", "bare", "shuffle"]))
        if op == "add" or not pairs:
            name = draw(st.sampled_from(KVP_NAMES) | nasty)
            pairs.insert(draw(st.integers(0, len(pairs))), (name, draw(nasty)))
            continue
        i = draw(st.integers(0, len(pairs) - 1))
        name, value = pairs[i]
        slow = any(s in (value or "").lower() for s in SLOW_INPUTS)
        if op == "drop":
            del pairs[i]
        elif op == "duplicate":
            copy = (name, value if draw(st.booleans()) else draw(nasty))
            pairs.insert(draw(st.integers(0, len(pairs))), copy)
        elif op == "recase":
            pairs[i] = (recase(draw, name), recase(draw, value or "") if draw(st.booleans())
                        else value)
        elif op == "value" and not slow:
            pairs[i] = (name, draw(nasty))
        elif op == "append" and not slow:
            pairs[i] = (name, (value or "") + draw(nasty))
        elif op == "encode":  # the whole value encoded once more: %3D for every =
            pairs[i] = (esc(name) if draw(st.booleans()) else name, esc(value or ""))
        elif op == "plus":
            pairs[i] = (name, quote_plus(value or "", safe=";@=,:/"))
        elif op == "bare":
            pairs[i] = (name, None)
        elif op == "shuffle":
            pairs = draw(st.permutations(pairs))
    return pairs


@st.composite
def wps1_kvp(draw: DrawFn, processes: Sequence[Process] = ALL_PROCESSES,
             quick: bool = False) -> str:
    """A WPS 1.0.0 GET query (GetCapabilities, DescribeProcess or Execute), mutated."""
    operation = draw(st.sampled_from(["GetCapabilities", "DescribeProcess", "Execute"]))
    pairs: Pairs = [("service", "WPS"), ("request", operation)]
    if operation == "GetCapabilities":
        if draw(st.booleans()):
            pairs.append(("AcceptVersions", draw(st.sampled_from(["1.0.0", "2.0.0,1.0.0"]))))
    else:
        pairs.append(("version", "1.0.0"))
    if draw(st.booleans()):
        pairs.append(("language", "en-US"))
    if operation == "DescribeProcess":
        chosen = draw(st.lists(identifiers(processes), min_size=1, max_size=3))
        pairs.append(("identifier", ",".join(chosen) if draw(st.booleans()) else "ALL"))
    elif operation == "Execute":
        process = draw(st.sampled_from(list(processes)))
        pairs.append(("identifier", process.identifier))
        records = draw(mutate_records(draw(data_input_records(process, quick)), quick))
        pairs.append(("DataInputs", records_text(records)))
        outputs = draw(output_records(process))
        if outputs and draw(st.booleans()):
            name = "RawDataOutput" if draw(st.booleans()) else "ResponseDocument"
            pairs.append((name, records_text(draw(mutate_records(outputs, quick))[:3])))
        for flag in ("lineage", "status", "storeExecuteResponse"):
            # storeExecuteResponse makes a job: keep those few
            if draw(st.integers(0, 9 if flag == "storeExecuteResponse" else 2)) == 0:
                pairs.append((flag, "true"))
    pairs = draw(st.permutations(pairs)) if draw(st.booleans()) else pairs
    return query(draw(mutate_pairs(pairs)))


@st.composite
def wps2_kvp(draw: DrawFn, processes: Sequence[Process] = ALL_PROCESSES) -> str:
    """A WPS 2.0 GET query (every operation but Execute has a KVP form), mutated."""
    operation = draw(st.sampled_from(wps2.OPERATIONS))
    pairs: Pairs = [("service", "WPS"), ("version", "2.0.0"), ("request", operation)]
    if operation == "DescribeProcess":
        chosen = draw(st.lists(identifiers(processes), min_size=1, max_size=3))
        pairs.append(("identifier", ",".join(chosen)))
    elif operation in ("GetStatus", "GetResult", "Dismiss"):
        job = draw(st.uuids().map(str) | nasty)
        pairs.append(("jobId", esc(job)))
    elif operation == "Execute":
        pairs.append(("identifier", draw(identifiers(processes))))
    if draw(st.booleans()):
        pairs.append((draw(st.sampled_from(["lang", "language"])), "en-US"))
    return query(draw(mutate_pairs(pairs)))


random_queries = st.lists(
    st.tuples(st.sampled_from(KVP_NAMES) | nasty, st.none() | nasty), max_size=6
).map(query) | any_text


# ---------------------------------------------------------------- XML

def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str
        ) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    element.text = text
    return element


@st.composite
def wps1_xml_tree(draw: DrawFn, processes: Sequence[Process] = ALL_PROCESSES,
                  quick: bool = False) -> etree._Element:
    """A valid WPS 1.0.0 GetCapabilities, DescribeProcess or Execute document."""
    operation = draw(st.sampled_from(["GetCapabilities", "DescribeProcess", "Execute"]))
    root = etree.Element(q(NS_WPS1, operation), nsmap=NSMAP1, service="WPS")
    if operation == "GetCapabilities":
        versions = sub(root, q(NS_WPS1, "AcceptVersions"))
        sub(versions, q(NS_OWS1, "Version"), draw(st.sampled_from(["1.0.0", "2.0.0"])))
        return root
    root.set("version", "1.0.0")
    if draw(st.booleans()):
        root.set("language", "en-US")
    if operation == "DescribeProcess":
        for ident in draw(st.lists(identifiers(processes), min_size=1, max_size=3)):
            sub(root, q(NS_OWS1, "Identifier"), ident)
        return root
    process = draw(st.sampled_from(list(processes)))
    sub(root, q(NS_OWS1, "Identifier"), process.identifier)
    data_inputs = sub(root, q(NS_WPS1, "DataInputs"))
    for declared in chosen_inputs(draw, process, quick):
        for _ in range(occurrences(draw, declared)):
            element = sub(data_inputs, q(NS_WPS1, "Input"))
            sub(element, q(NS_OWS1, "Identifier"), declared.identifier)
            wps1_value(draw, element, declared)
    outputs = [o for o in process.outputs if draw(st.booleans())]
    if outputs:
        form = sub(root, q(NS_WPS1, "ResponseForm"))
        if draw(st.booleans()):
            raw = sub(form, q(NS_WPS1, "RawDataOutput"))
            sub(raw, q(NS_OWS1, "Identifier"), outputs[0].identifier)
        else:
            document = sub(form, q(NS_WPS1, "ResponseDocument"))
            for flag in ("lineage", "status", "storeExecuteResponse"):
                if draw(st.integers(0, 9 if flag == "storeExecuteResponse" else 2)) == 0:
                    document.set(flag, "true")
            for output in outputs:
                element = sub(document, q(NS_WPS1, "Output"))
                if draw(st.booleans()):
                    element.set("asReference", draw(st.sampled_from(["true", "false"])))
                sub(element, q(NS_OWS1, "Identifier"), output.identifier)
    return root


def wps1_value(draw: DrawFn, element: etree._Element, declared: Any) -> None:
    if isinstance(declared, ComplexInput) and draw(st.integers(0, 9)) == 0:
        reference = sub(element, q(NS_WPS1, "Reference"))
        reference.set(q(NS_XLINK, "href"), draw(st.sampled_from(URLS)))
        if draw(st.booleans()):
            reference.set("method", "POST")
            sub(reference, q(NS_WPS1, "Body"), "payload")
        return
    data = sub(element, q(NS_WPS1, "Data"))
    if isinstance(declared, LiteralInput):
        literal = sub(data, q(NS_WPS1, "LiteralData"), as_text(draw(literal_json(declared))))
        if declared.uoms and draw(st.booleans()):
            literal.set("uom", draw(st.sampled_from(list(declared.uoms))))
    elif isinstance(declared, ComplexInput):
        text, attrs = draw(complex_text(declared))
        content = sub(data, q(NS_WPS1, "ComplexData"), **attrs)
        if text.startswith("<") and draw(st.booleans()):
            content.append(etree.fromstring(text))
        else:
            content.text = text
    else:
        values, crs = draw(bbox_values(declared))
        box = sub(data, q(NS_WPS1, "BoundingBoxData"), dimensions=str(len(values) // 2))
        if crs:
            box.set("crs", crs)
        half = len(values) // 2
        sub(box, q(NS_OWS1, "LowerCorner"), " ".join(repr(v) for v in values[:half]))
        sub(box, q(NS_OWS1, "UpperCorner"), " ".join(repr(v) for v in values[half:]))


@st.composite
def wps2_xml_tree(draw: DrawFn, processes: Sequence[Process] = ALL_PROCESSES,
                  quick: bool = False) -> etree._Element:
    """A valid WPS 2.0 document of any operation."""
    operation = draw(st.sampled_from(wps2.OPERATIONS))
    root = etree.Element(q(NS_WPS2, operation), nsmap=NSMAP2, service="WPS")
    if operation == "GetCapabilities":
        versions = sub(root, q(NS_OWS2, "AcceptVersions"))
        sub(versions, q(NS_OWS2, "Version"), "2.0.0")
        return root
    root.set("version", "2.0.0")
    if operation == "DescribeProcess":
        for ident in draw(st.lists(identifiers(processes), min_size=1, max_size=3)):
            sub(root, q(NS_OWS2, "Identifier"), ident)
        return root
    if operation != "Execute":
        sub(root, q(NS_WPS2, "JobID"), draw(st.uuids().map(str) | xml_nasty))
        return root
    process = draw(st.sampled_from(list(processes)))
    # an asynchronous execution makes a job: keep those few
    root.set("mode", "async" if draw(st.integers(0, 9)) == 0 else
             draw(st.sampled_from(["sync", "auto"])))
    root.set("response", draw(st.sampled_from(["document", "raw"])))
    sub(root, q(NS_OWS2, "Identifier"), process.identifier)
    for declared in chosen_inputs(draw, process, quick):
        for _ in range(occurrences(draw, declared)):
            element = sub(root, q(NS_WPS2, "Input"), id=declared.identifier)
            wps2_value(draw, element, declared)
    for output in process.outputs:
        if draw(st.booleans()):
            element = sub(root, q(NS_WPS2, "Output"), id=output.identifier)
            if draw(st.booleans()):
                element.set("transmission", draw(st.sampled_from(["value", "reference"])))
    return root


def wps2_value(draw: DrawFn, element: etree._Element, declared: Any) -> None:
    if isinstance(declared, ComplexInput) and draw(st.integers(0, 9)) == 0:
        reference = sub(element, q(NS_WPS2, "Reference"))
        reference.set(q(NS_XLINK, "href"), draw(st.sampled_from(URLS)))
        return
    data = sub(element, q(NS_WPS2, "Data"))
    if isinstance(declared, LiteralInput):
        value = as_text(draw(literal_json(declared)))
        if draw(st.booleans()):
            literal = sub(data, q(NS_WPS2, "LiteralValue"), value)
            if declared.uoms and draw(st.booleans()):
                literal.set("uom", draw(st.sampled_from(list(declared.uoms))))
        else:
            data.text = value
    elif isinstance(declared, ComplexInput):
        text, attrs = draw(complex_text(declared))
        for key, value in attrs.items():
            data.set(key, value)
        if text.startswith("<") and draw(st.booleans()):
            data.append(etree.fromstring(text))
        else:
            data.text = text
    else:
        values, crs = draw(bbox_values(declared))
        box = sub(data, q(NS_OWS2, "BoundingBox"))
        if crs:
            box.set("crs", crs)
        half = len(values) // 2
        sub(box, q(NS_OWS2, "LowerCorner"), " ".join(repr(v) for v in values[:half]))
        sub(box, q(NS_OWS2, "UpperCorner"), " ".join(repr(v) for v in values[half:]))


XML_TAGS = ["Execute", "DescribeProcess", "GetCapabilities", "GetStatus", "GetResult",
            "Dismiss", "Identifier", "DataInputs", "Input", "Data", "LiteralData",
            "LiteralValue", "ComplexData", "BoundingBoxData", "BoundingBox", "LowerCorner",
            "UpperCorner", "Reference", "Body", "BodyReference", "Header", "ResponseForm",
            "ResponseDocument", "RawDataOutput", "Output", "JobID", "AcceptVersions",
            "Version", "x"]
XML_NAMESPACES = [NS_WPS1, NS_OWS1, NS_WPS2, NS_OWS2, "urn:x", ""]
XML_ATTRS = ["service", "version", "language", "mode", "response", "id", "transmission",
             "dimensions", "crs", "uom", "dataType", "mimeType", "encoding", "schema",
             "asReference", "lineage", "status", "storeExecuteResponse", "method", "href",
             "key", "value", "updateSequence", q(NS_XLINK, "href"),
             q("http://www.w3.org/XML/1998/namespace", "lang")]


def _tag(draw: DrawFn) -> str:
    namespace = draw(st.sampled_from(XML_NAMESPACES))
    local = draw(st.sampled_from(XML_TAGS))
    return q(namespace, local) if namespace else local


@st.composite
def mutate_tree(draw: DrawFn, root: etree._Element, quick: bool = False) -> etree._Element:
    """The document with a few elements, attributes or texts changed."""
    for _ in range(draw(st.integers(0, 3))):
        elements = list(root.iter())
        element = draw(st.sampled_from(elements))
        if quick and any(s in (element.text or "") + " ".join(element.attrib.values())
                         for s in SLOW_INPUTS):
            continue
        op = draw(st.sampled_from(["attr", "del_attr", "text", "remove", "duplicate",
                                   "rename", "add", "nest", "move", "clear"]))
        try:
            mutate_element(draw, root, element, op, quick)
        except ValueError:
            pass  # lxml refused a name or value: the document stays as it was
    return root


def mutate_element(draw: DrawFn, root: etree._Element, element: etree._Element, op: str,
                   quick: bool) -> None:
    parent = element.getparent()
    if op == "attr":
        name = draw(st.sampled_from(XML_ATTRS + list(element.attrib)))
        element.set(name, draw(xml_nasty | st.just(recase(draw, element.get(name) or "x"))))
    elif op == "del_attr" and element.attrib:
        del element.attrib[draw(st.sampled_from(sorted(element.attrib)))]
    elif op == "text":
        text = draw(xml_nasty)
        if not (quick and any(s in text for s in SLOW_INPUTS)):
            element.text = text
    elif op == "remove" and parent is not None:
        parent.remove(element)
    elif op == "duplicate" and parent is not None:
        parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(element))
    elif op == "rename":
        element.tag = _tag(draw)
    elif op == "add":
        child = etree.SubElement(element, _tag(draw))
        child.text = draw(st.none() | xml_nasty)
    elif op == "nest":
        inner = element
        for _ in range(draw(st.sampled_from([2, 50, 300]))):
            inner = etree.SubElement(inner, _tag(draw))
    elif op == "move" and parent is not None:
        target = draw(st.sampled_from(list(root.iter())))
        if element not in target.iterancestors() and target is not element:
            target.append(element)
    elif op == "clear":
        for child in list(element):
            element.remove(child)


DECLARATIONS = [b'<?xml version="1.0" encoding="UTF-16"?>', b'<?xml version="1.0" encoding="foo"?>',
                b'<?xml version="1.1"?>', b'<?xml version="1.0" encoding="ISO-8859-1"?>',
                b'<?xml version="2.0"?>', b"<?xml?>", b'<?xml version="1.0" standalone="yes"?>']
PREFIXES = [b"\xef\xbb\xbf", b" \n", b"\x00", b"\xff\xfe", b"<!-- c -->",
            b'<!DOCTYPE r [<!ENTITY a "b">]>', b'<!DOCTYPE r SYSTEM "http://127.0.0.1:1/x.dtd">',
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
            b"<?pi data?>", b"garbage"]


@st.composite
def xml_bytes(draw: DrawFn, tree: SearchStrategy[etree._Element], quick: bool = False
              ) -> bytes:
    """A serialised (mutated) document, sometimes damaged byte by byte."""
    root = draw(mutate_tree(draw(tree), quick))
    data: bytes = etree.tostring(root, xml_declaration=draw(st.booleans()), encoding="UTF-8")
    op = draw(st.sampled_from(["none", "none", "none", "truncate", "insert", "declaration",
                               "prefix", "append", "entity", "latin1", "attribute"]))
    if op == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif op == "insert" and not quick:  # garbage could land in a waiting time
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif op == "declaration":
        body = etree.tostring(root, encoding="UTF-8")
        data = draw(st.sampled_from(DECLARATIONS)) + body
    elif op == "prefix":
        data = draw(st.sampled_from(PREFIXES)) + etree.tostring(root, encoding="UTF-8")
    elif op == "append":
        data += draw(st.sampled_from([b"<x/>", b"garbage", b"\x00", b"<!-- c -->", b"&a;"]))
    elif op == "entity":
        body = etree.tostring(root, encoding="UTF-8").replace(b">", b">&b;", 1)
        data = PREFIXES[8] + body
    elif op == "latin1":  # a document that says UTF-8 and is not
        data = etree.tostring(root, encoding="ISO-8859-1", xml_declaration=False)
        data = b'<?xml version="1.0" encoding="UTF-8"?>' + data + "\u00e9".encode("latin-1")
    elif op == "attribute":
        data = data.replace(b'service="WPS"', b'service="WPS" service="WPS"', 1)
    return data


def wps1_xml(processes: Sequence[Process] = ALL_PROCESSES, quick: bool = False
             ) -> SearchStrategy[bytes]:
    return xml_bytes(wps1_xml_tree(processes, quick), quick)


def wps2_xml(processes: Sequence[Process] = ALL_PROCESSES, quick: bool = False
             ) -> SearchStrategy[bytes]:
    return xml_bytes(wps2_xml_tree(processes, quick), quick)


# (bytes, repeat) pairs, so that hypothesis' report of the strategy stays short
garbage_bytes = st.binary(max_size=64) | st.sampled_from([
    (b"", 1), (b" ", 1), (b"<", 1), (b"<a>", 1), (b"</a>", 1), (b"<a/>", 1), (b"<", 5000),
    (b"<a>", 300), (b"\x00", 8), (b"\xff\xfe<\x00a\x00/\x00>\x00", 1), (b"{}", 1), (b"null", 1),
]).map(lambda pair: pair[0] * pair[1])


# ---------------------------------------------------------------- OGC API JSON

def _huge_int(draw: DrawFn) -> int:
    return int("9" * draw(st.sampled_from([20, 309, 400, 4000])))


leaf_json = (st.none() | st.booleans() | st.integers() | st.floats()
             | st.builds(lambda: 10**400) | st.text(max_size=8) | st.sampled_from(POOL))
json_values = st.recursive(
    leaf_json,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["value", "href", "bbox", "crs", "uom", "mediaType",
                                       "type", "encoding", "schema"]) | any_text,
                      inner, max_size=4),
    max_leaves=8)
#: strings a JSON document can carry that no UTF-8 text can: lone surrogates
json_strings = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2) \
    .map(lambda s: "a" + s)
JSON_MEMBERS = ["inputs", "outputs", "response", "subscriber", "value", "href", "bbox", "crs",
                "uom", "mediaType", "type", "encoding", "schema", "format", "transmissionMode",
                "successUri", "failedUri", "inProgressUri", "id", "mode", "qualifiedValue"]


@st.composite
def ogcapi_value(draw: DrawFn, declared: Any) -> Any:
    """A valid OGC API value of one input (execute.yaml, inlineOrRefData.yaml)."""
    if isinstance(declared, LiteralInput):
        value = draw(literal_json(declared))
        value = value if isinstance(value, bool | int | float | str) else str(value)
        if declared.uoms and draw(st.booleans()):
            return {"value": value, "uom": draw(st.sampled_from(list(declared.uoms)))}
        return {"value": value} if draw(st.integers(0, 3)) == 0 else value
    if isinstance(declared, ComplexInput):
        choice = draw(st.integers(0, 9))
        if choice == 0:  # a reference that fails at once
            return {"href": draw(st.sampled_from(URLS)), "type": declared.formats[0].mime_type}
        text, attrs = draw(complex_text(declared))
        if "json" in attrs.get("mimeType", declared.formats[0].mime_type) and choice < 5:
            return json.loads(text)
        qualified: dict[str, Any] = {"value": text}
        if "mimeType" in attrs:
            qualified["mediaType"] = attrs["mimeType"]
        if "encoding" in attrs:
            qualified["encoding"] = attrs["encoding"]
        return qualified if qualified.keys() != {"value"} or choice < 8 else text
    values, crs = draw(bbox_values(declared))
    return {"bbox": values, **({"crs": crs} if crs else {})}


@st.composite
def ogcapi_document(draw: DrawFn, process: Process, quick: bool = False) -> dict[str, Any]:
    """A valid execute request for a process, built from its description."""
    inputs: dict[str, Any] = {}
    for declared in chosen_inputs(draw, process, quick):
        values = [draw(ogcapi_value(declared)) for _ in range(occurrences(draw, declared))]
        inputs[declared.identifier] = values if declared.max_occurs > 1 else values[0]
    document: dict[str, Any] = {"inputs": inputs}
    outputs: dict[str, Any] = {}
    for output in process.outputs:
        if draw(st.booleans()):
            spec: dict[str, Any] = {}
            formats = getattr(output, "formats", ())
            if formats and draw(st.booleans()):
                spec["format"] = {"mediaType": draw(st.sampled_from(formats)).mime_type}
            if draw(st.booleans()):
                spec["transmissionMode"] = draw(st.sampled_from(["value", "reference"]))
            outputs[output.identifier] = spec
    if outputs:
        document["outputs"] = outputs
    if draw(st.booleans()):
        document["response"] = draw(st.sampled_from(["raw", "document"]))
    if draw(st.integers(0, 4)) == 0:
        document["subscriber"] = {"successUri": "http://127.0.0.1:1/done"}
    return document


def _containers(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair of a JSON document: the places a mutation can go. Iterative:
    an earlier mutation may have nested the document thousands of levels deep."""
    found: list[tuple[Any, Any]] = []
    pending = [document]
    while pending:
        node = pending.pop()
        keys = node.keys() if isinstance(node, dict) else \
            range(len(node)) if isinstance(node, list) else ()
        for key in keys:
            found.append((node, key))
            pending.append(node[key])
    return found


def _deep(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"value": value}
    return value


@st.composite
def mutate_json(draw: DrawFn, document: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    for _ in range(draw(st.integers(0, 3))):
        places = [(c, k) for c, k in _containers(document)
                  if not (quick and k in SLOW_INPUTS)]
        container, key = draw(st.sampled_from([(document, None), *places]))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap_list",
                                   "wrap_object", "deep", "huge", "surrogate", "stringify"]))
        if key is None or op == "add":
            target = container if isinstance(container, dict) else document
            name = draw(st.sampled_from(JSON_MEMBERS) | any_text)
            target[name] = draw(json_values)
            continue
        old = container[key]
        if op == "delete":
            del container[key]
        elif op == "replace":
            container[key] = draw(json_values)
        elif op == "wrap_list":
            container[key] = [old, old] if draw(st.booleans()) else [old]
        elif op == "wrap_object":
            container[key] = {draw(st.sampled_from(JSON_MEMBERS)): old}
        elif op == "deep":
            container[key] = _deep(old, draw(st.sampled_from([10, 200, 900])),
                                   draw(st.booleans()))
        elif op == "huge":
            container[key] = _huge_int(draw) * draw(st.sampled_from([1, -1]))
        elif op == "surrogate":
            container[key] = draw(json_strings)
        elif op == "stringify":
            container[key] = json.dumps(old) if not isinstance(old, str) else old.upper()
    return document


def dumps(document: Any, ascii: bool = True) -> bytes | None:
    """JSON text of a document, or None when json cannot write it (nesting too deep). Without
    ``ascii`` lone surrogates are written raw, which makes the text invalid UTF-8."""
    try:
        return json.dumps(document, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return None


@st.composite
def ogcapi_body(draw: DrawFn, process: Process, quick: bool = False) -> bytes:
    """An execute request body for a process: mutated JSON, sometimes damaged bytes."""
    document = draw(mutate_json(draw(ogcapi_document(process, quick)), quick))
    data = dumps(document)
    if data is None:
        data = b"[" * 5000 + b"]" * 5000
    op = draw(st.sampled_from(["none", "none", "none", "truncate", "bom", "utf16",
                               "surrogatepass", "bomb", "garbage", "empty"]))
    if op == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif op == "bom":
        data = b"\xef\xbb\xbf" + data
    elif op == "utf16":
        data = data.decode().encode("utf-16")
    elif op == "surrogatepass":  # lone surrogates sent raw: not UTF-8 at all
        data = dumps(document, ascii=False) or data
    elif op == "bomb":
        quote_, piece, count = draw(st.sampled_from([
            (b"", b"[", 100_000), (b"", b'{"inputs":', 50_000), (b"", b"1", 5000),
            (b'"', b"\\u0000", 1000)]))
        data = quote_ + piece * count + quote_
    elif op == "garbage" and not quick:
        data = draw(st.binary(max_size=32))
    elif op == "empty":
        data = b""
    return data


# ---------------------------------------------------------------- the property

REQUEST_TYPES = (models.GetCapabilities, models.DescribeProcess, models.Execute,
                 models.GetStatus, models.GetResult, models.Dismiss)
#: OWS Common gives these two 501 (not implemented), the rest of the client's faults are 4xx
NOT_IMPLEMENTED = {"OperationNotSupported", "OptionNotSupported"}


def client_error(exc: WPSError) -> bool:
    return 400 <= exc.status < 500 or (exc.status == 501 and exc.code in NOT_IMPLEMENTED)


def strings(value: Any) -> list[str]:
    """Every string inside a parsed request (dataclasses, tuples, bytes aside)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [s for name in value.__dataclass_fields__ for s in strings(getattr(value, name))]
    return []


def parses(call: Callable[[], Any], kinds: tuple[type, ...] = REQUEST_TYPES) -> Any:
    """The request model a parser returns, or None for a WPSError of the client's making;
    any other exception propagates and fails the test."""
    try:
        result = call()
    except WPSError as exc:
        assert client_error(exc), f"{exc!r} has status {exc.status}, not a client error"
        assert isinstance(exc.text, str)
        return None
    assert isinstance(result, kinds), result
    for text in strings(result):
        text.encode("utf-8")  # a lone surrogate could never be written into a response
    return result


@budget(4)
@given(wps1_kvp() | random_queries)
def test_wps1_kvp(query: str) -> None:
    parses(lambda: wps1.parse_kvp(query, REGISTRY.get))


@budget(2)
@given(st.data())
def test_wps1_kvp_data_inputs_round_trip(data: st.DataObject) -> None:
    """Unmutated, DataInputs come out as they went in, whatever their values hold once
    encoded: the separators are told apart from escaped ones."""
    process = data.draw(st.sampled_from(ALL_PROCESSES), "process")
    records = data.draw(data_input_records(process, quick=False), "records")
    query = (f"service=WPS&version=1.0.0&request=Execute&identifier={process.identifier}"
             f"&DataInputs={records_text(records)}")
    note(query)
    parsed = wps1.parse_kvp(query, REGISTRY.get)
    assert isinstance(parsed, models.Execute)
    assert [i.identifier for i in parsed.inputs] == [unquote_plus(r[0]) for r in records]
    for given_input, (_, value, attrs) in zip(parsed.inputs, records, strict=True):
        text = unquote_plus(value or "")
        sent = {k.lower(): unquote_plus(v or "") for k, v in attrs}
        got = given_input.value
        if isinstance(got, models.ReferenceData):
            assert got.href == sent["xlink:href"]
        elif isinstance(got, models.LiteralData):
            assert (got.text, got.uom) == (text, sent.get("uom"))
        elif isinstance(got, models.ComplexData):
            assert got.mime_type == sent.get("mimetype")
            expected = base64.b64decode(text) if "encoding" in sent else text.encode()
            assert got.data == expected
        else:
            assert isinstance(got, models.BoundingBoxData)
            numbers = [float(v) for v in text.split(",") if not v.startswith(("EPSG", "http"))]
            assert [*got.bbox.lower, *got.bbox.upper] == numbers


@budget(2)
@given(st.sampled_from(wps2.OPERATIONS), wps2_kvp() | wps1_kvp() | random_queries)
def test_wps2_kvp(operation: str, query: str) -> None:
    # The endpoint hands over the parameters as split_query and unquote_plus leave them.
    params = {k: unquote_plus(v) for k, v in wps1.split_query(query).items()}
    parses(lambda: wps2.parse_kvp(operation, params))


@budget(3)
@given(wps1_xml() | garbage_bytes)
def test_wps1_xml(body: bytes) -> None:
    parses(lambda: wps1.parse_xml_request(body))


@budget(3)
@given(wps2_xml() | wps1_xml())
def test_wps2_xml(body: bytes) -> None:
    root = parses(lambda: parse_xml(body), (etree._Element,))
    if root is not None:
        parses(lambda: wps2.parse_xml_request(root, REGISTRY.get))


def _xml_element_or_none(call: Callable[[], etree._Element]) -> etree._Element | None:
    try:
        return call()
    except WPSError as exc:
        assert client_error(exc), f"{exc!r} has status {exc.status}, not a client error"
        return None


@budget(3)
@given(wps1_xml() | wps2_xml() | garbage_bytes, st.lists(st.integers(0, 10_000), max_size=4))
def test_xml_parser(body: bytes, cuts: list[int]) -> None:
    """parse_xml gives an element or a 400, and the same whether the bytes come whole or in
    chunks (the web layer feeds it the body as it arrives)."""
    whole = _xml_element_or_none(lambda: parse_xml(body))
    bounds = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    chunked = _xml_element_or_none(lambda: parse_xml(iter(chunks)))
    assert (whole is None) == (chunked is None)
    if whole is not None and chunked is not None:
        assert etree.tostring(whole) == etree.tostring(chunked)


@budget(4)
@given(st.data())
def test_ogcapi_execute(data: st.DataObject) -> None:
    process = data.draw(st.sampled_from(ALL_PROCESSES), "process")
    body = data.draw(ogcapi_body(process) | garbage_bytes, "body")
    parsed = parses(lambda: parse_execute(body, process))
    if parsed is not None:
        assert parsed.identifier == process.identifier
        assert all(process.input(i.identifier) is not None for i in parsed.inputs)
