"""The wpsd demo: a handful of processes served at http://localhost:5000/wps.

    python3 demo.py [--host 127.0.0.1] [--port 5000] [--debug]

The same processes can be served by any WSGI server: ``gunicorn 'demo:create_demo_app()'``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import time
from collections.abc import Iterator
from typing import Any

try:
    import wpsd  # noqa: F401 - only to say what to do when it is missing
except ModuleNotFoundError as missing:
    if missing.name != "wpsd":
        raise
    raise SystemExit(
        "wpsd is not installed for this Python. Run `make demo` (it makes .venv, installs wpsd "
        "and starts this demo), or `pip install -e '.[demo]'` and then `python3 demo.py`."
    ) from None

from lxml import etree
from lxml.builder import ElementMaker

from wpsd import (
    AllowedValues,
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    ComplexValue,
    ExecutionContext,
    LiteralInput,
    LiteralOutput,
    Process,
    Range,
    Settings,
    load_settings,
    process,
)
from wpsd.exceptions import InvalidParameterValue, WPSError, WrongInputData
from wpsd.formats import GEOJSON, JSON, TEXT, XML, Format
from wpsd.protocol.xml import parse_xml


@process(
    "say_hello",
    "Process Say Hello",
    abstract="Returns a literal string output with Hello plus the inputed name",
    keywords=["hello", "demo"],
    inputs=[LiteralInput("name", "Input name", data_type="string")],
    outputs=[LiteralOutput("response", "Output response", data_type="string")],
)
def say_hello(name: str) -> dict[str, Any]:
    return {"response": f"Hello {name}"}


@process(
    "ultimate_question",
    "Answer to the Ultimate Question",
    abstract="The answer to the ultimate question of life, the universe and everything",
    outputs=[LiteralOutput("outvalue", "Output Value", data_type="integer")],
)
def ultimate_question(context: ExecutionContext) -> dict[str, Any]:
    context.report_progress(50, "thinking for seven and a half million years")
    return {"outvalue": 42}


@process(
    "sleep",
    "Sleep Process",
    abstract="Waits for the given number of seconds, reporting its progress",
    inputs=[
        LiteralInput(
            "delay", "Delay between every update", data_type="float", uoms=["second"],
            allowed_values=AllowedValues(ranges=[Range(0, 600)]), default=2.0, min_occurs=0,
        )
    ],
    outputs=[LiteralOutput("sleep_output", "Sleep Output", data_type="string")],
)
def sleep(delay: float, context: ExecutionContext) -> dict[str, Any]:
    steps = 10
    for step in range(steps):
        context.report_progress(step * 100 / steps, f"slept {step * delay / steps:.1f} s")
        time.sleep(delay / steps)
    return {"sleep_output": "done sleeping"}


@process(
    "expand_bbox",
    "Expand a bounding box",
    abstract="Grows a bounding box by a margin on every side",
    inputs=[
        BoundingBoxInput("bbox", "Bounding box", crss=["EPSG:4326", "EPSG:3857"]),
        LiteralInput("margin", "Margin", data_type="double", default=0.0, min_occurs=0),
    ],
    outputs=[BoundingBoxOutput("bbox", "Expanded bounding box", crss=["EPSG:4326", "EPSG:3857"])],
)
def expand_bbox(bbox: BoundingBox, margin: float) -> dict[str, Any]:
    return {
        "bbox": BoundingBox(
            tuple(v - margin for v in bbox.lower), tuple(v + margin for v in bbox.upper), bbox.crs
        )
    }


def _geometries(value: ComplexValue, locator: str = "features") -> list[Any]:
    """The shapely geometries of a GeoJSON document: a FeatureCollection, Feature or geometry."""
    from shapely.geometry import shape

    try:
        doc = value.json()
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "FeatureCollection":
            return [shape(f["geometry"]) for f in doc["features"] if f.get("geometry")]
        if kind == "Feature":
            return [shape(doc["geometry"])] if doc.get("geometry") else []
        return [shape(doc)]
    except Exception:  # whatever the document lacks, the client sent it
        raise WrongInputData(f"Input {value.name.rsplit('_', 1)[0]!r} is not valid GeoJSON: a "
                             "FeatureCollection, a Feature or a geometry", locator) from None


def _collection(geometries: list[Any]) -> dict[str, Any]:
    from shapely.geometry import mapping

    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": mapping(g)} for g in geometries
        ],
    }


_FEATURES = ComplexInput(
    "features", "Features", abstract="GeoJSON features, a feature or a geometry",
    formats=[GEOJSON, JSON], max_megabytes=16,
)


@process(
    "buffer",
    "Buffer",
    abstract="Buffers every geometry by a distance (in the units of its coordinates); "
    "ask for the output asReference to get a link to a GeoJSON file",
    inputs=[_FEATURES, LiteralInput("distance", "Buffer distance", data_type="double")],
    outputs=[ComplexOutput("buffered", "Buffered features", formats=[GEOJSON, JSON])],
)
def buffer(features: ComplexValue, distance: float) -> dict[str, Any]:
    if not math.isfinite(distance):
        raise InvalidParameterValue("The buffer distance must be a finite number", "distance")
    return {"buffered": _collection([g.buffer(distance) for g in _geometries(features)])}


@process(
    "centroids",
    "Centroids",
    abstract="The centroid of every geometry",
    inputs=[_FEATURES],
    outputs=[ComplexOutput("centroids", "Centroids", formats=[GEOJSON, JSON])],
)
def centroids(features: ComplexValue) -> dict[str, Any]:
    return {"centroids": _collection([g.centroid for g in _geometries(features)])}


@process(
    "area",
    "Area",
    abstract="The total area of the geometries (in squared units of their coordinates)",
    inputs=[_FEATURES],
    outputs=[LiteralOutput("area", "Area", data_type="double")],
)
def area(features: ComplexValue) -> dict[str, Any]:
    return {"area": sum(g.area for g in _geometries(features))}


@process(
    "feature_count",
    "Feature count",
    abstract="The number of features",
    inputs=[_FEATURES],
    outputs=[LiteralOutput("count", "Number of features", data_type="integer")],
)
def feature_count(features: ComplexValue) -> dict[str, Any]:
    return {"count": len(_geometries(features))}


# ---------------------------------------------------------------- GML

GML32_NS = "http://www.opengis.net/gml/3.2"
#: GML 3.2, and the namespace GML 2 and 3.1 share: both are read, 3.2 is written
_GML_NAMESPACES = (GML32_NS, "http://www.opengis.net/gml")
GML32 = Format("application/gml+xml; version=3.2",
               schema="http://schemas.opengis.net/gml/3.2.1/gml.xsd", extension=".gml")
_GML_GEOMETRIES = frozenset({"Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                             "MultiLineString", "MultiCurve", "MultiPolygon", "MultiSurface",
                             "MultiGeometry"})
#: EPSG:4326 and the datums that differ from it by a metre or two, in their URN or URI
#: spelling (urn:ogc:def:crs:EPSG::4326, http://www.opengis.net/def/crs/EPSG/0/4326): latitude first
_LAT_FIRST = re.compile(r"^(?:urn:(?:x-)?ogc:def:crs:EPSG:(?:[^:]*:)?"
                        r"|https?://www\.opengis\.net/def/crs/EPSG/[^/]+/)(4326|4258|4269)$", re.I)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_G = ElementMaker(namespace=GML32_NS, nsmap={"gml": GML32_NS})
_GML_ID = f"{{{GML32_NS}}}id"


def _gml_name(element: Any) -> str | None:
    """The local name of an element of either GML namespace (None for anything else)."""
    if not isinstance(element.tag, str):  # comments and processing instructions
        return None
    qname = etree.QName(element)
    return qname.localname if qname.namespace in _GML_NAMESPACES else None


def _lat_first(srs_name: str | None) -> bool:
    """Whether a CRS name means coordinates written latitude first.

    The URN and URI spellings follow EPSG: latitude first. The short ``EPSG:4326`` and
    ``http://www.opengis.net/gml/srs/epsg.xml#4326`` are longitude first, as GeoServer and GDAL
    write them (the habit of WFS 1.0); so are CRS84 and a geometry without a CRS.
    """
    return bool(_LAT_FIRST.match((srs_name or "").strip()))


def _numbers(text: str | None) -> list[float]:
    values = [float(part) for part in (text or "").split()]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("coordinates must be finite numbers")
    return values


def _pairs(numbers: list[float], step: int) -> list[tuple[float, float]]:
    """The (x, y) of positions of `step` numbers each; heights are dropped."""
    if step < 2 or len(numbers) % step:
        raise ValueError("the numbers do not make whole positions")
    return [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), step)]


def _positions(element: Any, dimension: int) -> list[tuple[float, float]]:
    """The positions a GML element lists: pos, posList, or GML 2's coordinates and coord."""
    points: list[tuple[float, float]] = []
    for child in element:
        name = _gml_name(child)
        if name == "posList":
            points += _pairs(_numbers(child.text), int(child.get("srsDimension") or dimension))
        elif name == "pos":
            numbers = _numbers(child.text)
            points += _pairs(numbers[:2], 2)
        elif name == "coordinates":
            # GML 2: tuples apart by `ts`, the numbers of a tuple by `cs`
            decimal, cs, ts = child.get("decimal", "."), child.get("cs", ","), child.get("ts", " ")
            text = (child.text or "").strip()
            tuples = text.split() if ts.isspace() else text.split(ts)
            for part in filter(None, (t.strip() for t in tuples)):
                numbers = _numbers(" ".join(n.replace(decimal, ".") for n in part.split(cs)))
                points += _pairs(numbers[:2], 2)
        elif name == "coord":
            axes = [c for c in child if _gml_name(c) in ("X", "Y")]
            points += _pairs(_numbers(" ".join(c.text or "" for c in axes)), 2)
    return points


