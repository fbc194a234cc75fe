"""The wpsd demo: a handful of processes served at http://localhost:5000/wps.

    python3 demo.py [--host 127.0.0.1] [--port 5000] [--debug]

The same processes can be served by any WSGI server: ``gunicorn 'demo:create_demo_app()'``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
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
from wpsd.exceptions import InvalidParameterValue, WrongInputData
from wpsd.formats import GEOJSON, JSON, TEXT, XML


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


def _geometries(value: ComplexValue) -> list[Any]:
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
                             "FeatureCollection, a Feature or a geometry", "features") from None


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
             feature_count, echo, n52_echo]


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
    from wpsd.web.app import serving_on

    settings = load_settings(None, os.environ)
    configure_logging(settings.log_format)
    app = create_demo_app(serving_on(settings, args.host))
    print(f"wpsd demo: http://{args.host}:{args.port}/wps?service=WPS&request=GetCapabilities")
    app.run(host=args.host, port=args.port, debug=args.debug, threaded=True)


if __name__ == "__main__":
    main()
