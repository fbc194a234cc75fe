"""PyWPS processes written as the PyWPS 4.8 documentation writes them.

Served unchanged by real PyWPS and by wpsd side by side (test_pywps_side_by_side.py): this
module imports nothing of wpsd. Between them they use every declaration and every part of
the ``(request, response)`` pair that "Coming from PyWPS" in the README says works.
"""

import json
import os
import time
from pathlib import Path

from pywps import (
    FORMATS,
    UOM,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
    configuration,
)
from pywps.app.Common import Metadata
from pywps.app.exceptions import ProcessError
from pywps.inout.literaltypes import AllowedValue, AnyValue
from pywps.inout.outputs import MetaFile, MetaLink, MetaLink4
from pywps.validator.allowed_value import ALLOWEDVALUETYPE, RANGECLOSURETYPE
from pywps.validator.mode import MODE

TEXT_CSV = Format("text/csv", extension=".csv")


# -------------------------------------------------------------- a function and a class


def _say_hello(request, response):
    response.outputs["response"].data = "Hello " + request.inputs["name"][0].data
    response.outputs["response"].uom = UOM("unity")
    return response


say_hello = Process(
    _say_hello,
    identifier="say_hello",
    title="Process Say Hello",
    abstract="Returns a literal string output with Hello plus the inputed name",
    keywords=["hello", "demo"],
    metadata=[Metadata("PyWPS", "https://pywps.org/"),
              Metadata("Documentation", "https://pywps.readthedocs.io/", role="manual")],
    version="1.3.3",
    inputs=[LiteralInput("name", "Input name", data_type="string",
                         abstract="Whom to greet")],
    outputs=[LiteralOutput("response", "Output response", data_type="string")],
    store_supported=True,
    status_supported=True,
)


class UltimateQuestion(Process):
    """The answer, found in three reported steps."""

    def __init__(self):
        inputs = []
        outputs = [LiteralOutput("answer", "Answer to Ultimate Question", data_type="integer")]

        super().__init__(
            self._handler,
            identifier="ultimate_question",
            version="2.0",
            title="Answer to the ultimate question",
            abstract="This process gives the answer to the ultimate question of life, "
                     "the universe, and everything.",
            inputs=inputs,
            outputs=outputs,
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request, response):
        response.update_status("PyWPS Process started.", 0)
        for step in (33, 66):
            time.sleep(0.05)
            response.update_status(f"thinking ({step})", step)
        response.update_status("almost there")  # the percentage stays at 66
        response.outputs["answer"].data = 42
        return response


# -------------------------------------------------------------- literals


class Literals(Process):
    """Every PyWPS literal data type, allowed values, UOMs, defaults and occurrences."""

    def __init__(self):
        inputs = [
            LiteralInput("string", "A string", data_type="string",
                         allowed_values=["alpha", "beta", "gamma"], default="beta",
                         min_occurs=0),
            LiteralInput("integer", "An integer", data_type="integer",
                         allowed_values=[AllowedValue(minval=0, maxval=10)], default=3,
                         min_occurs=0),
            LiteralInput("float", "A float", data_type="float", min_occurs=0,
                         allowed_values=[AllowedValue(allowed_type=ALLOWEDVALUETYPE.RANGE,
                                                      minval=0, maxval=1, spacing=0.25)]),
            LiteralInput("open", "In an open range", data_type="float", min_occurs=0,
                         allowed_values=[AllowedValue(minval=0, maxval=1,
                                                      range_closure=RANGECLOSURETYPE.OPEN)]),
            LiteralInput("boolean", "A boolean", data_type="boolean", default=False,
                         min_occurs=0),
            LiteralInput("positive", "A positive integer", data_type="positiveInteger",
                         min_occurs=0),
            LiteralInput("nonnegative", "A non-negative integer",
                         data_type="nonNegativeInteger", min_occurs=0),
            LiteralInput("uri", "A URI", data_type="anyURI", min_occurs=0),
            LiteralInput("date", "A date", data_type="date", min_occurs=0),
            LiteralInput("time", "A time", data_type="time", min_occurs=0),
            LiteralInput("datetime", "A date and time", data_type="dateTime", min_occurs=0),
            LiteralInput("scale", "A scale", data_type="scale", min_occurs=0),
            LiteralInput("angle", "An angle", data_type="angle", min_occurs=0),
            LiteralInput("anything", "Any value", data_type="string",
                         allowed_values=AnyValue(), min_occurs=0),
            LiteralInput("length", "A length", data_type="float", uoms=["metre", "feet"],
                         default=1.5, min_occurs=0),
            LiteralInput("many", "Up to three integers", data_type="integer", min_occurs=0,
                         max_occurs=3),
            LiteralInput("required", "A required string", data_type="string", min_occurs=1),
        ]
        outputs = [
            LiteralOutput("summary", "What the handler got", data_type="string"),
            LiteralOutput("length", "The length, in metres", data_type="float",
                          uoms=["metre"]),
        ]
        super().__init__(
            self._handler, identifier="literals", title="Literal inputs",
            abstract="Reports the type and value of each literal input it got.",
            inputs=inputs, outputs=outputs, store_supported=True, status_supported=True)

    def _handler(self, request, response):
        got = {}
        for ident, values in sorted(request.inputs.items()):
            got[ident] = [_describe(inpt.data) for inpt in values]
        if "length" in request.inputs:
            length = request.inputs["length"][0]
            # A UOM object when the client gave no unit, the unit's name when it gave one.
            unit = getattr(length.uom, "uom", length.uom)
            response.outputs["length"].data = length.data * (0.3048 if unit == "feet" else 1)
        got["missing"] = request.inputs.get("positive") is None
        got["popped"] = [i.data for i in request.inputs.pop("many", [])]
        got["after_pop"] = "many" in request.inputs
        response.outputs["summary"].data = json.dumps(got, sort_keys=True)
        return response