def _ring(boundary: Any, dimension: int) -> list[tuple[float, float]]:
    rings = [r for r in boundary if _gml_name(r) == "LinearRing"]
    if len(rings) != 1:
        raise ValueError("a polygon boundary needs one LinearRing")
    return _positions(rings[0], dimension)


def _shape(element: Any, dimension: int) -> Any:
    """A shapely geometry of a GML geometry element, in the axis order the GML has."""
    from shapely.geometry import (
        GeometryCollection,
        LineString,
        MultiLineString,
        MultiPoint,
        MultiPolygon,
        Point,
        Polygon,
    )

    name = _gml_name(element)
    dimension = int(element.get("srsDimension") or dimension)
    if name == "Point":
        (position,) = _positions(element, dimension)
        return Point(position)
    if name in ("LineString", "LinearRing"):
        return LineString(_positions(element, dimension))
    if name == "Polygon":
        outer = [b for b in element if _gml_name(b) in ("exterior", "outerBoundaryIs")]
        inner = [b for b in element if _gml_name(b) in ("interior", "innerBoundaryIs")]
        if len(outer) != 1:
            raise ValueError("a polygon needs one exterior")
        return Polygon(_ring(outer[0], dimension), [_ring(b, dimension) for b in inner])
    # an aggregate: its members sit in member elements (pointMember, surfaceMembers, ...)
    parts = [_shape(member, dimension) for wrapper in element if _gml_name(wrapper)
             for member in wrapper if _gml_name(member) in _GML_GEOMETRIES]
    if name == "MultiPoint":
        return MultiPoint(parts)
    if name in ("MultiLineString", "MultiCurve"):
        return MultiLineString(parts)
    if name in ("MultiPolygon", "MultiSurface"):
        return MultiPolygon(parts)
    return GeometryCollection(parts)


