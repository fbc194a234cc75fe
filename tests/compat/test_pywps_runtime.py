"""PyWPS handlers run by wpsd's execution path (wpsd.compat.pywps.runtime).

Each test runs a process of pywps_processes.py (or one defined here) through
``wpsd.core.execution.execute``, the function every worker calls, with a file storage and a
fake fetcher for references.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from pywps import FORMATS, ComplexInput, ComplexOutput, LiteralInput, LiteralOutput
from pywps import Process as PyWPSProcess
from pywps.validator.mode import MODE

from wpsd.backends.filesystem import FileStorage
from wpsd.compat.pywps import from_pywps
from wpsd.core.execution import Environment, ExecutionRequest, Outcome, execute
from wpsd.datatypes import BoundingBox
from wpsd.processes.registry import load_processes
from wpsd.protocol.requests import (
    BoundingBoxData,
    ComplexData,
    DataInput,
    LiteralData,
    OutputRequest,
    ReferenceData,
)

MODULE = Path(__file__).with_name("pywps_processes.py")
OUTPUT_URL = "http://wps.example/wps/outputs/"
FEATURES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [3, 4]}},
]}


@pytest.fixture(scope="module")
def processes() -> dict[str, Any]:
    return {p.identifier: p for p in load_processes(str(MODULE))}


class Runner:
    def __init__(self, tmp: Path, processes: dict[str, Any]) -> None:
        self.tmp, self.processes = tmp, processes
        self.served: dict[str, bytes] = {}
        self.progress: list[tuple[int, str]] = []
        self.storage = FileStorage(tmp / "outputs")
        self.env = Environment(tmp / "work", self.storage, self._fetch)

    def _fetch(self, reference: ReferenceData, identifier: str, max_bytes: int) -> bytes:
        return self.served[reference.href]

    def __call__(self, process: Any, inputs: dict[str, Any] | None = None,
                 outputs: tuple[OutputRequest, ...] = (), job_id: str = "job-1") -> Outcome:
        if isinstance(process, str):
            process = self.processes[process]
        data = []
        for ident, values in (inputs or {}).items():
            for value in values if isinstance(values, list) else [values]:
                data.append(DataInput(ident, LiteralData(value) if isinstance(value, str)
                                      else value))
        request = ExecutionRequest(job_id, process.identifier, tuple(data), outputs,
                                   output_url=OUTPUT_URL)
        return execute(process, request, self.env,
                       lambda percent, message: self.progress.append((percent, message)))

    def outputs(self, outcome: Outcome) -> dict[str, Any]:
        assert outcome.error is None, outcome.error
        found: dict[str, Any] = {}
        for o in outcome.outputs:
            if o.key is not None:
                stored = self.storage.open(o.key)
                assert stored is not None
                with stored.open() as fh:
                    found[o.identifier] = ("stored", o.key, fh.read())
            else:
                found[o.identifier] = o.text if o.text is not None else (o.data or o.bbox)
        return found


@pytest.fixture
def run(tmp_path: Path, processes: dict[str, Any]) -> Runner:
    return Runner(tmp_path, processes)


def _process(handler, inputs=(), outputs=None):  # type: ignore[no-untyped-def]
    return from_pywps(PyWPSProcess(handler, "p", "P", inputs=list(inputs),
                                   outputs=outputs or [LiteralOutput("out", "Out")]))


# ---------------------------------------------------------------- literals


def test_say_hello(run):
    assert run.outputs(run("say_hello", {"name": "PyWPS"})) == {"response": "Hello PyWPS"}


def test_literal_inputs_arrive_typed_with_defaults_filled_in(run):
    outcome = run("literals", {
        "required": "x", "uri": "http://a.b/c?d=1", "date": "2020-01-02", "time": "12:30:00",
        "datetime": "2020-01-02T03:04:05Z", "many": ["1", "2"], "angle": "370",
        "scale": "0.5", "boolean": "true", "integer": "7", "float": "0.75", "open": "0.5",
        "positive": "4", "nonnegative": "0", "anything": "whatever", "string": "gamma",
        "length": LiteralData("10", uom="feet")})
    outputs = run.outputs(outcome)
    assert json.loads(outputs["summary"]) == {
        "after_pop": False, "angle": [["float", 10.0]], "anything": [["str", "whatever"]],
        "boolean": [["bool", True]], "date": [["date", "2020-01-02"]],
        "datetime": [["datetime", "2020-01-02T03:04:05+00:00"]], "float": [["float", 0.75]],
        "integer": [["int", 7]], "length": [["float", 10.0]], "many": [["int", 1], ["int", 2]],
        "missing": False, "nonnegative": [["int", 0]], "open": [["float", 0.5]],
        "popped": [1, 2], "positive": [["int", 4]], "required": [["str", "x"]],
        "scale": [["float", 0.5]], "string": [["str", "gamma"]], "time": [["time", "12:30:00"]],
        "uri": [["uri", "http://a.b/c?d=1"]]}
    assert float(outputs["length"]) == pytest.approx(3.048)
    # Left out: inputs with a default are there with it, the others are not.
    defaults = json.loads(run.outputs(run("literals", {"required": "y"}))["summary"])
    assert defaults == {"after_pop": False, "boolean": [["bool", False]],
                        "integer": [["int", 3]], "length": [["float", 1.5]], "missing": True,
                        "popped": [], "required": [["str", "y"]], "string": [["str", "beta"]]}


def test_request_inputs_are_deques_of_pywps_inputs(run):
    seen: dict[str, Any] = {}

    def handler(request, response):  # type: ignore[no-untyped-def]
        seen.update(request.inputs)
        seen["uom"] = request.inputs["n"][0].uom
        seen["request"] = request
        response.outputs["out"].data = "ok"

    process = _process(handler, [LiteralInput("n", "N", data_type="integer", max_occurs=2,
                                              uoms=["metre", "feet"])])
    run(process, {"n": [LiteralData("1", uom="feet"), LiteralData("2", uom="feet")]})
    assert isinstance(seen["n"], deque) and seen["n"].maxlen == 2
    assert [type(i) for i in seen["n"]] == [LiteralInput, LiteralInput]
    assert [i.data for i in seen["n"]] == [1, 2]
    # The unit is PyWPS's UOM, which also equals its name (PyWPS hands over either).
    assert seen["uom"] == "feet" and seen["uom"].uom == "feet"
    assert (seen["request"].identifier, seen["request"].operation) == ("p", "execute")


def test_update_status_keeps_the_percentage_when_it_is_left_out(run):
    run.outputs(run("ultimate_question"))
    assert run.progress == [(0, "PyWPS Process started."), (33, "thinking (33)"),
                            (66, "thinking (66)"), (66, "almost there")]


# ---------------------------------------------------------------- complex data


def test_complex_inputs_inline_and_outputs_as_data_and_files(run):
    features = ComplexData(json.dumps(FEATURES).encode(), "application/geo+json")
    table = ComplexData(b"a,b\n1,2\n3,4\n", "text/csv")
    blob = ComplexData(b"\x00\x01binary", "application/x-netcdf", "base64")
    outputs = run.outputs(run("complex_data", {"features": features, "table": [table, table],
                                               "blob": blob}))
    assert json.loads(outputs["count"]) == {
        "blob": 8, "count": 2, "file_in_workdir": True, "mime_type": "application/geo+json",
        "requested": "application/geo+json", "same_file": True, "stream": True,
        "tables": [3, 3], "url": None}
    assert json.loads(outputs["features"]) == FEATURES
    assert outputs["report"] == b"2 features\n"


def test_a_reference_input_has_its_url_and_a_local_file(run):
    run.served["http://data.example/some/points.json"] = json.dumps(FEATURES).encode()
    reference = ReferenceData("http://data.example/some/points.json", mime_type="application/json")
    outcome = run("complex_data", {"features": reference},
                  outputs=(OutputRequest("count"), OutputRequest("features", mime_type="application/json")))
    seen = json.loads(run.outputs(outcome)["count"])
    assert seen["url"] == "http://data.example/some/points.json"
    assert (seen["mime_type"], seen["count"], seen["file_in_workdir"]) == (
        "application/json", 2, True)
    # The output's format is pre-set to the one the client asked for.
    assert seen["requested"] == "application/json"


def test_outputs_by_reference_are_copied_to_the_output_storage(run):
    features = ComplexData(json.dumps(FEATURES).encode(), "application/geo+json")
    outcome = run("complex_data", {"features": features}, outputs=(
        OutputRequest("features", as_reference=True), OutputRequest("report", as_reference=True)),
        job_id="job-ref")
    outputs = run.outputs(outcome)
    assert outputs["report"] == ("stored", "job-ref/report.txt", b"2 features\n")
    assert outputs["features"][1] == "job-ref/features.geojson"
    assert json.loads(outputs["features"][2]) == FEATURES


def test_outputs_declared_as_reference_are_so_by_default(run):
    def handler(request, response):  # type: ignore[no-untyped-def]
        response.outputs["big"].data = b"\x89NETCDF"
        response.outputs["small"].data = "x"

    process = _process(handler, outputs=[
        ComplexOutput("big", "Big", supported_formats=[FORMATS.NETCDF], as_reference=True),
        LiteralOutput("small", "Small")])
    outputs = run.outputs(run(process, job_id="job-default"))
    assert outputs == {"big": ("stored", "job-default/big.nc", b"\x89NETCDF"), "small": "x"}
    # ... unless the client asks for it by value
    assert run.outputs(run(process, outputs=(OutputRequest("big"),))) == {"big": b"\x89NETCDF"}


def test_the_handler_may_choose_the_output_format_and_stream_it(run, tmp_path):
    import io

    def handler(request, response):  # type: ignore[no-untyped-def]
        response.outputs["out"].data_format = FORMATS.JSON
        response.outputs["out"].stream = io.StringIO('{"a": 1}')
        source = tmp_path / "elsewhere.txt"
        source.write_text("from a file URL")
        response.outputs["linked"].url = source.as_uri()

    process = _process(handler, outputs=[
        ComplexOutput("out", "Out", supported_formats=[FORMATS.GEOJSON, FORMATS.JSON]),
        ComplexOutput("linked", "Linked", supported_formats=[FORMATS.TEXT])])
    outcome = run(process)
    produced = {o.identifier: o for o in outcome.outputs}
    assert produced["out"].data == b'{"a": 1}'
    assert produced["out"].format is not None
    assert produced["out"].format.mime_type == "application/json"
    assert produced["linked"].data == b"from a file URL"


def test_mode_validators_check_inputs(run):
    def handler(request, response):  # type: ignore[no-untyped-def]
        response.outputs["out"].data = "valid"

    process = _process(handler, [ComplexInput("doc", "Doc", supported_formats=[FORMATS.JSON],
                                              mode=MODE.STRICT)])
    assert run.outputs(run(process, {"doc": ComplexData(b'{"a": 1}', "application/json")})) == {
        "out": "valid"}
    outcome = run(process, {"doc": ComplexData(b"{not json", "application/json")})
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.locator) == ("InvalidParameterValue", "doc")


def test_complex_defaults_are_filled_in_as_pywps_does(run):
    seen = {}

    def handler(request, response):  # type: ignore[no-untyped-def]
        seen["text"] = request.inputs["text"][0].data
        response.outputs["out"].data = "ok"

    process = _process(handler, [ComplexInput("text", "Text", supported_formats=[FORMATS.TEXT],
                                              default="the default", min_occurs=0)])
    run.outputs(run(process))
    assert seen == {"text": "the default"}


# ---------------------------------------------------------------- bounding boxes


def test_bounding_boxes_keep_their_axis_order_and_crs(run):
    box = BoundingBoxData(BoundingBox((1.0, 2.0), (3.0, 4.0), "urn:ogc:def:crs:EPSG::4326"))
    outputs = run.outputs(run("expand_bbox", {"bbox": box, "margin": "0.5"}))
    assert outputs["bbox"] == BoundingBox((0.5, 1.5), (3.5, 4.5), "urn:ogc:def:crs:EPSG::4326")
    assert outputs["crs"] == "urn:ogc:def:crs:EPSG::4326"
    # Without a CRS: the first declared one
    box = BoundingBoxData(BoundingBox((1.0, 2.0), (3.0, 4.0)))
    assert run.outputs(run("expand_bbox", {"bbox": box}))["crs"] == "epsg:4326"


# ---------------------------------------------------------------- metalinks


def test_metalink_files_are_kept_with_the_outputs(run):
    outcome = run("files", {"count": "3"}, job_id="job-ml")
    documents = run.outputs(outcome)
    for name in ("output", "output3"):
        text = documents[name].decode()
        urls = [line.split(">")[1].split("<")[0] for line in text.splitlines()
                if "</metaurl>" in line or "</url>" in line]
        assert len(urls) == 3
        for n, url in enumerate(urls):
            assert url.startswith(OUTPUT_URL + "job-ml/")
            stored = run.storage.open(url.removeprefix(OUTPUT_URL))
            assert stored is not None and stored.content_type == "text/plain"
            with stored.open() as fh:
                assert fh.read() == f"Text file {n}\n".encode()
    # Every file under a name of its own.
    assert len({p.name for p in (run.tmp / "outputs" / "job-ml").glob("*.txt")}) == 6


# ---------------------------------------------------------------- state, errors


def test_every_execution_gets_a_fresh_copy_and_workdir(run, processes):
    first = run.outputs(run("stateful", job_id="job-a"))
    second = run.outputs(run("stateful", job_id="job-b"))
    assert first["runs"] == second["runs"] == "1"
    assert first["workdir"] != second["workdir"]
    assert first["workdir"].endswith("job-a-w")
    assert not Path(first["workdir"]).exists()  # removed when the execution ended


def test_a_process_error_reaches_the_client(run):
    outcome = run("fail", {"how": "process_error"})
    assert outcome.error is not None and not outcome.rejected
    assert outcome.error.text == ("Process error: The input value is out of range: "
                                  "try between 1 and 10.")


def test_other_exceptions_go_to_the_log_only(run, caplog):
    with caplog.at_level(logging.ERROR, logger="wpsd"):
        outcome = run("fail", {"how": "exception"}, job_id="job-x")
    assert outcome.error is not None
    assert outcome.error.text == "Process 'fail' failed; the server log of job job-x tells why"
    assert "secret internal detail 1234" in caplog.text
    assert "Traceback" in caplog.text


def test_a_literal_output_unit_the_client_did_not_ask_for_is_logged(run, caplog):
    with caplog.at_level(logging.WARNING, logger="wpsd"):
        assert run.outputs(run("say_hello", {"name": "x"})) == {"response": "Hello x"}
    assert "the unit 'unity'" in caplog.text