def _describe(value):
    if hasattr(value, "geturl"):  # PyWPS makes an anyURI a urllib ParseResult
        return ["uri", value.geturl()]
    if hasattr(value, "isoformat"):
        return [type(value).__name__, value.isoformat()]
    return [type(value).__name__, value]


# -------------------------------------------------------------- complex data


class ComplexData(Process):
    """Complex inputs as data, files, streams and references; outputs as data and files."""

    def __init__(self):
        inputs = [
            ComplexInput("features", "Features", supported_formats=[FORMATS.GEOJSON,
                                                                    FORMATS.JSON],
                         mode=MODE.SIMPLE),
            ComplexInput("table", "A table", supported_formats=[TEXT_CSV, FORMATS.TEXT],
                         min_occurs=0, max_occurs=2),
            ComplexInput("blob", "Binary data", supported_formats=[FORMATS.NETCDF],
                         min_occurs=0),
        ]
        outputs = [
            ComplexOutput("count", "Feature count and what the handler saw",
                          supported_formats=[FORMATS.JSON]),
            ComplexOutput("features", "The features again",
                          supported_formats=[FORMATS.GEOJSON, FORMATS.JSON]),
            ComplexOutput("report", "A report written to a file",
                          supported_formats=[FORMATS.TEXT], as_reference=False),
        ]
        super().__init__(
            self._handler, identifier="complex_data", title="Complex data",
            abstract="Counts features, echoes them and writes a report file.",
            inputs=inputs, outputs=outputs, store_supported=True, status_supported=True)

    def _handler(self, request, response):
        features = request.inputs["features"][0]
        collection = json.loads(features.data)
        with open(features.file) as fh:
            from_file = json.load(fh)
        streamed = features.stream.read()
        seen = {
            "count": len(collection["features"]),
            "same_file": from_file == collection,
            "stream": len(streamed) > 0,
            "mime_type": features.data_format.mime_type,
            "file_in_workdir": os.path.dirname(os.path.abspath(features.file))
            == os.path.abspath(self.workdir),
            "url": features.url if features.prop == "url" else None,
            "tables": [len(t.data.splitlines()) for t in request.inputs.get("table", [])],
            "blob": len(request.inputs["blob"][0].data) if "blob" in request.inputs else None,
            "requested": response.outputs["features"].data_format.mime_type,
        }
        response.outputs["count"].data = json.dumps(seen, sort_keys=True)
        # The format the client asked for, or the first supported one, is pre-set.
        response.outputs["features"].data = json.dumps(collection)
        report = Path(self.workdir) / "report.txt"
        report.write_text(f"{seen['count']} features\n")
        response.outputs["report"].file = report
        return response


# -------------------------------------------------------------- bounding boxes


def _expand(request, response):
    box = request.inputs["bbox"][0]
    margin = request.inputs["margin"][0].data
    low, high = box.data[:2], box.data[2:]
    response.outputs["bbox"].data = [low[0] - margin, low[1] - margin,
                                     high[0] + margin, high[1] + margin]
    response.outputs["bbox"].crs = box.crs
    response.outputs["crs"].data = str(box.crs)
    return response