def _outermost(element: Any) -> Iterator[Any]:
    """The geometries of a document that are not parts of another one (nor bounding boxes)."""
    if _gml_name(element) in _GML_GEOMETRIES:
        yield element
        return
    for child in element:
        if _gml_name(child) != "boundedBy":
            yield from _outermost(child)


def _inherited(element: Any, attribute: str) -> str | None:
    """An attribute of a geometry, or of the nearest element around it that has it (GML lets
    a Multi* or a feature collection name the CRS of its parts)."""
    for holder in (element, *element.iterancestors()):
        if holder.get(attribute):
            return str(holder.get(attribute))
    return None


def _gml_geometries(value: ComplexValue, locator: str) -> list[tuple[Any, str | None]]:
    """Every outermost GML geometry of a document, with its srsName.

    A single geometry, a GML 2/3.1 FeatureCollection or a WFS answer: whatever holds
    geometries. Coordinates keep the order the document writes them in.
    """
    try:
        root = parse_xml(value.data)
    except WPSError as exc:
        raise WrongInputData(f"Input {locator!r} is not GML: {exc.text}", locator) from None
    found = []
    for element in _outermost(root):
        try:
            dimension = int(_inherited(element, "srsDimension") or 2)
            found.append((_shape(element, dimension), _inherited(element, "srsName")))
        except Exception:  # whatever is wrong with its coordinates, the client sent them
            raise WrongInputData(f"Input {locator!r}: the gml:{_gml_name(element)} on line "
                                 f"{element.sourceline} is not a geometry that can be read",
                                 locator) from None
    if not found:
        raise WrongInputData(f"Input {locator!r} holds no GML geometry (a Point, LineString, "
                             "Polygon or Multi* of them)", locator)
    return found


def _gml_element(geometry: Any, ids: Iterator[str]) -> Any:
    """The GML 3.2 element of a shapely geometry; ``ids`` gives the gml:id each one needs."""

    def positions(coords: Any) -> str:
        return " ".join(repr(float(v)) for xy in coords for v in xy[:2])

    def ring(coords: Any) -> Any:
        return _G.LinearRing(_G.posList(positions(coords)))

    ident = {_GML_ID: next(ids)}
    kind = geometry.geom_type
    if kind == "Point":
        return _G.Point(ident, *([] if geometry.is_empty else [_G.pos(positions(geometry.coords))]))
    if kind in ("LineString", "LinearRing"):
        return _G.LineString(ident, _G.posList(positions(geometry.coords)))
    if kind == "Polygon":
        polygon = _G.Polygon(ident)  # an empty one (a buffer that shrank away) has no exterior
        if not geometry.is_empty:
            polygon.append(_G.exterior(ring(geometry.exterior.coords)))
            for hole in geometry.interiors:
                polygon.append(_G.interior(ring(hole.coords)))
        return polygon
    aggregate, member = {"MultiPoint": ("MultiPoint", "pointMember"),
                         "MultiLineString": ("MultiCurve", "curveMember"),
                         "MultiPolygon": ("MultiSurface", "surfaceMember"),
                         }.get(kind, ("MultiGeometry", "geometryMember"))
    element = getattr(_G, aggregate)(ident)
    for part in geometry.geoms:
        element.append(getattr(_G, member)(_gml_element(part, ids)))
    return element


def _gml_document(shapes: list[tuple[Any, str | None]]) -> bytes:
    """GML 3.2 of geometries: one geometry, or a MultiGeometry of several, in their CRSs."""
    ids = (f"g{n}" for n in itertools.count(1))
    names = {srs for _, srs in shapes}
    shared = names.pop() if len(names) == 1 else None
    if len(shapes) == 1:
        root = _gml_element(shapes[0][0], ids)
    else:
        root = _G.MultiGeometry({_GML_ID: next(ids)})
        for geometry, srs in shapes:
            member = _gml_element(geometry, ids)
            if srs and not shared:
                member.set("srsName", srs)
            root.append(_G.geometryMember(member))
    if shared:
        root.set("srsName", shared)
    return bytes(etree.tostring(root, encoding="utf-8", pretty_print=True))


def _lon_lat(geometry: Any, srs_name: str | None) -> Any:
    """The geometry with longitude first, as GeoJSON has it."""
    if not _lat_first(srs_name):
        return geometry
    import shapely

    return shapely.transform(geometry, lambda coords: coords[:, ::-1])