expand_bbox = Process(
    _expand,
    identifier="expand_bbox",
    title="Expand a bounding box",
    inputs=[BoundingBoxInput("bbox", "Bounding box", crss=["epsg:4326", "epsg:3857"],
                             dimensions=2),
            LiteralInput("margin", "Margin", data_type="float", default=1.0, min_occurs=0)],
    outputs=[BoundingBoxOutput("bbox", "Expanded box", crss=["epsg:4326", "epsg:3857"]),
             LiteralOutput("crs", "The CRS the handler got", data_type="string")],
    store_supported=True,
    status_supported=True,
)


# -------------------------------------------------------------- metalinks


class Files(Process):
    """Several files behind one output: a Metalink 4 and a Metalink 3 document."""

    def __init__(self):
        super().__init__(
            self._handler, identifier="files", title="Several text files",
            inputs=[LiteralInput("count", "How many files", data_type="integer", default=2,
                                 allowed_values=[AllowedValue(minval=1, maxval=5)],
                                 min_occurs=0)],
            outputs=[ComplexOutput("output", "Metalink 4 of the files",
                                   supported_formats=[FORMATS.META4]),
                     ComplexOutput("output3", "Metalink 3 of the files",
                                   supported_formats=[FORMATS.METALINK])],
            store_supported=True, status_supported=True)

    def _handler(self, request, response):
        ml4 = MetaLink4("test-ml-4", "MetaLink with links to text files.",
                        workdir=self.workdir)
        ml3 = MetaLink("test-ml-3", "MetaLink with links to text files.",
                       workdir=self.workdir)
        for i in range(request.inputs["count"][0].data):
            for metalink in (ml4, ml3):
                mf = MetaFile(f"Text file {i}", f"Text file {i}", fmt=FORMATS.TEXT)
                mf.data = f"Text file {i}\n"
                metalink.append(mf)
        response.outputs["output"].data = ml4.xml
        response.outputs["output3"].data = ml3.xml
        return response


# -------------------------------------------------------------- progress, state, errors


class Sleep(Process):
    """Reports progress while it sleeps."""

    def __init__(self):
        super().__init__(
            self._handler, identifier="sleep", title="Sleep",
            inputs=[LiteralInput("delay", "Seconds", data_type="float", default=0.5,
                                 min_occurs=0)],
            outputs=[LiteralOutput("sleep_output", "Sleep output", data_type="string")],
            store_supported=True, status_supported=True)

    def _handler(self, request, response):
        delay = request.inputs["delay"][0].data
        for percent in (25, 50, 75):
            response.update_status(f"sleeping: {percent}%", percent)
            time.sleep(delay / 4)
        response.outputs["sleep_output"].data = "done sleeping"
        return response


class Stateful(Process):
    """Keeps state on self: every execution must start from the declared process."""

    def __init__(self):
        self.runs = 0
        super().__init__(
            self._handler, identifier="stateful", title="State on self",
            outputs=[LiteralOutput("runs", "Runs this object has seen", data_type="integer"),
                     LiteralOutput("workdir", "Its working directory", data_type="string")],
            store_supported=True, status_supported=True)

    def _handler(self, request, response):
        self.runs += 1
        marker = Path(self.workdir) / "marker"
        if marker.exists():
            raise RuntimeError("the working directory was used before")
        marker.write_text("here")
        response.outputs["runs"].data = self.runs
        response.outputs["workdir"].data = self.workdir
        return response


def _fail(request, response):
    how = request.inputs["how"][0].data
    if how == "process_error":
        raise ProcessError("The input value is out of range: try between 1 and 10.")
    raise ValueError("secret internal detail 1234")


fail = Process(
    _fail,
    identifier="fail",
    title="Fails on purpose",
    inputs=[LiteralInput("how", "How to fail", data_type="string",
                         allowed_values=["process_error", "exception"])],
    outputs=[LiteralOutput("never", "Never produced", data_type="string")],
    store_supported=True,
    status_supported=True,
)


def _sync_only(request, response):
    response.outputs["out"].data = "synchronous"
    return response


sync_only = Process(
    _sync_only,
    identifier="sync_only",
    title="Synchronous only (store_supported left False)",
    outputs=[LiteralOutput("out", "Out", data_type="string")],
)


def _configured(request, response):
    # Birdhouse processes keep settings of their own in pywps.cfg.
    greeting = configuration.get_config_value("wpsd_test", "greeting")
    response.outputs["greeting"].data = greeting or "not configured"
    return response


configured = Process(
    _configured,
    identifier="configured",
    title="Reads pywps.cfg",
    outputs=[LiteralOutput("greeting", "A setting of the process", data_type="string")],
)


processes = [
    say_hello,
    UltimateQuestion(),
    Literals(),
    ComplexData(),
    expand_bbox,
    Files(),
    Sleep(),
    Stateful(),
    fail,
    sync_only,
    configured,
]