@process(
    "gml_buffer",
    "Buffer (GML)",
    abstract="Buffers a GML geometry, or every geometry of a GML document, by a distance in the "
    "units of its coordinates; answers GML 3.2 in the geometry's CRS and axis order, or "
    "GeoJSON (longitude first). Takes GeoJSON too.",
    inputs=[
        ComplexInput("geometry", "Geometry",
                     abstract="GML 3.2 (or 3.1/2): a geometry or a document holding geometries",
                     formats=[GML32, GEOJSON], max_megabytes=16),
        LiteralInput("distance", "Buffer distance", data_type="double"),
    ],
    outputs=[ComplexOutput("buffered", "Buffered geometry", formats=[GML32, GEOJSON])],
)
def gml_buffer(geometry: ComplexValue, distance: float,
               context: ExecutionContext) -> dict[str, Any]:
    if not math.isfinite(distance):
        raise InvalidParameterValue("The buffer distance must be a finite number", "distance")
    # The content decides, not the media type: GML starts with "<", GeoJSON never does.
    if geometry.data.lstrip()[:1] == b"<":
        shapes = _gml_geometries(geometry, "geometry")
    else:
        shapes = [(g, CRS84) for g in _geometries(geometry, "geometry")]  # RFC 7946
    buffered = [(g.buffer(distance), srs) for g, srs in shapes]
    chosen = context.output_formats.get("buffered")
    if chosen is not None and chosen.is_json:
        return {"buffered": _collection([_lon_lat(g, srs) for g, srs in buffered])}
    return {"buffered": _gml_document(buffered)}


_ECHO_FORMATS = [XML, JSON, TEXT]
_ECHO_CRSS = ["EPSG:4326", "EPSG:3857", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"]


def _echo_process(identifier: str, names: tuple[str, str, str], outputs: tuple[str, str, str],
                  abstract: str) -> Any:
    """An echo process: each output returns the input of the same kind unchanged."""
    literal, document, bbox = names

    def handler(pause: int | None = None, **given: Any) -> dict[str, Any]:
        if pause:
            time.sleep(pause)
        return dict(zip(outputs, (given.get(literal), given.get(document), given.get(bbox)),
                        strict=True))

    return Process(
        handler, identifier, "Echo", abstract=abstract,
        inputs=[
            LiteralInput(literal, "Literal input", data_type="string", min_occurs=0),
            ComplexInput(document, "Complex input", formats=_ECHO_FORMATS, min_occurs=0),
            BoundingBoxInput(bbox, "Bounding box input", crss=_ECHO_CRSS, min_occurs=0),
            LiteralInput("pause", "Seconds to wait before answering", data_type="integer",
                         min_occurs=0,
                         allowed_values=AllowedValues(ranges=[Range(0, 60)])),
        ],
        outputs=[
            LiteralOutput(outputs[0], "Literal output", data_type="string"),
            ComplexOutput(outputs[1], "Complex output", formats=_ECHO_FORMATS),
            BoundingBoxOutput(outputs[2], "Bounding box output", crss=_ECHO_CRSS),
        ],
    )


# The echo process of the OGC CITE test suites: every output has the id of its input (OGC API
# tests ask for the output named like the first input) and `pause` delays the answer.
echo = _echo_process("echo", ("message", "document", "bbox"), ("message", "document", "bbox"),
                     "Returns its inputs unchanged, after `pause` seconds")
# The WPS 2.0 suite sends one request (A.5.8) to this identifier with these ids, unmodified.
n52_echo = _echo_process(
    "org.n52.javaps.test.EchoProcess", ("literalInput", "complexInput", "boundingBoxInput"),
    ("literalOutput", "complexOutput", "boundingBoxOutput"),
    "Returns its inputs unchanged (the ids of 52North's test echo process)")

processes = [say_hello, ultimate_question, sleep, expand_bbox, buffer, centroids, area,
             feature_count, gml_buffer, echo, n52_echo]


def create_demo_app(settings: Settings | None = None) -> Any:
    """The demo WSGI application, for `python3 demo.py` and for WSGI servers.

    Without explicit settings, ``WPSD_*`` environment variables apply (see the README).
    """
    from wpsd import create_app  # here, not at the top: the worker imports this module too

    return create_app(settings or load_settings(None, os.environ), processes=processes)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the wpsd demo processes")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    from wpsd.logs import configure_logging
    from wpsd.web.app import run_development_server, serving_on

    configure_logging()  # first: what reading the settings warns of is logged as the rest
    settings = load_settings(None, os.environ)
    configure_logging(settings.log_format)
    app = create_demo_app(serving_on(settings, args.host))
    print(f"wpsd demo: http://{args.host}:{args.port}/wps?service=WPS&request=GetCapabilities")
    run_development_server(app, args.host, args.port, args.debug)


if __name__ == "__main__":
    main()
